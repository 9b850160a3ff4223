//! Sensor kinds as data. A kind is a name with a unit, a valid range,
//! default thresholds and, optionally, an expected reporting interval. Five
//! are built in (their physical ranges are checked by the pipeline itself);
//! any other is defined in `sensor_kinds`, through `PUT /api/kinds/{name}`
//! or `[[sensor_kinds]]` in the configuration.
//!
//! A kind is a template: when a sensor is put, the fields its body leaves
//! out are filled from its kind, and the record on the registry topic
//! carries them. So the pipeline needs no catalogue and no restart to
//! accept a new kind, and changing a kind's defaults later changes no
//! existing sensor (put the sensor again to take them).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use weir_dataflow::{Sensor, SensorKind, Thresholds, ValidRange};

use crate::alerts::{bad_body, json_body, only_fields};
use crate::error::ApiError;

/// The fields of a kind in a `PUT /api/kinds/{name}` body.
pub const FIELDS: [&str; 5] = [
    "unit",
    "valid_range",
    "thresholds",
    "expected_interval_ms",
    "description",
];

/// Longest description of a kind, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// One kind, as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Kind {
    /// Its name.
    pub kind: SensorKind,
    /// Default unit of its sensors.
    pub unit: String,
    /// Default valid range (for a built-in kind, its physical range).
    pub valid_range: ValidRange,
    /// Default thresholds.
    pub thresholds: Thresholds,
    /// Default expected reporting interval (ms).
    pub expected_interval_ms: Option<i64>,
    /// Free text.
    pub description: String,
    /// Defined by weir (read-only).
    pub built_in: bool,
}

impl Kind {
    /// The built-in kinds.
    pub fn built_in() -> Vec<Kind> {
        SensorKind::ALL
            .iter()
            .map(|&kind| Kind {
                kind,
                unit: kind.default_unit().to_owned(),
                valid_range: kind.physical_range().unwrap_or(ValidRange::WIDEST),
                thresholds: Thresholds::default(),
                expected_interval_ms: None,
                description: "built in".to_owned(),
                built_in: true,
            })
            .collect()
    }

    /// The kind as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.name(),
            "unit": self.unit,
            "valid_range": self.valid_range,
            "thresholds": self.thresholds,
            "expected_interval_ms": self.expected_interval_ms,
            "description": self.description,
            "built_in": self.built_in,
        })
    }

    /// Fills the fields a sensor body leaves out (absent or `null`) from
    /// this kind.
    pub fn fill(&self, body: &mut Map<String, Value>) {
        let defaults = [
            ("unit", json!(self.unit)),
            ("valid_range", json!(self.valid_range)),
            ("thresholds", json!(self.thresholds)),
            ("expected_interval_ms", json!(self.expected_interval_ms)),
        ];
        for (field, value) in defaults {
            if body.get(field).is_none_or(Value::is_null) {
                body.insert(field.to_owned(), value);
            }
        }
    }
}

/// Every kind a sensor may name: the built-in ones and those stored.
#[derive(Clone, Debug, Default)]
pub struct Kinds(BTreeMap<String, Kind>);

impl Kinds {
    /// The built-in kinds only.
    pub fn built_in() -> Kinds {
        Kinds(
            Kind::built_in()
                .into_iter()
                .map(|k| (k.kind.name().to_owned(), k))
                .collect(),
        )
    }

    /// The built-in kinds and those in `sensor_kinds`.
    pub async fn load(client: &tokio_postgres::Client) -> Result<Kinds, tokio_postgres::Error> {
        let mut kinds = Kinds::built_in();
        let rows = client
            .query(
                "SELECT name, unit, valid_min, valid_max, thresholds::text, \
                        expected_interval_ms, description FROM sensor_kinds ORDER BY name",
                &[],
            )
            .await?;
        for row in rows {
            let name: String = row.get(0);
            let Ok(kind) = SensorKind::new(&name) else {
                tracing::warn!(kind = %name, "sensor_kinds holds a bad kind name; ignored");
                continue;
            };
            let thresholds: String = row.get(4);
            kinds.0.insert(
                name,
                Kind {
                    kind,
                    unit: row.get(1),
                    valid_range: ValidRange::new(row.get(2), row.get(3)),
                    thresholds: serde_json::from_str(&thresholds).unwrap_or_default(),
                    expected_interval_ms: row.get(5),
                    description: row.get(6),
                    built_in: false,
                },
            );
        }
        Ok(kinds)
    }

