//! The sensor registry's record: what a sensor measures, where it is, and its alert thresholds and plausible range.
//!
//! Registry records are JSON with snake_case field names, e.g.
//!
//! ```json
//! {"sensor_id": "tmp-0042", "kind": "temperature", "location": "tunnel 3, km 1.2",
//!  "zone": "north", "unit": "°C", "thresholds": {"warn_high": 40, "crit_high": 60},
//!  "valid_range": {"min": -40, "max": 125}, "valid_from_ms": 1764000000000}
//! ```
//!
//! `location`, `unit`, `thresholds`, `valid_range`, `valid_from_ms` and `expected_interval_ms`
//! may be omitted (or `null`): they default to `""`, the kind's default unit, no thresholds,
//! the kind's physical range, "from the record's own timestamp" and "not stated". Unknown
//! fields are ignored.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SensorId;
use super::json::parse_object;
use super::reading::{MAX_UNIT_BYTES, check_len, check_ts_ms};
use crate::error::{DecodeError, DecodeReason};

/// Longest zone name, in bytes.
pub const MAX_ZONE_BYTES: usize = 64;
/// Longest location, in bytes.
pub const MAX_LOCATION_BYTES: usize = 256;
/// Longest expected reporting interval: 30 days.
pub const MAX_EXPECTED_INTERVAL_MS: i64 = 30 * 24 * 3_600_000;

/// A registry text field: at most `max` bytes, no control characters (a
/// NUL could not be stored, and none belongs in a zone, unit or location).
fn check_text(field: &str, s: &str, max: usize) -> Result<(), DecodeError> {
    check_len(field, s, max)?;
    match s.char_indices().find(|(_, c)| c.is_control()) {
        Some((at, c)) => Err(
            DecodeError::new(field, DecodeReason::InvalidChars).with_detail(format!(
                "control character U+{:04X} at byte {at}",
                u32::from(c)
            )),
        ),
        None => Ok(()),
    }
}

/// What a sensor measures: a kind's name (`"temperature"`,
/// `"carbon_monoxide"`, or any other `[a-z][a-z0-9_]{0,47}`). Kinds are
/// data: weir knows five built-in ones (their units and physical ranges
/// below), and any other name is a kind too, defined where sensors are
/// managed (`/api/kinds`), whose defaults are written into each sensor's
/// record. The pipeline needs nothing else to accept a new kind: a record
/// of it carries its own unit and valid range.
///
/// The name is interned (a process holds each distinct name once, at most
/// [`MAX_KINDS`] of them), so a kind is `Copy` and compares as a string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorKind(&'static str);

/// The most distinct kind names one process accepts (beyond it, a record
/// of yet another kind is refused with `kind: too many kinds`).
pub const MAX_KINDS: usize = 4_096;
/// Longest kind name, in bytes.
pub const MAX_KIND_BYTES: usize = 48;

/// A built-in kind: name, default unit, physical range, id prefix.
struct BuiltIn {
    kind: SensorKind,
    unit: &'static str,
    range: (f64, f64),
    prefix: &'static str,
}

const BUILT_IN: [BuiltIn; 5] = [
    BuiltIn {
        kind: SensorKind::TEMPERATURE,
        unit: "°C",
        range: (-273.15, 1000.0),
        prefix: "tmp",
    },
    BuiltIn {
        kind: SensorKind::CARBON_MONOXIDE,
        unit: "ppm",
        range: (0.0, 10_000.0),
        prefix: "co",
    },
    BuiltIn {
        kind: SensorKind::AIRFLOW,
        unit: "m/s",
        range: (0.0, 100.0),
        prefix: "air",
    },
    BuiltIn {
        kind: SensorKind::VOLTAGE,
        unit: "V",
        range: (-1000.0, 100_000.0),
        prefix: "vlt",
    },
    BuiltIn {
        kind: SensorKind::HEARTBEAT,
        unit: "seq",
        range: (0.0, 9_007_199_254_740_992.0),
        prefix: "hb",
    },
];

/// Every kind name interned so far, beyond the built-in ones.
static INTERNED: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

