//! The `Reading` a sensor emits, its validated `SensorId`, the wire `Format` it arrived in, and the limits every format enforces.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, DecodeReason};

/// Largest payload accepted, in bytes. Larger records are rejected as
/// [`TooLarge`](DecodeReason::TooLarge) before any parsing.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Rejects payloads over [`MAX_PAYLOAD_BYTES`].
pub(crate) fn check_payload_size(payload: &[u8]) -> Result<(), DecodeError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        Err(
            DecodeError::new("$", DecodeReason::TooLarge).with_detail(format!(
                "{} bytes, at most {MAX_PAYLOAD_BYTES}",
                payload.len()
            )),
        )
    } else {
        Ok(())
    }
}

/// Longest sensor id, in bytes.
pub const MAX_SENSOR_ID_BYTES: usize = 128;
/// Longest unit string, in bytes.
pub const MAX_UNIT_BYTES: usize = 32;
/// Longest single flag, in bytes.
pub const MAX_FLAG_BYTES: usize = 64;
/// Most flags on one reading.
pub const MAX_FLAGS: usize = 16;
/// First timestamp that is out of range: 2100-01-01T00:00:00Z in epoch milliseconds.
/// Valid event times are `0..MAX_TS_MS` (1970 up to, excluding, 2100).
pub const MAX_TS_MS: i64 = 4_102_444_800_000;

/// A sensor's identity: 1 to 128 bytes of `[A-Za-z0-9._:-]`.
///
/// The charset keeps ids safe as Kafka keys, URL path segments, metric-free log fields and
/// PostgreSQL text without quoting. Deserializing validates, like [`SensorId::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SensorId(String);

impl SensorId {
    /// Validates `s` as a sensor id. Errors name the field `"sensorId"`: empty is
    /// [`Missing`](DecodeReason::Missing), over 128 bytes [`TooLong`](DecodeReason::TooLong),
    /// any character outside `[A-Za-z0-9._:-]` [`InvalidChars`](DecodeReason::InvalidChars).
    pub fn new(s: impl Into<String>) -> Result<SensorId, DecodeError> {
        let s = s.into();
        if s.is_empty() {
            return Err(DecodeError::new("sensorId", DecodeReason::Missing));
        }
        if s.len() > MAX_SENSOR_ID_BYTES {
            return Err(DecodeError::new("sensorId", DecodeReason::TooLong)
                .with_detail(format!("{} bytes, at most {MAX_SENSOR_ID_BYTES}", s.len())));
        }
        if let Some((at, c)) = s.char_indices().find(|&(_, c)| !is_id_char(c)) {
            return Err(DecodeError::new("sensorId", DecodeReason::InvalidChars)
                .with_detail(format!("{c:?} at byte {at}; allowed: A-Z a-z 0-9 . _ : -")));
        }
        Ok(SensorId(s))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SensorId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a `HashMap<SensorId, _>` or `BTreeMap<SensorId, _>` be queried with a `&str`.
impl Borrow<str> for SensorId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for SensorId {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SensorId::new(s)
    }
}

impl TryFrom<String> for SensorId {
    type Error = DecodeError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        SensorId::new(s)
    }
}

impl From<SensorId> for String {
    fn from(id: SensorId) -> String {
        id.0
    }
}

/// The encoding a reading arrived in. Serde names are those of [`Format::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Format {
    /// The original firmware's JSON: `sensorId`, `timestamp` (epoch ms), `value`, `flags`.
    #[serde(rename = "v1")]
    JsonV1,
    /// JSON with `"schemaVersion": 2`: RFC 3339 or epoch-ms `ts`, plus `unit` and `battery`.
    #[serde(rename = "v2")]
    JsonV2,
    /// Protobuf `SensorReading`, see `dataflow/proto/reading.proto`.
    #[serde(rename = "protobuf")]
    Protobuf,
}

impl Format {
    /// Every format, oldest first.
    pub const ALL: [Format; 3] = [Format::JsonV1, Format::JsonV2, Format::Protobuf];

    /// The number stored in the readings table's `schema_version` column: 1, 2, 3.
    pub fn schema_version(self) -> i16 {
        match self {
            Format::JsonV1 => 1,
            Format::JsonV2 => 2,
            Format::Protobuf => 3,
        }
    }

    /// The content-type header value this format is sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::JsonV1 | Format::JsonV2 => "application/json",
            Format::Protobuf => "application/x-protobuf",
        }
    }

    /// A short stable name: `"v1"`, `"v2"`, `"protobuf"` (also the metric label).
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonV1 => "v1",
            Format::JsonV2 => "v2",
            Format::Protobuf => "protobuf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measurement from one sensor, as decoded from any [`Format`].
///
/// Invariants after [`decode`](crate::decode): `value` is finite, `ts_ms` is in `0..MAX_TS_MS`,
/// `battery` is in `0..=100`, the string limits hold, and `unit`/`battery` are `None` for
/// [`Format::JsonV1`]. [`encode`](crate::encode) assumes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Which sensor measured it.
    pub sensor_id: SensorId,
    /// Event time, epoch milliseconds UTC.
    pub ts_ms: i64,
    /// The measurement, always finite.
    pub value: f64,
    /// Free-form markers such as `"maintenance"`; empty when the payload has none.
    pub flags: Vec<String>,
    /// Unit as sent by the sensor (v2 and protobuf only).
    pub unit: Option<String>,
    /// Battery level in percent, `0..=100` (v2 and protobuf only).
    pub battery: Option<f32>,
    /// The encoding it arrived in; [`encode`](crate::encode) writes it back in the same one.
    pub format: Format,
}

