//! Sensor registry management through the API. A change is a record on
//! the registry topic, as any producer's would be: the dataflow applies it
//! from its `valid_from_ms` (as-of), the pipeline mirrors the latest into
//! `sensors` and keeps every version in `sensor_versions`.
//!
//! ```text
//!  PUT /api/sensors/{id} ────┐ validate (as the dataflow's decoder)
//!  DELETE /api/sensors/{id} ─┴─► sensor-registry (Kafka) ─► dataflow ─► sensors, sensor_versions
//!                              + audit_log (sensor.put, sensor.delete)
//!  POST /api/sensors/import (CSV) ┘ (every row checked first)
//!  GET /api/sensors/{id}/versions ◄── sensor_versions
//!  GET/PUT/DELETE /api/kinds/{name} ◄─► sensor_kinds (defaults for new sensors)
//! ```

pub mod csv;
pub mod kinds;

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
use kinds::{Kinds, kind_from_body};

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
/// `valid_from_ms` now unless given, the fields it leaves out from its kind
/// (which must be one of `kinds`), then the dataflow's own decoding and
/// checks (ordered thresholds, a valid range).
pub fn sensor_from_body(
    id: &str,
    body: &[u8],
    now_ms: i64,
    kinds: &Kinds,
) -> Result<Sensor, ApiError> {
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
    only_nested(&map)?;
    kinds.of_body(&map)?.fill(&mut map);
    map.insert("sensor_id".into(), Value::String(id.to_string()));
    if map.get("valid_from_ms").is_none_or(Value::is_null) {
        map.insert("valid_from_ms".into(), json!(now_ms));
    }
    let encoded = Value::Object(map).to_string();
    Sensor::decode(encoded.as_bytes()).map_err(|e| bad_body(e.field(), e.to_string()))
}

/// Refuses unknown fields inside `thresholds` and `valid_range`.
pub(crate) fn only_nested(map: &Map<String, Value>) -> Result<(), ApiError> {
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
    Ok(())
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
    let kinds = load_kinds(db).await?;
    let sensor = sensor_from_body(id, body, now, &kinds)?;
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

/// The kinds a sensor may name now.
async fn load_kinds(db: &Db) -> Result<Kinds, ApiError> {
    let client = db.client().await?;
    Kinds::load(&client).await.map_err(query_error)
}

/// `POST /api/sensors/import[?partial=true]` (admin), a CSV body: every
/// row is checked first (as a `PUT` body, and in the token's zones); with
/// a bad row nothing is written (400 naming each), unless `partial`, which
/// writes the good ones and names the bad.
pub async fn import(
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    partial: bool,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|e| bad_body("body", format!("not UTF-8 text: {e}")))?;
    let now = now_ms();
    let kinds = load_kinds(db).await?;
    let (good, mut bad) = csv::sensors(text, now, &kinds)
        .map_err(|e| bad_body("body", format!("line {}: {}", e.line, e.reason)))?;
    let (good, outside): (Vec<csv::Row>, Vec<csv::Row>) =
        good.into_iter().partition(|(_, s)| who.sees(&s.zone));
    bad.extend(outside.into_iter().map(|(line, s)| csv::RowError {
        line,
        sensor_id: Some(s.sensor_id.as_str().to_owned()),
        reason: format!("zone `{}` is outside the token's zones", s.zone),
    }));
    bad.sort_by_key(|e| e.line);
    if !bad.is_empty() && !partial {
        return Ok((
            StatusCode::BAD_REQUEST,
            json!({
                "error": "bad_rows",
                "detail": format!("{} of {} rows are bad; nothing written (?partial=true writes the good ones)", bad.len(), bad.len() + good.len()),
                "imported": 0,
                "errors": bad,
            }),
        ));
    }
    let control = producer(control)?;
    let mut imported = Vec::new();
    for (_, sensor) in &good {
        let id = sensor.sensor_id.as_str();
        let payload = sensor.encode();
        control.send_registry(id, Some(&payload), now).await?;
        let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        audit(db, who, "sensor.put", id, &doc).await;
        imported.push(id.to_owned());
    }
    Ok((
        StatusCode::ACCEPTED,
        json!({"imported": imported.len(), "sensors": imported, "errors": bad}),
    ))
}

/// `GET /api/kinds`: every kind, built-in ones first by name.
pub async fn list_kinds(db: &Db) -> Result<Value, ApiError> {
    let kinds = load_kinds(db).await?;
    let (mut built, mut other): (Vec<_>, Vec<_>) = kinds.iter().partition(|k| k.built_in);
    built.append(&mut other);
    Ok(Value::Array(built.iter().map(|k| k.to_json()).collect()))
}

/// `GET /api/kinds/{name}`.
pub async fn get_kind(db: &Db, name: &str) -> Result<Value, ApiError> {
    let kinds = load_kinds(db).await?;
    kinds
        .get(name)
        .map(kinds::Kind::to_json)
        .ok_or_else(|| ApiError::not_found(format!("no kind `{name}`")))
}

/// `PUT /api/kinds/{name}` (admin): defines or changes a kind (201 when
/// new). Sensors put afterwards take its defaults; existing ones keep theirs.
pub async fn put_kind(
    db: &Db,
    who: &Principal,
    name: &str,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let kind = kind_from_body(name, body)?;
    let client = db.client().await?;
    let created = kinds::store(&client, &kind, &who.name)
        .await
        .map_err(query_error)?;
    let doc = kind.to_json();
    audit(db, who, "kind.put", name, &doc).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, doc))
}

/// `DELETE /api/kinds/{name}` (admin): removes a kind no current sensor has
/// (409 naming some that do, or for a built-in kind).
pub async fn delete_kind(db: &Db, who: &Principal, name: &str) -> Result<Value, ApiError> {
    if weir_dataflow::SensorKind::new(name).is_ok_and(|k| k.is_built_in()) {
        return Err(ApiError::conflict(
            "built_in",
            format!("`{name}` is a built-in kind"),
        ));
    }
    let client = db.client().await?;
    let users = kinds::sensors_of(&client, name, 5)
        .await
        .map_err(query_error)?;
    if !users.is_empty() {
        return Err(ApiError::conflict(
            "in_use",
            format!(
                "kind `{name}` is the kind of sensor(s) {}: change or remove them first",
                users.join(", ")
            ),
        ));
    }
    let gone = client
        .execute("DELETE FROM sensor_kinds WHERE name = $1", &[&name])
        .await
        .map_err(query_error)?;
    if gone == 0 {
        return Err(ApiError::not_found(format!("no kind `{name}`")));
    }
    audit(db, who, "kind.delete", name, &json!({})).await;
    Ok(json!({"deleted": name}))
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
            &Kinds::built_in(),
        );
        let sensor = ok.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(sensor.sensor_id.as_str(), "tmp-1");
        assert_eq!(sensor.valid_from_ms, Some(1_000));
        assert_eq!(sensor.unit, "°C");
        let field = |body: &[u8]| {
            sensor_from_body("tmp-1", body, 1_000, &Kinds::built_in())
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
