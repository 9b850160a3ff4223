//! The alert API: alerts and their lifecycle from PostgreSQL; acks and
//! silences written to the `alert-control` topic, which the dataflow reads
//! (so a replay makes the same decisions), and to `silences` for listing.
//!
//! ```text
//!  POST /api/alerts/{id}/ack ─┐
//!  POST /api/silences ────────┼─► alert-control (Kafka) ─► dataflow (applies reference_delay_ms after)
//!  DELETE /api/silences/{id} ─┘   + silences table
//!  GET /api/alerts, /api/alerts/{id}, /api/silences ◄── PostgreSQL
//! ```

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use warp::http::StatusCode;
use weir_connectors::kafka::KafkaConfig;
use weir_dataflow::records::{Ack, AlertKind, Control, Silence};

use crate::auth::Principal;
use crate::db::{Db, query_error};
use crate::error::ApiError;
use crate::hub::now_ms;

/// Writes control records (acks, silences) and registry records (sensor
/// changes made through the API).
pub struct ControlProducer {
    producer: FutureProducer,
    topic: String,
    registry_topic: String,
}

impl ControlProducer {
    /// A producer for `kafka.control_topic`.
    pub fn new(kafka: &KafkaConfig) -> Result<ControlProducer, String> {
        let producer = kafka
            .producer_config()
            // One record per request, acknowledged before the answer.
            .set("linger.ms", "0")
            .create()
            .map_err(|e| format!("control producer: {e}"))?;
        Ok(ControlProducer {
            producer,
            topic: kafka.control_topic.clone(),
            registry_topic: kafka.registry_topic.clone(),
        })
    }

    /// Publishes a registry record for sensor `id` (`None`: a tombstone),
    /// with record time `ts_ms`; acknowledged before it returns.
    pub async fn send_registry(
        &self,
        id: &str,
        payload: Option<&[u8]>,
        ts_ms: i64,
    ) -> Result<(), ApiError> {
        let mut record = FutureRecord::<str, [u8]>::to(&self.registry_topic)
            .key(id)
            .timestamp(ts_ms);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(|(e, _)| ApiError::unavailable(format!("kafka: {e}")))
    }

    async fn send(&self, key: &str, control: &Control) -> Result<(), ApiError> {
        let payload = serde_json::to_string(control)
            .map_err(|e| ApiError::unavailable(format!("encoding: {e}")))?;
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| ApiError::unavailable(format!("kafka: {e}")))
    }
}

/// The control producer, or the 503 of a server that has none.
pub(crate) fn producer(control: Option<&ControlProducer>) -> Result<&ControlProducer, ApiError> {
    control.ok_or_else(|| ApiError::unavailable("no Kafka producer"))
}

pub(crate) fn bad_body(field: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        error: "bad_body",
        detail: format!("`{field}`: {detail}"),
    }
}

pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_body("body", "expected a JSON object")),
        Err(e) => Err(bad_body("body", format!("not JSON: {e}"))),
    }
}

/// The longest text field of a request body (author, comment, matchers).
pub const MAX_TEXT_CHARS: usize = 1_024;

fn text_field(
    map: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) if required => Err(bad_body(name, "required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() && required => {
            Err(bad_body(name, "must not be empty"))
        }
        Some(Value::String(s)) if s.chars().count() > MAX_TEXT_CHARS => Err(bad_body(
            name,
            format!("longer than {MAX_TEXT_CHARS} characters"),
        )),
        Some(Value::String(s)) if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            Err(bad_body(
                name,
                "contains a control character (NUL and the like cannot be stored)",
            ))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_body(name, "expected a string")),
    }
}

/// A time field: epoch ms, or RFC 3339 text.
fn time_field(map: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| bad_body(name, "expected integer epoch milliseconds"))
            .and_then(|t| in_range(name, t))
            .map(Some),
        Some(Value::String(s)) => {
            let parsed =
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| bad_body(name, format!("`{s}` is not RFC 3339: {e}")))?;
            let ms = i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
            in_range(name, ms).map(Some)
        }
        Some(_) => Err(bad_body(
            name,
            "expected epoch milliseconds or RFC 3339 text",
        )),
    }
}