impl SensorKind {
    /// Air or surface temperature.
    pub const TEMPERATURE: SensorKind = SensorKind("temperature");
    /// Carbon monoxide concentration.
    pub const CARBON_MONOXIDE: SensorKind = SensorKind("carbon_monoxide");
    /// Air speed.
    pub const AIRFLOW: SensorKind = SensorKind("airflow");
    /// Electrical potential.
    pub const VOLTAGE: SensorKind = SensorKind("voltage");
    /// A synthetic sensor of `weir heartbeat`: its values are sequence
    /// numbers, it is stored like any other, and it raises no anomaly (so no
    /// alert and no zone correlation) and no silent-sensor alert.
    pub const HEARTBEAT: SensorKind = SensorKind("heartbeat");

    /// The built-in kinds that measure something (the simulator's fleet);
    /// [`SensorKind::HEARTBEAT`] is not among them.
    pub const MEASURED: [SensorKind; 4] = [
        SensorKind::TEMPERATURE,
        SensorKind::CARBON_MONOXIDE,
        SensorKind::AIRFLOW,
        SensorKind::VOLTAGE,
    ];

    /// Every built-in kind, the heartbeat's included.
    pub const ALL: [SensorKind; 5] = [
        SensorKind::TEMPERATURE,
        SensorKind::CARBON_MONOXIDE,
        SensorKind::AIRFLOW,
        SensorKind::VOLTAGE,
        SensorKind::HEARTBEAT,
    ];

    /// The kind named `name`: `[a-z][a-z0-9_]*`, at most 48 bytes.
    pub fn new(name: &str) -> Result<SensorKind, DecodeError> {
        if let Some(b) = BUILT_IN.iter().find(|b| b.kind.0 == name) {
            return Ok(b.kind);
        }
        check_kind_name(name)?;
        let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = interned.get(name) {
            return Ok(SensorKind(known));
        }
        if interned.len() >= MAX_KINDS {
            return Err(DecodeError::new("kind", DecodeReason::OutOfRange)
                .with_detail(format!("too many kinds (at most {MAX_KINDS} per process)")));
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        interned.insert(leaked);
        Ok(SensorKind(leaked))
    }

    fn built_in(self) -> Option<&'static BuiltIn> {
        BUILT_IN.iter().find(|b| b.kind == self)
    }

    /// Whether weir defines this kind itself (its unit and physical range).
    pub fn is_built_in(self) -> bool {
        self.built_in().is_some()
    }

    /// The name: `"temperature"`, `"carbon_monoxide"`, …
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The unit a sensor of this kind reports in unless its record says
    /// otherwise (a kind that is not built in has none: `""`).
    pub fn default_unit(self) -> &'static str {
        self.built_in().map_or("", |b| b.unit)
    }

    /// Values a sensor of a built-in kind can physically report; anything
    /// outside is a fault. Temperature −273.15..=1000 °C (absolute zero up
    /// to fire), CO 0..=10000 ppm, airflow 0..=100 m/s, voltage
    /// −1000..=100000 V, heartbeat sequence numbers 0..=2⁵³. `None` for
    /// other kinds: their sensors' own valid range is the bound.
    pub fn physical_range(self) -> Option<ValidRange> {
        self.built_in()
            .map(|b| ValidRange::new(b.range.0, b.range.1))
    }

    /// The prefix of generated sensor ids: `"tmp"`, `"co"`, `"air"`,
    /// `"vlt"`, `"hb"` (as in `tmp-0042`); the name for other kinds.
    pub fn id_prefix(self) -> &'static str {
        self.built_in().map_or(self.0, |b| b.prefix)
    }

    /// Whether readings of this kind are scored (anomalies, alerts, zone
    /// correlation, silence): every kind but [`SensorKind::HEARTBEAT`].
    pub fn scored(self) -> bool {
        self != SensorKind::HEARTBEAT
    }
}

/// Checks a kind name: `[a-z][a-z0-9_]*`, 1..=48 bytes.
pub fn check_kind_name(name: &str) -> Result<(), DecodeError> {
    let bad = |detail: String| {
        Err(DecodeError::new("kind", DecodeReason::InvalidChars).with_detail(detail))
    };
    if name.is_empty() {
        return Err(DecodeError::new("kind", DecodeReason::Missing));
    }
    check_len("kind", name, MAX_KIND_BYTES)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad(format!("`{name}` must start with a lowercase letter a-z"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return bad(format!(
            "`{name}` may hold only a-z, 0-9 and `_`, not {c:?}"
        ));
    }
    Ok(())
}

impl fmt::Debug for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SensorKind({:?})", self.0)
    }
}