    /// The kind named `name`.
    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.0.get(name)
    }

    /// Every kind, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Kind> {
        self.0.values()
    }

    /// Adds or replaces a kind (the configuration's, before a check).
    pub fn insert(&mut self, kind: Kind) {
        self.0.insert(kind.kind.name().to_owned(), kind);
    }

    /// The kind a sensor body names, or a 400 naming `kind`.
    pub fn of_body(&self, body: &Map<String, Value>) -> Result<&Kind, ApiError> {
        match body.get("kind") {
            Some(Value::String(name)) => self.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
                bad_body(
                    "kind",
                    format!(
                        "unknown kind `{name}` (known: {}); define it with PUT /api/kinds/{name}",
                        known.join(", ")
                    ),
                )
            }),
            None | Some(Value::Null) => Err(bad_body("kind", "missing")),
            Some(other) => Err(bad_body("kind", format!("{other} is not a string"))),
        }
    }
}

/// A `PUT /api/kinds/{name}` body as a kind, checked as a sensor record of
/// it would be (ordered thresholds, a finite valid range, the unit's length).
pub fn kind_from_body(name: &str, body: &[u8]) -> Result<Kind, ApiError> {
    let kind = SensorKind::new(name).map_err(|e| bad_body("kind", e.to_string()))?;
    if kind.is_built_in() {
        return Err(ApiError::conflict(
            "built_in",
            format!(
                "`{name}` is a built-in kind; its unit and range are fixed (sensors may override them)"
            ),
        ));
    }
    let map = json_body(body)?;
    only_fields(&map, &FIELDS)?;
    super::only_nested(&map)?;
    let description = match map.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(bad_body(
                    "description",
                    format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
                ));
            }
            if s.chars().any(char::is_control) {
                return Err(bad_body("description", "holds a control character"));
            }
            s.clone()
        }
        Some(other) => return Err(bad_body("description", format!("{other} is not a string"))),
    };
    if map.get("valid_range").is_none_or(Value::is_null) {
        return Err(bad_body(
            "valid_range",
            "missing: a kind states the range its sensors can report",
        ));
    }
    // A sensor record of the kind, through the dataflow's own decoder.
    let mut record = map;
    record.remove("description");
    record.insert("sensor_id".into(), json!("kind-check"));
    record.insert("kind".into(), json!(name));
    record.insert("zone".into(), json!("kind-check"));
    if record.get("unit").is_none_or(Value::is_null) {
        record.insert("unit".into(), json!(""));
    }
    let encoded = Value::Object(record).to_string();
    let sensor =
        Sensor::decode(encoded.as_bytes()).map_err(|e| bad_body(e.field(), e.to_string()))?;
    Ok(Kind {
        kind,
        unit: sensor.unit,
        valid_range: sensor.valid_range,
        thresholds: sensor.thresholds,
        expected_interval_ms: sensor.expected_interval_ms,
        description,
        built_in: false,
    })
}