/// `t` if it lies from year 1 to year 9999 (what PostgreSQL and the document accept).
fn in_range(name: &str, t: i64) -> Result<i64, ApiError> {
    crate::params::time_in_range(name, t).map_err(|e| bad_body(name, e.detail))
}

/// The zones of a scoped principal, as a query parameter (`None`: all).
pub fn scope_param(who: &Principal) -> Option<Vec<String>> {
    who.zones.as_ref().map(|z| z.iter().cloned().collect())
}

/// `GET /api/alerts?state=&zone=&limit=` (only the zones `who` sees).
pub async fn list(
    db: &Db,
    who: &Principal,
    params: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    crate::params::only(&params, &["state", "zone", "limit"])?;
    let state = params.get("state").cloned();
    if let Some(s) = &state
        && s != "open"
        && s != "resolved"
    {
        return Err(ApiError::bad_parameter(
            "state",
            format!("`{s}`: expected open or resolved"),
        ));
    }
    let zone = crate::params::text(&params, "zone", crate::params::MAX_ZONE_CHARS)?;
    if let Some(zone) = &zone
        && !who.sees(zone)
    {
        return Err(who.outside(zone));
    }
    let limit = crate::params::limit(&params)?;
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT doc::text FROM alerts WHERE ($1::text IS NULL OR state = $1) \
             AND ($2::text IS NULL OR zone = $2) AND ($4::text[] IS NULL OR zone = ANY($4)) \
             ORDER BY fired_at DESC, alert_id LIMIT $3",
            &[&state, &zone, &limit, &scope_param(who)],
        )
        .await
        .map_err(query_error)?;
    Ok(Value::Array(
        rows.iter()
            .filter_map(|r| serde_json::from_str(r.get::<_, &str>(0)).ok())
            .collect(),
    ))
}

/// `GET /api/alerts/{id}`: the alert, its events and their deliveries
/// (404 for an alert of a zone `who` does not see).
pub async fn one(db: &Db, who: &Principal, id: &str) -> Result<Value, ApiError> {
    let client = db.client().await?;
    let alert = client
        .query_opt(
            "SELECT doc::text FROM alerts WHERE alert_id = $1 AND ($2::text[] IS NULL OR zone = ANY($2))",
            &[&id, &scope_param(who)],
        )
        .await
        .map_err(query_error)?
        .ok_or_else(|| ApiError::not_found(format!("no alert `{id}`")))?;
    let events = client
        .query(
            "SELECT e.event_id, e.event, (extract(epoch FROM e.time) * 1000)::bigint, e.deliver, e.reason, \
             coalesce(json_agg(json_build_object('channel', d.channel, 'state', d.state, \
             'attempts', d.attempts, 'last_error', d.last_error, \
             'delivered_at', (extract(epoch FROM d.delivered_at) * 1000)::bigint)) \
             FILTER (WHERE d.channel IS NOT NULL), '[]')::text \
             FROM alert_events e LEFT JOIN alert_deliveries d USING (event_id) \
             WHERE e.alert_id = $1 GROUP BY e.event_id ORDER BY e.time, e.event_id",
            &[&id],
        )
        .await
        .map_err(query_error)?;
    let alert: Value = serde_json::from_str(alert.get::<_, &str>(0)).unwrap_or(Value::Null);
    Ok(json!({
        "alert": alert,
        "events": events.iter().map(|r| json!({
            "event_id": r.get::<_, String>(0), "event": r.get::<_, String>(1), "ts": r.get::<_, i64>(2),
            "deliver": r.get::<_, bool>(3), "reason": r.get::<_, Option<String>>(4),
            "deliveries": serde_json::from_str::<Value>(r.get::<_, &str>(5)).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
    }))
}

/// `POST /api/alerts/{id}/ack` with `{"comment"}`: the author is `who`.
/// Idempotent: an alert already acknowledged is answered 200 with its
/// acknowledgement and nothing is written (the dataflow keeps the first ack).
pub async fn ack(
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    id: &str,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let map = json_body(body)?;
    only_fields(&map, &["comment"])?;
    let comment = text_field(&map, "comment", false)?.unwrap_or_default();
    let client = db.client().await?;
    let row = client
        .query_opt(
            "SELECT state, doc->>'acked_by' FROM alerts WHERE alert_id = $1 \
             AND ($2::text[] IS NULL OR zone = ANY($2))",
            &[&id, &scope_param(who)],
        )
        .await
        .map_err(query_error)?
        .ok_or_else(|| ApiError::not_found(format!("no alert `{id}`")))?;
    if let Some(by) = row.get::<_, Option<String>>(1) {
        return Ok((
            StatusCode::OK,
            json!({"accepted": false, "acked_by": by, "detail": "already acknowledged"}),
        ));
    }
    if row.get::<_, &str>(0) != "open" {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            error: "not_open",
            detail: format!("alert `{id}` is resolved: only open alerts can be acknowledged"),
        });
    }
    let control = producer(control)?;
    let ack = Ack {
        alert_id: id.to_string(),
        author: who.name.clone(),
        comment,
    };
    control
        .send(&format!("ack:{id}"), &Control::Ack(ack.clone()))
        .await?;
    audit(db, who, "alert.ack", id, &json!({"comment": ack.comment})).await;
    Ok((StatusCode::ACCEPTED, json!({"accepted": true, "ack": ack})))
}

/// Records an action whose own write is elsewhere (the control topic); a
/// failure is logged and counted, never hidden.
pub(crate) async fn audit(db: &Db, who: &Principal, action: &str, target: &str, detail: &Value) {
    let written = match db.client().await {
        Ok(client) => crate::auth::store::audit(&client, who, action, target, detail)
            .await
            .map_err(|e| crate::auth::store::db_detail(&e)),
        Err(e) => Err(e.detail),
    };
    if let Err(e) = written {
        tracing::error!(error = %e, action, target, actor = %who.name, "audit record not written");
    }
}

/// A 400 naming the first field not in `allowed`.
pub(crate) fn only_fields(
    map: &serde_json::Map<String, Value>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) if k == "author" => Err(bad_body(
            k,
            "the author is the token's name; do not send it",
        )),
        Some(k) => Err(bad_body(k, "unknown field")),
        None => Ok(()),
    }
}