impl Serialize for SensorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for SensorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        SensorKind::new(&name).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An inclusive range of plausible values, `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidRange {
    /// Smallest plausible value.
    pub min: f64,
    /// Largest plausible value.
    pub max: f64,
}

impl ValidRange {
    /// Every finite value (what a kind without a physical range allows).
    pub const WIDEST: ValidRange = ValidRange {
        min: f64::MIN,
        max: f64::MAX,
    };

    /// The range `min..=max`.
    pub fn new(min: f64, max: f64) -> ValidRange {
        ValidRange { min, max }
    }

    /// Whether `min <= v <= max` (false for NaN).
    pub fn contains(&self, v: f64) -> bool {
        self.min <= v && v <= self.max
    }
}

/// Alert thresholds; each is optional. When present they are ordered
/// `crit_low <= warn_low < warn_high <= crit_high`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Warn at or above this value.
    pub warn_high: Option<f64>,
    /// Critical at or above this value.
    pub crit_high: Option<f64>,
    /// Warn at or below this value.
    pub warn_low: Option<f64>,
    /// Critical at or below this value.
    pub crit_low: Option<f64>,
}

/// One version of a sensor's registry record.
///
/// Its serde form writes every field (no skipped ones): it also crosses
/// process boundaries in timely's bincode exchange, which needs the written
/// and the read shape to be the same. Registry payloads from Kafka go through
/// [`Sensor::decode`], which fills defaults and validates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    /// Which sensor this record describes.
    pub sensor_id: SensorId,
    /// What it measures.
    pub kind: SensorKind,
    /// Free-form human description of where it is mounted.
    pub location: String,
    /// The zone it belongs to (the aggregation key for zone dashboards); 1..=64 bytes.
    pub zone: String,
    /// The unit its values are in; at most 32 bytes.
    pub unit: String,
    /// Alert thresholds.
    pub thresholds: Thresholds,
    /// Plausible values; readings outside are faults, not alerts.
    pub valid_range: ValidRange,
    /// Event time (epoch ms) from which this version applies; `None` = the record's own timestamp.
    pub valid_from_ms: Option<i64>,
    /// How often the sensor reports, if the registry says (ms, > 0): its
    /// silent-sensor limit defaults to a multiple of it (`alerts.silent_after_intervals`).
    pub expected_interval_ms: Option<i64>,
}

impl Sensor {
    /// Decodes a JSON registry record, fills defaults, then [`validate`](Self::validate)s it.
    /// Errors name the field (`"zone"`, `"thresholds.warn_high"`).
    pub fn decode(payload: &[u8]) -> Result<Sensor, DecodeError> {
        let obj = parse_object(payload)?;
        let sensor_id: String = required(&obj, "sensor_id", "sensor_id")?;
        let sensor_id = SensorId::new(sensor_id).map_err(|e| e.in_field("sensor_id"))?;
        let thresholds = match object(&obj, "thresholds")? {
            None => Thresholds::default(),
            Some(t) => Thresholds {
                warn_high: optional(t, "warn_high", "thresholds.warn_high")?,
                crit_high: optional(t, "crit_high", "thresholds.crit_high")?,
                warn_low: optional(t, "warn_low", "thresholds.warn_low")?,
                crit_low: optional(t, "crit_low", "thresholds.crit_low")?,
            },
        };
        let valid_range = match object(&obj, "valid_range")? {
            None => None,
            Some(r) => Some(ValidRange {
                min: required(r, "min", "valid_range.min")?,
                max: required(r, "max", "valid_range.max")?,
            }),
        };
        let fields = SensorFields {
            sensor_id,
            kind: required(&obj, "kind", "kind")?,
            location: optional(&obj, "location", "location")?,
            zone: required(&obj, "zone", "zone")?,
            unit: optional(&obj, "unit", "unit")?,
            thresholds: Some(thresholds),
            valid_range,
            valid_from_ms: optional(&obj, "valid_from_ms", "valid_from_ms")?,
            expected_interval_ms: optional(&obj, "expected_interval_ms", "expected_interval_ms")?,
        };
        Sensor::try_from(fields)
    }

    /// Encodes as JSON with every field written out.
    pub fn encode(&self) -> Vec<u8> {
        // Cannot fail: every key is a string and no field's Serialize impl returns an error.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks the record's invariants: `valid_range` finite with `min < max`; thresholds finite
    /// and ordered `crit_low <= warn_low < warn_high <= crit_high` (where present); `zone`
    /// 1..=64 bytes; `unit` at most 32 bytes; `valid_from_ms` in the timestamp range.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let range = self.valid_range;
        for (field, v) in [
            ("valid_range.min", range.min),
            ("valid_range.max", range.max),
        ] {
            if !v.is_finite() {
                return Err(
                    DecodeError::new(field, DecodeReason::NotFinite).with_detail(v.to_string())
                );
            }
        }
        if range.min >= range.max {
            return Err(DecodeError::new("valid_range", DecodeReason::OutOfRange)
                .with_detail(format!("min {} must be below max {}", range.min, range.max)));
        }
        self.validate_thresholds()?;
        if self.zone.is_empty() {
            return Err(DecodeError::new("zone", DecodeReason::Missing));
        }
        check_text("zone", &self.zone, MAX_ZONE_BYTES)?;
        check_text("unit", &self.unit, MAX_UNIT_BYTES)?;
        check_text("location", &self.location, MAX_LOCATION_BYTES)?;
        if let Some(ms) = self.valid_from_ms {
            check_ts_ms("valid_from_ms", ms)?;
        }
        if let Some(ms) = self.expected_interval_ms
            && !(1..=MAX_EXPECTED_INTERVAL_MS).contains(&ms)
        {
            return Err(
                DecodeError::new("expected_interval_ms", DecodeReason::OutOfRange).with_detail(
                    format!("{ms} must be in 1..={MAX_EXPECTED_INTERVAL_MS} (ms, at most 30 days)"),
                ),
            );
        }
        Ok(())
    }

    fn validate_thresholds(&self) -> Result<(), DecodeError> {
        let t = self.thresholds;
        // Ascending order; only the low pair and the high pair may be equal.
        let ordered = [
            ("thresholds.crit_low", t.crit_low),
            ("thresholds.warn_low", t.warn_low),
            ("thresholds.warn_high", t.warn_high),
            ("thresholds.crit_high", t.crit_high),
        ];
        for (field, v) in ordered {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(
                    DecodeError::new(field, DecodeReason::NotFinite).with_detail(v.to_string())
                );
            }
        }
        for (j, &(upper_field, upper)) in ordered.iter().enumerate() {
            for (i, &(lower_field, lower)) in ordered.iter().enumerate().take(j) {
                let (Some(lower), Some(upper)) = (lower, upper) else {
                    continue;
                };
                let may_equal = matches!((i, j), (0, 1) | (2, 3));
                if upper < lower || (upper == lower && !may_equal) {
                    let relation = if may_equal { "at or above" } else { "above" };
                    return Err(DecodeError::new(upper_field, DecodeReason::OutOfRange)
                        .with_detail(format!("{upper} must be {relation} {lower_field} {lower}")));
                }
            }
        }
        Ok(())
    }
}

/// A registry record as written, before defaults.
#[derive(Deserialize)]
struct SensorFields {
    sensor_id: SensorId,
    kind: SensorKind,
    #[serde(default)]
    location: Option<String>,
    zone: String,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    thresholds: Option<Thresholds>,
    #[serde(default)]
    valid_range: Option<ValidRange>,
    #[serde(default)]
    valid_from_ms: Option<i64>,
    #[serde(default)]
    expected_interval_ms: Option<i64>,
}

impl TryFrom<SensorFields> for Sensor {
    type Error = DecodeError;

    fn try_from(f: SensorFields) -> Result<Sensor, DecodeError> {
        let sensor = Sensor {
            sensor_id: f.sensor_id,
            kind: f.kind,
            location: f.location.unwrap_or_default(),
            zone: f.zone,
            unit: f.unit.unwrap_or_else(|| f.kind.default_unit().to_owned()),
            thresholds: f.thresholds.unwrap_or_default(),
            valid_range: match f.valid_range.or_else(|| f.kind.physical_range()) {
                Some(range) => range,
                None => {
                    return Err(DecodeError::new("valid_range", DecodeReason::Missing)
                        .with_detail(format!(
                            "kind `{}` is not built in: its sensors state their range",
                            f.kind
                        )));
                }
            },
            valid_from_ms: f.valid_from_ms,
            expected_interval_ms: f.expected_interval_ms,
        };
        sensor.validate()?;
        Ok(sensor)
    }
}

/// The field `key` deserialized as `T`, reported as `field`; absent or `null` is `None`.
fn optional<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<T>, DecodeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|e| {
            DecodeError::new(field, DecodeReason::WrongType).with_detail(e.to_string())
        }),
    }
}

/// Like [`optional`], but absent or `null` is `missing`.
fn required<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<T, DecodeError> {
    optional(obj, key, field)?.ok_or_else(|| DecodeError::new(field, DecodeReason::Missing))
}

/// A nested object field; absent or `null` is `None`.
fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, DecodeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(other) => Err(super::json::wrong_type(key, "an object", other)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeReason::*;

    fn ok(payload: &str) -> Sensor {
        match Sensor::decode(payload.as_bytes()) {
            Ok(s) => s,
            Err(e) => panic!("{payload} should decode: {e}"),
        }
    }

    fn err(payload: &str) -> (String, DecodeReason) {
        match Sensor::decode(payload.as_bytes()) {
            Ok(s) => panic!("should not decode, got {s:?}"),
            Err(e) => (e.field().to_owned(), e.reason()),
        }
    }

    fn is(field: &str, reason: DecodeReason) -> (String, DecodeReason) {
        (field.to_owned(), reason)
    }

    #[test]
    fn full_record_decodes() {
        let s = ok(
            r#"{"sensor_id": "tmp-0042", "kind": "temperature", "location": "tunnel 3", "zone": "north",
                "unit": "K", "thresholds": {"warn_high": 40, "crit_high": 60.5},
                "valid_range": {"min": -40, "max": 125}, "valid_from_ms": 1764000000000, "owner": "ops"}"#,
        );
        assert_eq!(s.sensor_id.as_str(), "tmp-0042");
        assert_eq!(s.kind, SensorKind::TEMPERATURE);
        assert_eq!(s.unit, "K");
        assert_eq!(
            s.thresholds,
            Thresholds {
                warn_high: Some(40.0),
                crit_high: Some(60.5),
                ..Thresholds::default()
            }
        );
        assert_eq!(s.valid_range, ValidRange::new(-40.0, 125.0));
        assert_eq!(s.valid_from_ms, Some(1_764_000_000_000));
        assert!(s.valid_range.contains(125.0) && !s.valid_range.contains(125.1));
        assert!(!s.valid_range.contains(f64::NAN));
    }

    #[test]
    fn defaults_come_from_the_kind() {
        let s = ok(r#"{"sensor_id": "co-1", "kind": "carbon_monoxide", "zone": "z"}"#);
        assert_eq!(s.unit, "ppm");
        assert_eq!(s.location, "");
        assert_eq!(s.thresholds, Thresholds::default());
        assert_eq!(
            Some(s.valid_range),
            SensorKind::CARBON_MONOXIDE.physical_range()
        );
        assert_eq!(s.valid_from_ms, None);
        // The serde form is exact (every field written), for timely's exchange.
        let via_serde: Result<Sensor, _> =
            serde_json::to_string(&s).and_then(|json| serde_json::from_str(&json));
        assert_eq!(via_serde.map_err(|e| e.to_string()), Ok(s));
    }

    #[test]
    fn invalid_records_name_the_field() {
        let base =
            |extra: &str| format!(r#"{{"sensor_id": "a", "kind": "airflow", "zone": "z"{extra}}}"#);
        assert_eq!(
            err(r#"{"kind": "airflow", "zone": "z"}"#),
            is("sensor_id", Missing)
        );
        assert_eq!(
            err(r#"{"sensor_id": "a b", "kind": "airflow", "zone": "z"}"#),
            is("sensor_id", InvalidChars)
        );
        assert_eq!(
            err(r#"{"sensor_id": "a", "zone": "z"}"#),
            is("kind", Missing)
        );
        // Any kind name is a kind; one not built in states its range.
        assert_eq!(
            err(r#"{"sensor_id": "a", "kind": "humidity", "zone": "z"}"#),
            is("valid_range", Missing)
        );
        assert_eq!(
            err(r#"{"sensor_id": "a", "kind": "Humidity!", "zone": "z"}"#),
            is("kind", WrongType)
        );
        assert_eq!(
            err(r#"{"sensor_id": "a", "kind": "airflow"}"#),
            is("zone", Missing)
        );
        assert_eq!(
            err(r#"{"sensor_id": "a", "kind": "airflow", "zone": ""}"#),
            is("zone", Missing)
        );
        assert_eq!(
            err(&base(&format!(r#", "zone": "{}""#, "z".repeat(65)))),
            is("zone", TooLong)
        );
        assert_eq!(
            err(&base(&format!(r#", "unit": "{}""#, "u".repeat(33)))),
            is("unit", TooLong)
        );
        assert_eq!(
            err(&base(r#", "thresholds": 5"#)),
            is("thresholds", WrongType)
        );
        assert_eq!(
            err(&base(r#", "thresholds": {"warn_high": "hot"}"#)),
            is("thresholds.warn_high", WrongType)
        );
        assert_eq!(
            err(&base(
                r#", "thresholds": {"warn_high": 10, "crit_high": 5}"#
            )),
            is("thresholds.crit_high", OutOfRange)
        );
        assert_eq!(
            err(&base(
                r#", "thresholds": {"warn_low": 10, "warn_high": 10}"#
            )),
            is("thresholds.warn_high", OutOfRange)
        );
        assert_eq!(
            err(&base(r#", "thresholds": {"crit_low": 3, "warn_low": 2}"#)),
            is("thresholds.warn_low", OutOfRange)
        );
        assert_eq!(
            err(&base(
                r#", "thresholds": {"crit_low": 30, "crit_high": 20}"#
            )),
            is("thresholds.crit_high", OutOfRange)
        );
        assert_eq!(
            err(&base(r#", "thresholds": {"warn_high": 1e999}"#)),
            is("warn_high", NotFinite)
        );
        assert_eq!(
            err(&base(r#", "valid_range": {"min": 5}"#)),
            is("valid_range.max", Missing)
        );
        assert_eq!(
            err(&base(r#", "valid_range": {"min": 5, "max": 5}"#)),
            is("valid_range", OutOfRange)
        );
        assert_eq!(
            err(&base(r#", "valid_from_ms": -1"#)),
            is("valid_from_ms", OutOfRange)
        );
        assert_eq!(
            err(&base(r#", "valid_from_ms": 1.5"#)),
            is("valid_from_ms", WrongType)
        );
        assert_eq!(err("[]"), is("$", WrongType));
        assert_eq!(err("{"), is("$", MalformedJson));
    }

    #[test]
    fn thresholds_may_touch_only_within_a_pair() {
        let s = ok(r#"{"sensor_id": "a", "kind": "voltage", "zone": "z",
                "thresholds": {"crit_low": 1, "warn_low": 1, "warn_high": 2, "crit_high": 2}}"#);
        assert_eq!(s.thresholds.crit_high, Some(2.0));
    }

    #[test]
    fn validate_rejects_non_finite_fields() {
        let mut s = ok(r#"{"sensor_id": "a", "kind": "voltage", "zone": "z"}"#);
        s.thresholds.crit_low = Some(f64::NAN);
        assert_eq!(
            s.validate().map_err(|e| (e.field().to_owned(), e.reason())),
            Err(is("thresholds.crit_low", NotFinite))
        );
        s.thresholds.crit_low = None;
        s.valid_range.max = f64::INFINITY;
        assert_eq!(
            s.validate().map_err(|e| (e.field().to_owned(), e.reason())),
            Err(is("valid_range.max", NotFinite))
        );
    }

    #[test]
    fn any_kind_name_is_a_kind() {
        let s = ok(
            r#"{"sensor_id": "vib-1", "kind": "vibration", "zone": "z", "unit": "mm/s",
                "valid_range": {"min": 0, "max": 50}}"#,
        );
        assert_eq!(s.kind.name(), "vibration");
        assert!(!s.kind.is_built_in() && s.kind.scored());
        assert_eq!(s.kind.physical_range(), None);
        assert_eq!(s.kind.default_unit(), "");
        assert_eq!(SensorKind::new("vibration").ok(), Some(s.kind));
        let back: Result<Sensor, String> =
            serde_json::from_slice(&s.encode()).map_err(|e| e.to_string());
        assert_eq!(back, Ok(s));
        // Not built in: the record states its range.
        assert_eq!(
            err(r#"{"sensor_id": "v", "kind": "vibration", "zone": "z"}"#),
            is("valid_range", Missing)
        );
        let long = "x".repeat(MAX_KIND_BYTES + 1);
        for bad in ["Vibration", "1x", "a-b", "a b", "", long.as_str()] {
            assert!(SensorKind::new(bad).is_err(), "{bad:?}");
            let record = format!(r#"{{"sensor_id": "v", "kind": {bad:?}, "zone": "z"}}"#);
            assert_eq!(err(&record).0, "kind", "{bad:?}");
        }
        assert!(SensorKind::new(&"x".repeat(MAX_KIND_BYTES)).is_ok());
    }

    #[test]
    fn kind_facts() {
        let names = serde_json::to_string(&SensorKind::MEASURED).map_err(|e| e.to_string());
        assert_eq!(
            names.as_deref(),
            Ok(r#"["temperature","carbon_monoxide","airflow","voltage"]"#)
        );
        for kind in SensorKind::MEASURED {
            let range = kind.physical_range();
            assert!(range.is_some_and(|r| r.min < r.max));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(Value::from(kind.name()))
            );
        }
        assert_eq!(
            SensorKind::TEMPERATURE.physical_range(),
            Some(ValidRange::new(-273.15, 1000.0))
        );
        let prefixes: Vec<&str> = SensorKind::MEASURED.iter().map(|k| k.id_prefix()).collect();
        assert_eq!(prefixes, ["tmp", "co", "air", "vlt"]);
        let units: Vec<&str> = SensorKind::MEASURED
            .iter()
            .map(|k| k.default_unit())
            .collect();
        assert_eq!(units, ["°C", "ppm", "m/s", "V"]);
    }

    prop_compose! {
        fn thresholds()(
            base in -1.0e6..1.0e6f64,
            steps in (0.0..1.0e3f64, 0.001..1.0e3f64, 0.0..1.0e3f64),
            present in any::<[bool; 4]>(),
        ) -> Thresholds {
            let crit_low = base;
            let warn_low = crit_low + steps.0;
            let warn_high = warn_low + steps.1;
            let crit_high = warn_high + steps.2;
            let keep = |i: usize, v: f64| present[i].then_some(v);
            Thresholds {
                crit_low: keep(0, crit_low),
                warn_low: keep(1, warn_low),
                warn_high: keep(2, warn_high),
                crit_high: keep(3, crit_high),
            }
        }
    }

    prop_compose! {
        fn sensor()(
            sensor_id in "[A-Za-z0-9._:-]{1,128}".prop_filter_map("valid id", |s| SensorId::new(s).ok()),
            kind in prop::sample::select(SensorKind::MEASURED.to_vec()),
            location in any::<String>(),
            zone in "[a-z0-9 -]{1,64}",
            unit in "[ -~°µΩ]{0,10}",
            thresholds in thresholds(),
            min in -1.0e9..1.0e9f64,
            width in 1.0e-3..1.0e9f64,
            valid_from_ms in prop::option::of(0..crate::model::MAX_TS_MS),
        ) -> Sensor {
            Sensor { sensor_id, kind, location, zone, unit, thresholds, valid_range: ValidRange::new(min, min + width), valid_from_ms, expected_interval_ms: None }
        }
    }

    proptest! {
        #![proptest_config(crate::pinned::config(256))]
        #[test]
        fn round_trip(s in sensor()) {
            prop_assert_eq!(s.validate(), Ok(()));
            let bytes = s.encode();
            prop_assert_eq!(Sensor::decode(&bytes), Ok(s.clone()));
            let via_serde: Result<Sensor, String> = serde_json::from_slice(&bytes).map_err(|e| e.to_string());
            prop_assert_eq!(via_serde, Ok(s));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Sensor::decode(&bytes);
        }
    }
}