impl Reading {
    /// A reading with no flags, unit or battery.
    pub fn new(sensor_id: SensorId, ts_ms: i64, value: f64, format: Format) -> Reading {
        Reading {
            sensor_id,
            ts_ms,
            value,
            flags: Vec::new(),
            unit: None,
            battery: None,
            format,
        }
    }
}

/// Checks an event time is in `0..MAX_TS_MS`.
pub(crate) fn check_ts_ms(field: &str, ts_ms: i64) -> Result<i64, DecodeError> {
    if (0..MAX_TS_MS).contains(&ts_ms) {
        Ok(ts_ms)
    } else {
        Err(
            DecodeError::new(field, DecodeReason::OutOfRange).with_detail(format!(
                "{ts_ms} is outside 0..{MAX_TS_MS} (1970 to 2100, epoch milliseconds)"
            )),
        )
    }
}

/// Checks a measurement is finite.
pub(crate) fn check_value(field: &str, value: f64) -> Result<f64, DecodeError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(DecodeError::new(field, DecodeReason::NotFinite).with_detail(value.to_string()))
    }
}

/// Checks a battery level is finite and in `0..=100` percent.
pub(crate) fn check_battery(field: &str, battery: f64) -> Result<f32, DecodeError> {
    if !battery.is_finite() {
        return Err(
            DecodeError::new(field, DecodeReason::NotFinite).with_detail(battery.to_string())
        );
    }
    if !(0.0..=100.0).contains(&battery) {
        return Err(DecodeError::new(field, DecodeReason::OutOfRange)
            .with_detail(format!("{battery} is outside 0..=100 percent")));
    }
    // In range, so the cast only rounds to the nearest f32.
    Ok(battery as f32)
}

/// Checks a string's length in bytes against `max`.
pub(crate) fn check_len(field: &str, s: &str, max: usize) -> Result<(), DecodeError> {
    if s.len() > max {
        Err(DecodeError::new(field, DecodeReason::TooLong)
            .with_detail(format!("{} bytes, at most {max}", s.len())))
    } else {
        Ok(())
    }
}

/// Checks the number of flags.
pub(crate) fn check_flag_count(field: &str, n: usize) -> Result<(), DecodeError> {
    if n > MAX_FLAGS {
        Err(DecodeError::new(field, DecodeReason::TooMany)
            .with_detail(format!("{n} flags, at most {MAX_FLAGS}")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<SensorId, DecodeError>) -> (String, DecodeReason) {
        match r {
            Ok(id) => panic!("expected an error, got {id}"),
            Err(e) => (e.field().to_owned(), e.reason()),
        }
    }

    #[test]
    fn sensor_id_accepts_the_charset() {
        let id = SensorId::new("Tv-0042.a_b:c").map_err(|e| e.to_string());
        assert_eq!(id.as_ref().map(SensorId::as_str), Ok("Tv-0042.a_b:c"));
        let max = "x".repeat(MAX_SENSOR_ID_BYTES);
        assert!(SensorId::new(max).is_ok());
    }

    #[test]
    fn sensor_id_rejects_empty_long_and_bad_chars() {
        let missing = ("sensorId".to_owned(), DecodeReason::Missing);
        let too_long = ("sensorId".to_owned(), DecodeReason::TooLong);
        let bad = ("sensorId".to_owned(), DecodeReason::InvalidChars);
        assert_eq!(reason(SensorId::new("")), missing);
        assert_eq!(reason(SensorId::new("x".repeat(129))), too_long);
        assert_eq!(reason(SensorId::new("tv 42")), bad);
        assert_eq!(reason(SensorId::new("tv/42")), bad);
        assert_eq!(reason(SensorId::new("tv-é")), bad);
    }

    #[test]
    fn sensor_id_serde_is_transparent_and_validated() {
        let id = SensorId::new("tv-0042").map_err(|e| e.to_string());
        let json = id
            .as_ref()
            .map(|id| serde_json::to_string(id).map_err(|e| e.to_string()));
        assert_eq!(json, Ok(Ok("\"tv-0042\"".to_owned())));
        assert!(serde_json::from_str::<SensorId>("\"tv 42\"").is_err());
        assert!(serde_json::from_str::<SensorId>("\"\"").is_err());
    }

    #[test]
    fn format_facts() {
        let versions: Vec<i16> = Format::ALL.iter().map(|f| f.schema_version()).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(Format::JsonV2.content_type(), "application/json");
        assert_eq!(Format::Protobuf.content_type(), "application/x-protobuf");
        assert_eq!(Format::Protobuf.to_string(), "protobuf");
        let names = serde_json::to_string(&Format::ALL).map_err(|e| e.to_string());
        assert_eq!(names.as_deref(), Ok(r#"["v1","v2","protobuf"]"#));
    }
}