/// The columns `silence_from_row` reads.
const SILENCE_COLUMNS: &str = "silence_id, sensor_id, zone, kind, \
     (extract(epoch FROM starts_at) * 1000)::bigint, \
     (extract(epoch FROM ends_at) * 1000)::bigint, author, comment";

fn silence_from_row(r: &tokio_postgres::Row) -> Silence {
    Silence {
        id: r.get(0),
        sensor_id: r.get(1),
        zone: r.get(2),
        kind: r.get::<_, Option<&str>>(3).and_then(AlertKind::parse),
        starts_ms: r.get(4),
        ends_ms: r.get(5),
        author: r.get(6),
        comment: r.get(7),
    }
}

/// `GET /api/silences?active=true|false` (a zone-scoped token sees the
/// silences of its zones).
pub async fn silences(
    db: &Db,
    who: &Principal,
    params: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    crate::params::only(&params, &["active", "limit"])?;
    let active = match params.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(ApiError::bad_parameter(
                "active",
                format!("`{v}`: expected true or false"),
            ));
        }
    };
    let limit = crate::params::limit(&params)?;
    let client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {SILENCE_COLUMNS} FROM silences \
                 WHERE ($1::bool IS NULL OR (ends_at > now()) = $1) \
                 AND ($3::text[] IS NULL OR zone = ANY($3)) ORDER BY starts_at DESC LIMIT $2"
            ),
            &[&active, &limit, &scope_param(who)],
        )
        .await
        .map_err(query_error)?;
    Ok(Value::Array(
        rows.iter().map(|r| json!(silence_from_row(r))).collect(),
    ))
}

