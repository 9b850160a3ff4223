//! Sensor registry management through the API. A change is a record on
//! the registry topic, as any producer's would be: the dataflow applies it
//! from its `valid_from_ms` (as-of), the pipeline mirrors the latest into
//! `sensors` and keeps every version in `sensor_versions`.
//!
//! ```text
//!  PUT /api/sensors/{id} ────┐ validate (as the dataflow's decoder)
//!  DELETE /api/sensors/{id} ─┴─► sensor-registry (Kafka) ─► dataflow ─► sensors, sensor_versions
//!                              + audit_log (sensor.put, sensor.delete)
//!  GET /api/sensors/{id}/versions ◄── sensor_versions
//! ```

pub mod csv;

use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use weir_dataflow::Sensor;

use crate::alerts::{
    ControlProducer, audit, bad_body, json_body, only_fields, producer, scope_param,
};
use crate::auth::Principal;
use crate::db::{Db, query_error};
use crate::error::ApiError;
use crate::hub::{Hub, now_ms};

/// The fields of a sensor in a `PUT` body (every one the registry record has).
pub const FIELDS: [&str; 9] = [
    "sensor_id",
    "kind",
    "location",
    "zone",
    "unit",
    "thresholds",
    "valid_range",
    "valid_from_ms",
    "expected_interval_ms",
];

/// The zone sensor `id` is in now, if weir knows it: the registry mirror
/// (where a removed sensor is unknown), else the hot tier (a sensor with
/// readings but no registry record).
async fn current_zone(hub: &Hub, db: &Db, id: &str) -> Result<Option<String>, ApiError> {
    let client = db.client().await?;
    let mirrored = client
        .query_opt(
            "SELECT zone, removed FROM sensors WHERE sensor_id = $1",
            &[&id],
        )
        .await
        .map_err(query_error)?;
    Ok(match mirrored {
        Some(row) => (!row.get::<_, bool>(1)).then(|| row.get(0)),
        None => hub.sensor(id).map(|view| view.zone),
    })
}

/// The body as the registry record it becomes: `sensor_id` from the path,
/// `valid_from_ms` now unless given, then the dataflow's own decoding and
/// checks (defaults from the kind, ordered thresholds, a valid range).
pub fn sensor_from_body(id: &str, body: &[u8], now_ms: i64) -> Result<Sensor, ApiError> {
    let mut map: Map<String, Value> = json_body(body)?;
    only_fields(&map, &FIELDS)?;
    match map.get("sensor_id") {
        None => {}
        Some(Value::String(s)) if s == id => {}
        Some(other) => {
            return Err(bad_body(
                "sensor_id",
                format!("{other} is not the path's `{id}`"),
            ));
        }
    }
    for (field, allowed) in [
        (
            "thresholds",
            &["warn_high", "crit_high", "warn_low", "crit_low"][..],
        ),
        ("valid_range", &["min", "max"][..]),
    ] {
        if let Some(Value::Object(inner)) = map.get(field)
            && let Some(unknown) = inner.keys().find(|k| !allowed.contains(&k.as_str()))
        {
            return Err(bad_body(&format!("{field}.{unknown}"), "unknown field"));
        }
    }
    map.insert("sensor_id".into(), Value::String(id.to_string()));
    if map.get("valid_from_ms").is_none_or(Value::is_null) {
        map.insert("valid_from_ms".into(), json!(now_ms));
    }
    let encoded = Value::Object(map).to_string();
    Sensor::decode(encoded.as_bytes()).map_err(|e| bad_body(e.field(), e.to_string()))
}

/// `PUT /api/sensors/{id}` (admin): creates or changes a sensor from
/// `valid_from_ms` on. A zone-scoped token may only place a sensor in, and
/// change a sensor of, its own zones.
pub async fn put(
    hub: &Hub,
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    id: &str,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let now = now_ms();
    let sensor = sensor_from_body(id, body, now)?;
    if !who.sees(&sensor.zone) {
        return Err(who.outside(&sensor.zone));
    }
    if let Some(zone) = current_zone(hub, db, id).await?
        && !who.sees(&zone)
    {
        return Err(ApiError::not_found(format!("no sensor `{id}`")));
    }
    let control = producer(control)?;
    let payload = sensor.encode();
    control.send_registry(id, Some(&payload), now).await?;
    let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    audit(db, who, "sensor.put", id, &doc).await;
    Ok((
        StatusCode::ACCEPTED,
        json!({"accepted": true, "sensor": doc}),
    ))
}