/// Writes a kind to `sensor_kinds` (insert or replace); true when new.
pub async fn store(
    client: &tokio_postgres::Client,
    kind: &Kind,
    by: &str,
) -> Result<bool, tokio_postgres::Error> {
    let thresholds = json!(kind.thresholds).to_string();
    let row = client
        .query_one(
            "INSERT INTO sensor_kinds (name, unit, valid_min, valid_max, thresholds, \
                                       expected_interval_ms, description, updated_by) \
             VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8) \
             ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, \
                valid_min = EXCLUDED.valid_min, valid_max = EXCLUDED.valid_max, \
                thresholds = EXCLUDED.thresholds, \
                expected_interval_ms = EXCLUDED.expected_interval_ms, \
                description = EXCLUDED.description, updated_by = EXCLUDED.updated_by, \
                updated_at = now() \
             RETURNING (xmax = 0)",
            &[
                &kind.kind.name(),
                &kind.unit,
                &kind.valid_range.min,
                &kind.valid_range.max,
                &thresholds,
                &kind.expected_interval_ms,
                &kind.description,
                &by,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Sensors (current, not removed) of kind `name`, at most `limit`.
pub async fn sensors_of(
    client: &tokio_postgres::Client,
    name: &str,
    limit: i64,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT sensor_id FROM sensors WHERE kind = $1 AND NOT removed \
             ORDER BY sensor_id LIMIT $2",
            &[&name, &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind with a unit and a range.
    fn example(name: &str, unit: &str, min: f64, max: f64) -> Result<Kind, ApiError> {
        let body = json!({"unit": unit, "valid_range": {"min": min, "max": max}}).to_string();
        kind_from_body(name, body.as_bytes())
    }

    #[test]
    fn bodies_become_kinds_or_name_the_field() {
        let kind = kind_from_body(
            "vibration",
            br#"{"unit": "mm/s", "valid_range": {"min": 0, "max": 50},
                 "thresholds": {"warn_high": 7.1, "crit_high": 11.2}, "description": "ISO 10816"}"#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(kind.kind.name(), "vibration");
        assert_eq!(kind.valid_range, ValidRange::new(0.0, 50.0));
        assert_eq!(kind.thresholds.crit_high, Some(11.2));
        let detail = |name: &str, body: &[u8]| {
            kind_from_body(name, body)
                .err()
                .map(|e| (e.status.as_u16(), e.detail))
                .unwrap_or_default()
        };
        let range = br#"{"valid_range": {"min": 0, "max": 1}}"#;
        assert!(detail("Vib", range).1.contains("`kind`"));
        assert_eq!(detail("temperature", range).0, 409);
        assert!(
            detail("vibration", br#"{"unit": "mm/s"}"#)
                .1
                .contains("`valid_range`")
        );
        assert!(
            detail("vibration", br#"{"valid_range": {"min": 5, "max": 1}}"#)
                .1
                .contains("`valid_range`")
        );
        assert!(
            detail(
                "vibration",
                br#"{"valid_range": {"min": 0, "max": 9}, "thresholds": {"warn_high": 5, "crit_high": 2}}"#
            )
            .1
            .contains("thresholds.crit_high")
        );
        assert!(
            detail(
                "vibration",
                br#"{"valid_range": {"min": 0, "max": 9}, "zone": "z"}"#
            )
            .1
            .contains("`zone`")
        );
        assert!(
            detail(
                "vibration",
                br#"{"valid_range": {"min": 0, "max": 9}, "description": "a\u0000"}"#
            )
            .1
            .contains("description")
        );
    }

    #[test]
    fn a_kind_fills_what_a_sensor_leaves_out() {
        let mut kinds = Kinds::built_in();
        let vibration = example("vibration", "mm/s", 0.0, 50.0).unwrap_or_else(|e| panic!("{e:?}"));
        kinds.insert(vibration);
        let mut body: Map<String, Value> =
            serde_json::from_str(r#"{"kind": "vibration", "zone": "z", "unit": "in/s"}"#)
                .unwrap_or_default();
        let kind = kinds
            .of_body(&body)
            .cloned()
            .unwrap_or_else(|e| panic!("{e:?}"));
        kind.fill(&mut body);
        assert_eq!(body["unit"], "in/s", "the sensor's own unit stays");
        assert_eq!(body["valid_range"], json!({"min": 0.0, "max": 50.0}));
        let unknown: Map<String, Value> =
            serde_json::from_str(r#"{"kind": "plasma", "zone": "z"}"#).unwrap_or_default();
        let err = kinds
            .of_body(&unknown)
            .err()
            .map(|e| e.detail)
            .unwrap_or_default();
        assert!(
            err.contains("unknown kind `plasma`") && err.contains("vibration"),
            "{err}"
        );
    }
}