/// Writes a silence and its audit record (one statement).
async fn store_silence(
    db: &Db,
    s: &Silence,
    who: &Principal,
    action: &str,
) -> Result<(), ApiError> {
    let client = db.client().await?;
    client
        .execute(
            "WITH s AS (INSERT INTO silences (silence_id, sensor_id, zone, kind, starts_at, ends_at, author, comment) \
             VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1000), to_timestamp($6::float8 / 1000), $7, $8) \
             ON CONFLICT (silence_id) DO UPDATE SET ends_at = EXCLUDED.ends_at, updated_at = now() RETURNING 1) \
             INSERT INTO audit_log (actor, token_id, role, action, target, detail) \
             SELECT $9, $10, $11, $12, $1, $13::text::jsonb FROM s",
            &[
                &s.id,
                &s.sensor_id,
                &s.zone,
                &s.kind.map(AlertKind::name),
                &(s.starts_ms as f64),
                &(s.ends_ms as f64),
                &s.author,
                &s.comment,
                &who.name,
                &who.token_id,
                &who.role.name(),
                &action,
                &json!(s).to_string(),
            ],
        )
        .await
        .map_err(query_error)?;
    Ok(())
}

/// Removes a silence whose control record could not be written (it never
/// applied), with an audit record saying so.
async fn unstore_silence(db: &Db, id: &str, who: &Principal, why: &str) -> Result<(), ApiError> {
    let client = db.client().await?;
    client
        .execute(
            "WITH s AS (DELETE FROM silences WHERE silence_id = $1 RETURNING 1) \
             INSERT INTO audit_log (actor, token_id, role, action, target, detail) \
             SELECT $2, $3, $4, 'silence.rollback', $1, json_build_object('error', $5::text)::jsonb FROM s",
            &[&id, &who.name, &who.token_id, &who.role.name(), &why],
        )
        .await
        .map_err(query_error)?;
    Ok(())
}

/// `POST /api/silences` with matchers (`sensor_id`, `zone`, `kind`: at
/// least one), `starts` (default now), `ends` or `duration_ms`, `author`,
/// `comment`. The end must be after the start and in the future, and the
/// silence at most `max_ms` long.
pub async fn create_silence(
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    body: &[u8],
    max_ms: i64,
) -> Result<(StatusCode, Value), ApiError> {
    let map = json_body(body)?;
    only_fields(
        &map,
        &[
            "sensor_id",
            "zone",
            "kind",
            "starts",
            "ends",
            "duration_ms",
            "comment",
        ],
    )?;
    let sensor_id = text_field(&map, "sensor_id", false)?;
    let zone = text_field(&map, "zone", false)?;
    match &zone {
        Some(zone) if !who.sees(zone) => return Err(who.outside(zone)),
        None if !who.unscoped() => {
            return Err(bad_body(
                "zone",
                "required: token's zones are limited, so a silence names one of them",
            ));
        }
        _ => {}
    }
    let kind = match text_field(&map, "kind", false)? {
        None => None,
        Some(k) => Some(AlertKind::parse(&k).ok_or_else(|| {
            bad_body(
                "kind",
                format!("`{k}`: expected zscore, threshold_high, threshold_low, zone or silent"),
            )
        })?),
    };
    if sensor_id.is_none() && zone.is_none() && kind.is_none() {
        return Err(bad_body(
            "sensor_id",
            "a silence needs at least one of sensor_id, zone, kind",
        ));
    }
    let starts_ms = time_field(&map, "starts")?.unwrap_or_else(now_ms);
    let ends_ms = match (time_field(&map, "ends")?, map.get("duration_ms")) {
        (Some(_), Some(_)) => {
            return Err(bad_body(
                "duration_ms",
                "give `ends` or `duration_ms`, not both",
            ));
        }
        (Some(end), None) => end,
        (None, Some(Value::Number(n))) => match n.as_i64() {
            Some(d) if d > 0 => starts_ms.saturating_add(d),
            _ => return Err(bad_body("duration_ms", "expected a positive integer")),
        },
        (None, Some(_)) => return Err(bad_body("duration_ms", "expected a positive integer")),
        (None, None) => return Err(bad_body("ends", "required (or `duration_ms`)")),
    };
    check_span(starts_ms, ends_ms, now_ms(), max_ms)?;
    let author = who.name.clone();
    let comment = text_field(&map, "comment", false)?.unwrap_or_default();
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let silence = Silence {
        id: format!("s-{:x}-{:04x}", now_ms(), random & 0xffff),
        sensor_id,
        zone,
        kind,
        starts_ms,
        ends_ms,
        author,
        comment,
    };
    let control = producer(control)?;
    // The store first: a silence in the control topic is always listed and
    // can be ended. If the control record fails, the row goes again; if
    // that fails too, the row stays, listed and deletable, applying nothing.
    store_silence(db, &silence, who, "silence.create").await?;
    let sent = control
        .send(
            &format!("silence:{}", silence.id),
            &Control::Silence(silence.clone()),
        )
        .await;
    if let Err(e) = sent {
        if let Err(undo) = unstore_silence(db, &silence.id, who, &e.detail).await {
            tracing::error!(silence = %silence.id, error = %undo.detail,
                "silence listed but not applied: its control record failed and it could not be removed");
        }
        return Err(e);
    }
    Ok((StatusCode::CREATED, json!(silence)))
}