/// `DELETE /api/sensors/{id}` (admin): removes a sensor from now on (a
/// tombstone on the registry topic); its stored readings stay.
pub async fn delete(
    hub: &Hub,
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    id: &str,
) -> Result<(StatusCode, Value), ApiError> {
    match current_zone(hub, db, id).await? {
        Some(zone) if who.sees(&zone) => {}
        _ => return Err(ApiError::not_found(format!("no sensor `{id}`"))),
    }
    let control = producer(control)?;
    let now = now_ms();
    control.send_registry(id, None, now).await?;
    audit(db, who, "sensor.delete", id, &json!({"valid_from_ms": now})).await;
    Ok((
        StatusCode::ACCEPTED,
        json!({"accepted": true, "sensor_id": id, "valid_from_ms": now}),
    ))
}

/// `GET /api/sensors/{id}/versions`: every version the pipeline has read,
/// by `valid_from_ms`, then record time. A zone-scoped token sees the
/// versions in its zones (and removals), and 404 when there are none.
pub async fn versions(db: &Db, who: &Principal, id: &str) -> Result<Value, ApiError> {
    let client = db.client().await?;
    let versions = versions_of(&client, id, scope_param(who).as_deref())
        .await
        .map_err(query_error)?;
    if versions.iter().all(|v| v["removed"] == true) {
        return Err(ApiError::not_found(format!("no versions of sensor `{id}`")));
    }
    Ok(Value::Array(versions))
}

/// The stored versions of `id` (in `zones` only, removals included, when
/// given), oldest `valid_from` first: what the API and `weir sensors get` show.
pub async fn versions_of(
    client: &tokio_postgres::Client,
    id: &str,
    zones: Option<&[String]>,
) -> Result<Vec<Value>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT (extract(epoch FROM valid_from) * 1000)::bigint, \
                    (extract(epoch FROM record_time) * 1000)::bigint, \
                    removed, doc::text, (extract(epoch FROM stored_at) * 1000)::bigint \
             FROM sensor_versions WHERE sensor_id = $1 \
               AND ($2::text[] IS NULL OR removed OR zone = ANY($2)) \
             ORDER BY valid_from, record_time",
            &[&id, &zones],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let doc: Option<String> = r.get(3);
            json!({
                "valid_from_ms": r.get::<_, i64>(0),
                "record_ms": r.get::<_, i64>(1),
                "removed": r.get::<_, bool>(2),
                "sensor": doc.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
                "stored_ms": r.get::<_, i64>(4),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_records_or_name_the_field() {
        let ok = sensor_from_body(
            "tmp-1",
            br#"{"kind": "temperature", "zone": "z1", "thresholds": {"warn_high": 40, "crit_high": 60}}"#,
            1_000,
        );
        let sensor = ok.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(sensor.sensor_id.as_str(), "tmp-1");
        assert_eq!(sensor.valid_from_ms, Some(1_000));
        assert_eq!(sensor.unit, "°C");
        let field = |body: &[u8]| {
            sensor_from_body("tmp-1", body, 1_000)
                .err()
                .map(|e| e.detail)
                .unwrap_or_default()
        };
        assert!(field(br#"{"kind": "temperature", "zone": "z", "thresholds": {"warn_high": 60, "crit_high": 40}}"#).contains("thresholds"));
        assert!(
            field(br#"{"kind": "temperature", "zone": "z", "colour": 1}"#).contains("`colour`")
        );
        assert!(
            field(br#"{"kind": "temperature", "zone": "z", "sensor_id": "other"}"#)
                .contains("sensor_id")
        );
        assert!(field(br#"{"kind": "plasma", "zone": "z"}"#).contains("kind"));
        assert!(field(br#"{"kind": "temperature"}"#).contains("zone"));
        assert!(field(b"[1]").contains("body"));
        assert!(field(br#"{"kind": "voltage", "zone": "z", "valid_range": {"min": 0, "max": 1, "mid": 0}}"#).contains("valid_range.mid"));
    }
}
