//! One handler per route (see `routes` for the paths and methods). Each
//! checks its parameters (a 400 names the bad one) and answers JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use super::context::Context;
use super::tokens;
use crate::assets;
use crate::auth::{Principal, store};
use crate::db::query_error;
use crate::error::{ApiError, respond};
use crate::history::{self, time_param};
use crate::params::{self, MAX_NAME_CHARS, MAX_ZONE_CHARS, limit, only};
use crate::ws::{self, WsSlot};
use crate::{alerts, openapi, sensors};

/// `GET /`: the dashboard.
pub fn index() -> Response {
    asset(assets::INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /app.js`.
pub fn app_js() -> Response {
    asset(assets::APP_JS, "text/javascript; charset=utf-8")
}

/// `GET /style.css`.
pub fn style_css() -> Response {
    asset(assets::STYLE_CSS, "text/css; charset=utf-8")
}

/// `GET /ws`: a WebSocket session of the given zones (all the token sees
/// without `zone`), while fewer than `server.max_ws_clients` are connected.
pub fn socket(
    who: Principal,
    upgrade: warp::ws::Ws,
    key: Option<String>,
    protocols: Option<String>,
    raw: String,
    ctx: Arc<Context>,
) -> Response {
    if !key.as_deref().is_some_and(ws::valid_key) {
        return ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            detail: "Sec-WebSocket-Key is not 16 bytes in base64".into(),
        }
        .into_response();
    }
    if let Err(e) = ws_query(&raw) {
        return e.into_response();
    }
    let zones = match who.narrow(ws::zones_from_query(&raw)) {
        Ok(zones) => zones,
        Err(e) => return e.into_response(),
    };
    let hub = Arc::clone(&ctx.hub);
    let max = hub.config().max_ws_clients;
    let Some(slot) = WsSlot::take(hub.metrics(), max) else {
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "too_many_clients",
            detail: format!(
                "{max} WebSocket clients are connected (server.max_ws_clients); try again later"
            ),
        }
        .into_response();
    };
    let reply = upgrade
        .max_message_size(64 << 10)
        .on_upgrade(move |socket| ws::session(socket, hub, zones, who, slot))
        .into_response();
    // A browser that sent its token as a protocol (`weir`, `bearer.<t>`)
    // needs one of its protocols chosen, or it drops the connection.
    let offers_weir = protocols
        .as_deref()
        .is_some_and(|p| p.split(',').any(|p| p.trim() == ws::PROTOCOL));
    if offers_weir {
        let mut reply = reply;
        reply.headers_mut().insert(
            "sec-websocket-protocol",
            warp::http::HeaderValue::from_static(ws::PROTOCOL),
        );
        return reply;
    }
    reply
}

/// `/ws` parameters: only `zone` (repeatable), each 1 to 64 characters
/// without control characters.
fn ws_query(raw: &str) -> Result<(), ApiError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        only(&params::query(pair)?, &["zone"])?;
        let value = pair.split_once('=').map_or("", |(_, v)| v);
        params::name_segment("zone", value, MAX_ZONE_CHARS)?;
    }
    Ok(())
}

/// `GET /api/me`: the token's name, role and zones.
pub fn me(who: Principal) -> Response {
    warp::reply::json(&who).into_response()
}

/// `GET /api/sensors`: every sensor of the hot tier the token sees.
pub fn sensors(who: Principal, ctx: Arc<Context>) -> Response {
    respond(Ok::<_, ApiError>(
        ctx.hub.snapshot(who.zones.as_ref()).sensors,
    ))
}

/// `GET /api/sensors/{id}` (404 for a sensor of a zone the token does not see).
pub fn sensor(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(params::sensor_segment(&id).and_then(|id| {
        ctx.hub
            .sensor(&id)
            .filter(|s| who.sees(&s.zone))
            .ok_or_else(|| ApiError::not_found(format!("no sensor `{id}`")))
    }))
}

/// `GET /api/sensors/{id}/history` (see [`history`]); a zone-scoped token
/// gets 404 for a sensor outside its zones.
pub async fn history(id: String, who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    let request = params::sensor_segment(&id).and_then(|id| Ok((id, params::query(&raw)?)));
    respond(match request {
        Ok((id, query)) => match sensor_in_scope(&ctx, &who, &id).await {
            Ok(()) => history::history(&ctx.hub, &ctx.db, &id, &query).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    })
}

/// 404 unless `who` sees the zone of sensor `id` (from the hot tier, else
/// the registry mirror, else its latest stored reading).
async fn sensor_in_scope(ctx: &Context, who: &Principal, id: &str) -> Result<(), ApiError> {
    if who.unscoped() {
        return Ok(());
    }
    let zone = match ctx.hub.sensor(id) {
        Some(view) => Some(view.zone),
        None => {
            let client = ctx.db.client().await?;
            client
                .query_opt(
                    "SELECT zone FROM sensors WHERE sensor_id = $1 UNION ALL \
                     (SELECT zone FROM readings WHERE sensor_id = $1 ORDER BY time DESC LIMIT 1) LIMIT 1",
                    &[&id],
                )
                .await
                .map_err(query_error)?
                .map(|r| r.get::<_, String>(0))
        }
    };
    match zone {
        Some(zone) if who.sees(&zone) => Ok(()),
        _ => Err(ApiError::not_found(format!("no sensor `{id}`"))),
    }
}

/// `GET /api/zones`: every zone the token sees, with its summary.
pub fn zones(who: Principal, ctx: Arc<Context>) -> Response {
    let zones: Vec<_> = ctx
        .hub
        .zones()
        .into_iter()
        .filter(|z| who.sees(&z.zone))
        .collect();
    respond(Ok::<_, ApiError>(zones))
}

/// `GET /api/zones/{zone}`: its sensors, anomalies and incidents.
pub fn zone(zone: String, who: Principal, ctx: Arc<Context>) -> Response {
    let zone = match params::name_segment("zone", &zone, MAX_ZONE_CHARS) {
        Ok(zone) => zone,
        Err(e) => return e.into_response(),
    };
    if !who.sees(&zone) {
        return who.outside(&zone).into_response();
    }
    let known = ctx.hub.zones().iter().any(|z| z.zone == zone);
    let zones = std::iter::once(zone.clone()).collect();
    let snapshot = ctx.hub.snapshot(Some(&zones));
    respond(if known {
        Ok(
            json!({"zone": zone, "sensors": snapshot.sensors, "anomalies": snapshot.anomalies,
                  "incidents": snapshot.incidents}),
        )
    } else {
        Err(ApiError::not_found(format!("no zone `{zone}`")))
    })
}

/// `GET /api/anomalies`.
pub async fn anomalies(who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    respond(async { recent_anomalies(&ctx, &who, params::query(&raw)?).await }.await)
}

/// `GET /api/dead-letters`: records no zone can be told for, so a token
/// limited to zones gets 403.
pub async fn dead_letters(who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    if !who.unscoped() {
        return ApiError::forbidden(format!(
            "dead letters belong to no zone: token `{}` is limited to zones",
            who.name
        ))
        .into_response();
    }
    respond(async { recent_dead_letters(&ctx, params::query(&raw)?).await }.await)
}

/// `GET /api/openapi.json`.
pub fn openapi(ctx: Arc<Context>) -> Response {
    warp::reply::json(&openapi::document(ctx.hub.config())).into_response()
}

/// `GET /metrics`: Prometheus text.
pub fn metrics(ctx: Arc<Context>) -> Response {
    warp::reply::with_header(
        ctx.hub.metrics().render(),
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8",
    )
    .into_response()
}

/// `GET /api/alerts`.
pub async fn alerts(who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    respond(async { alerts::list(&ctx.db, &who, params::query(&raw)?).await }.await)
}

/// `GET /api/alerts/{id}`.
pub async fn alert(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let id = params::name_segment("id", &id, MAX_NAME_CHARS)?;
            alerts::one(&ctx.db, &who, &id).await
        }
        .await,
    )
}

/// `GET /api/silences`.
pub async fn silences(who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    respond(async { alerts::silences(&ctx.db, &who, params::query(&raw)?).await }.await)
}

/// `POST /api/alerts/{id}/ack`: 202 once written to the control topic, 200
/// when it was acknowledged already.
pub async fn ack(id: String, who: Principal, body: bytes::Bytes, ctx: Arc<Context>) -> Response {
    let result = match params::name_segment("id", &id, MAX_NAME_CHARS) {
        Ok(id) => alerts::ack(&ctx.db, ctx.control.as_ref(), &who, &id, &body).await,
        Err(e) => Err(e),
    };
    respond_status(result)
}

/// `POST /api/silences`.
pub async fn create_silence(who: Principal, body: bytes::Bytes, ctx: Arc<Context>) -> Response {
    let max_ms = ctx.hub.config().max_silence_ms;
    respond_status(alerts::create_silence(&ctx.db, ctx.control.as_ref(), &who, &body, max_ms).await)
}

/// `DELETE /api/silences/{id}`.
pub async fn delete_silence(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let id = params::name_segment("id", &id, MAX_NAME_CHARS)?;
            alerts::delete_silence(&ctx.db, ctx.control.as_ref(), &who, &id).await
        }
        .await,
    )
}

/// `PUT /api/sensors/{id}`: 202 once the registry record is written.
pub async fn put_sensor(
    id: String,
    who: Principal,
    body: bytes::Bytes,
    ctx: Arc<Context>,
) -> Response {
    let result = match params::sensor_segment(&id) {
        Ok(id) => sensors::put(&ctx.hub, &ctx.db, ctx.control.as_ref(), &who, &id, &body).await,
        Err(e) => Err(e),
    };
    respond_status(result)
}

/// `DELETE /api/sensors/{id}`: 202 once the tombstone is written.
pub async fn delete_sensor(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    let result = match params::sensor_segment(&id) {
        Ok(id) => sensors::delete(&ctx.hub, &ctx.db, ctx.control.as_ref(), &who, &id).await,
        Err(e) => Err(e),
    };
    respond_status(result)
}

/// `GET /api/sensors/{id}/versions`.
pub async fn sensor_versions(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let id = params::sensor_segment(&id)?;
            sensors::versions(&ctx.db, &who, &id).await
        }
        .await,
    )
}

/// `POST /api/sensors/import?partial=true`: 202 with what was written, or
/// 400 naming every bad row.
pub async fn import_sensors(
    who: Principal,
    raw: String,
    body: bytes::Bytes,
    ctx: Arc<Context>,
) -> Response {
    let result = async {
        let params = params::query(&raw)?;
        only(&params, &["partial"])?;
        let partial = params::flag(&params, "partial")?;
        sensors::import(&ctx.db, ctx.control.as_ref(), &who, partial, &body).await
    }
    .await;
    respond_status(result)
}

/// The `{name}` of a kind route: a kind name, or 400.
fn kind_segment(raw: &str) -> Result<String, ApiError> {
    let name = params::name_segment("name", raw, weir_dataflow::model::MAX_KIND_BYTES)?;
    weir_dataflow::SensorKind::new(&name).map_err(|e| ApiError::bad_parameter("name", e))?;
    Ok(name)
}

/// `GET /api/kinds`.
pub async fn kinds(_who: Principal, ctx: Arc<Context>) -> Response {
    respond(sensors::list_kinds(&ctx.db).await)
}

/// `GET /api/kinds/{name}`.
pub async fn kind(name: String, _who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let name = kind_segment(&name)?;
            sensors::get_kind(&ctx.db, &name).await
        }
        .await,
    )
}

/// `PUT /api/kinds/{name}`: 201 when new, 200 when changed.
pub async fn put_kind(
    name: String,
    who: Principal,
    body: bytes::Bytes,
    ctx: Arc<Context>,
) -> Response {
    let result = async {
        let name = kind_segment(&name)?;
        sensors::put_kind(&ctx.db, &who, &name, &body).await
    }
    .await;
    respond_status(result)
}

/// `DELETE /api/kinds/{name}`.
pub async fn delete_kind(name: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let name = kind_segment(&name)?;
            sensors::delete_kind(&ctx.db, &who, &name).await
        }
        .await,
    )
}

/// `GET /api/tokens?all=true`: the tokens (never their secrets).
pub async fn tokens(_who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let params = params::query(&raw)?;
            only(&params, &["all"])?;
            let all = params::flag(&params, "all")?;
            let client = ctx.db.client().await?;
            store::list(&client, all).await.map_err(query_error)
        }
        .await,
    )
}

/// `POST /api/tokens` with `name`, `role`, `zones`, `expires` or
/// `expires_in_ms`: 201 with the token, shown this once.
pub async fn create_token(who: Principal, body: bytes::Bytes, ctx: Arc<Context>) -> Response {
    let result = async {
        let new = tokens::new_token(&body, crate::hub::now_ms())?;
        let client = ctx.db.client().await?;
        let (info, token) = store::create(&client, &new, &who)
            .await
            .map_err(tokens::create_error)?;
        // Usable at once, not after the next refresh.
        let _ = crate::auth::web::reload(&ctx).await;
        Ok::<_, ApiError>(json!({"token": token, "info": info}))
    }
    .await;
    respond_status(result.map(|value| (StatusCode::CREATED, value)))
}

/// `DELETE /api/tokens/{id}`: revoked at once.
pub async fn revoke_token(id: String, who: Principal, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let id = params::name_segment("id", &id, MAX_NAME_CHARS)?;
            if id == who.token_id {
                return Err(ApiError {
                    status: StatusCode::CONFLICT,
                    error: "own_token",
                    detail: "a token cannot revoke itself (nobody could then undo a mistake): \
                             use another admin token or `weir token revoke`"
                        .into(),
                });
            }
            let client = ctx.db.client().await?;
            let revoked = store::revoke(&client, &id, &who)
                .await
                .map_err(query_error)?
                .ok_or_else(|| ApiError::not_found(format!("no active token `{id}`")))?;
            let _ = crate::auth::web::reload(&ctx).await;
            Ok(revoked)
        }
        .await,
    )
}

/// `GET /api/audit?since=&actor=&action=&limit=`.
pub async fn audit(_who: Principal, raw: String, ctx: Arc<Context>) -> Response {
    respond(
        async {
            let params = params::query(&raw)?;
            only(&params, &["since", "actor", "action", "limit"])?;
            let since = time_param(&params, "since")?.unwrap_or(0);
            let actor = params::text(&params, "actor", MAX_NAME_CHARS)?;
            let action = params::text(&params, "action", MAX_NAME_CHARS)?;
            let limit = limit(&params)?;
            let client = ctx.db.client().await?;
            store::audit_log(&client, since, actor.as_deref(), action.as_deref(), limit)
                .await
                .map_err(query_error)
        }
        .await,
    )
}

/// `GET /health` (see [`crate::health`]).
pub async fn health(ctx: Arc<Context>) -> Response {
    let hub = &ctx.hub;
    let health = crate::health::check(
        &ctx.brokers,
        &ctx.db,
        hub.metrics(),
        hub.config(),
        crate::hub::now_ms(),
        ctx.heartbeat.get(),
    )
    .await;
    let status = if health.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&health), status).into_response()
}

/// Recent anomalies from the store (`zone`, `since`, `limit`).
async fn recent_anomalies(
    ctx: &Context,
    who: &Principal,
    params: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    only(&params, &["zone", "since", "limit"])?;
    let since = time_param(&params, "since")?.unwrap_or(0);
    let limit = limit(&params)?;
    let zone = params::text(&params, "zone", MAX_ZONE_CHARS)?;
    if let Some(zone) = &zone
        && !who.sees(zone)
    {
        return Err(who.outside(zone));
    }
    let client = ctx.db.client().await?;
    let rows = client
        .query(
            "SELECT sensor_id, zone, (extract(epoch FROM time) * 1000)::bigint, value, z, severity, \
             threshold_kind, threshold, kafka_partition, kafka_offset FROM anomalies \
             WHERE time >= to_timestamp($1::float8 / 1000) AND ($2::text IS NULL OR zone = $2) \
             AND ($4::text[] IS NULL OR zone = ANY($4)) ORDER BY time DESC LIMIT $3",
            &[&(since as f64), &zone, &limit, &alerts::scope_param(who)],
        )
        .await
        .map_err(query_error)?;
    Ok(Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "sensor_id": r.get::<_, String>(0), "zone": r.get::<_, String>(1), "ts": r.get::<_, i64>(2),
                    "value": r.get::<_, f64>(3), "z": r.get::<_, Option<f64>>(4), "severity": r.get::<_, String>(5),
                    "threshold_kind": r.get::<_, Option<String>>(6), "threshold": r.get::<_, Option<f64>>(7),
                    "partition": r.get::<_, i32>(8), "offset": r.get::<_, i64>(9),
                })
            })
            .collect(),
    ))
}

/// Dead letters from the store (`reason`, `since`, `limit`).
async fn recent_dead_letters(
    ctx: &Context,
    params: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    only(&params, &["reason", "since", "limit"])?;
    let since = time_param(&params, "since")?.unwrap_or(0);
    let limit = limit(&params)?;
    let reason = params::text(&params, "reason", MAX_NAME_CHARS)?;
    let client = ctx.db.client().await?;
    let rows = client
        .query(
            "SELECT kafka_partition, kafka_offset, reason, key, detail, \
             (extract(epoch FROM record_time) * 1000)::bigint, payload FROM dead_letters \
             WHERE record_time >= to_timestamp($1::float8 / 1000) AND ($2::text IS NULL OR reason = $2) \
             ORDER BY record_time DESC LIMIT $3",
            &[&(since as f64), &reason, &limit],
        )
        .await
        .map_err(query_error)?;
    Ok(Value::Array(
        rows.iter()
            .map(|r| {
                let payload: Vec<u8> = r.get(6);
                let shown = &payload[..payload.len().min(4_096)];
                json!({
                    "partition": r.get::<_, i32>(0), "offset": r.get::<_, i64>(1), "reason": r.get::<_, String>(2),
                    "key": r.get::<_, String>(3), "detail": r.get::<_, String>(4), "record_ts": r.get::<_, i64>(5),
                    "payload": String::from_utf8_lossy(shown), "payload_bytes": payload.len(),
                })
            })
            .collect(),
    ))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    warp::reply::with_header(body, "content-type", content_type).into_response()
}

/// An answer with its own status, or the error's.
fn respond_status(result: Result<(StatusCode, Value), ApiError>) -> Response {
    match result {
        Ok((status, value)) => {
            warp::reply::with_status(warp::reply::json(&value), status).into_response()
        }
        Err(e) => e.into_response(),
    }
}