/// A silence's span: its end after its start, not in the past, and at most
/// `max_ms` (`server.max_silence_ms`) after its start.
fn check_span(starts_ms: i64, ends_ms: i64, now: i64, max_ms: i64) -> Result<(), ApiError> {
    if ends_ms <= starts_ms {
        return Err(bad_body(
            "ends",
            format!("{ends_ms} is not after `starts` {starts_ms}"),
        ));
    }
    if ends_ms <= now {
        return Err(bad_body(
            "ends",
            format!("{ends_ms} is in the past (now is {now}): the silence would never apply"),
        ));
    }
    if ends_ms - starts_ms > max_ms {
        return Err(bad_body(
            "ends",
            format!(
                "the silence lasts {} ms; at most {max_ms} ms (server.max_silence_ms)",
                ends_ms - starts_ms
            ),
        ));
    }
    Ok(())
}

/// `DELETE /api/silences/{id}`: the silence ends now.
pub async fn delete_silence(
    db: &Db,
    control: Option<&ControlProducer>,
    who: &Principal,
    id: &str,
) -> Result<Value, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {SILENCE_COLUMNS} FROM silences WHERE silence_id = $1 \
                 AND ($2::text[] IS NULL OR zone = ANY($2))"
            ),
            &[&id, &scope_param(who)],
        )
        .await
        .map_err(query_error)?
        .ok_or_else(|| ApiError::not_found(format!("no silence `{id}`")))?;
    let now = now_ms();
    let mut silence = silence_from_row(&row);
    if silence.ends_ms > now {
        // Ends now (a silence not started yet ends at its start: it never applies).
        silence.ends_ms = now.max(silence.starts_ms);
        let control = producer(control)?;
        control
            .send(&format!("silence:{id}"), &Control::Silence(silence.clone()))
            .await?;
        store_silence(db, &silence, who, "silence.end").await?;
    }
    Ok(json!(silence))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_silence_ends_after_its_start_in_the_future_within_the_maximum() {
        let now = 1_000 * DAY;
        let detail = |starts, ends| {
            check_span(starts, ends, now, 7 * DAY)
                .err()
                .map(|e| e.detail)
                .unwrap_or_default()
        };
        assert!(check_span(now, now + 7 * DAY, now, 7 * DAY).is_ok());
        assert!(check_span(now - DAY, now + DAY, now, 7 * DAY).is_ok());
        assert!(detail(now, now + 7 * DAY + 1).contains("server.max_silence_ms"));
        assert!(detail(now - 2 * DAY, now - DAY).contains("in the past"));
        assert!(detail(now + DAY, now + DAY).contains("not after"));
    }

    #[test]
    fn times_outside_years_1_to_9999_are_bad_bodies() {
        let map = |v: Value| {
            let mut m = serde_json::Map::new();
            m.insert("ends".into(), v);
            m
        };
        assert!(time_field(&map(json!(i64::MAX)), "ends").is_err());
        assert!(time_field(&map(json!(-62_135_596_800_001_i64)), "ends").is_err());
        assert_eq!(time_field(&map(json!(5)), "ends").ok(), Some(Some(5)));
        assert!(
            time_field(&map(json!("1970-01-01T00:00:01Z")), "ends").is_ok_and(|t| t == Some(1_000))
        );
    }
}
