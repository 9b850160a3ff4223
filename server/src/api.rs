//! The routes: REST (`/api/…`), `/ws`, `/metrics`, `/health` and the dashboard.
//! [`ROUTES`] lists them; the OpenAPI document and a test keep it honest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::assets;
use crate::db::{Db, query_error};
use crate::error::{ApiError, respond};
use crate::history::{self, time_param};
use crate::hub::Hub;
use crate::openapi;
use crate::ws;
use crate::ws::WsSlot;

/// Every route: (method, path template). `{x}` is a path parameter.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/app.js"),
    ("GET", "/style.css"),
    ("GET", "/ws"),
    ("GET", "/api/sensors"),
    ("GET", "/api/sensors/{id}"),
    ("GET", "/api/sensors/{id}/history"),
    ("GET", "/api/zones"),
    ("GET", "/api/zones/{zone}"),
    ("GET", "/api/anomalies"),
    ("GET", "/api/dead-letters"),
    ("GET", "/api/alerts"),
    ("GET", "/api/alerts/{id}"),
    ("POST", "/api/alerts/{id}/ack"),
    ("GET", "/api/silences"),
    ("POST", "/api/silences"),
    ("DELETE", "/api/silences/{id}"),
    ("GET", "/api/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/health"),
];

/// The largest request body (acks and silences).
pub const MAX_BODY_BYTES: u64 = 16 << 10;

/// What handlers share.
pub struct Context {
    /// The hot tier.
    pub hub: Arc<Hub>,
    /// PostgreSQL.
    pub db: Db,
    /// Kafka bootstrap addresses, for `/health`.
    pub brokers: String,
    /// Writes acks and silences to the alert-control topic.
    pub control: Option<crate::alerts::ControlProducer>,
}

use crate::params::{self, MAX_NAME_CHARS, MAX_ZONE_CHARS};
use crate::params::{limit, only};

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

fn query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

fn with_ctx(
    ctx: Arc<Context>,
) -> impl Filter<Extract = (Arc<Context>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || Arc::clone(&ctx))
}

async fn anomalies(ctx: &Context, params: BTreeMap<String, String>) -> Result<Value, ApiError> {
    only(&params, &["zone", "since", "limit"])?;
    let since = time_param(&params, "since")?.unwrap_or(0);
    let limit = limit(&params)?;
    let zone = params::text(&params, "zone", MAX_ZONE_CHARS)?;
    let client = ctx.db.client().await?;
    let rows = client
        .query(
            "SELECT sensor_id, zone, (extract(epoch FROM time) * 1000)::bigint, value, z, severity, \
             threshold_kind, threshold, kafka_partition, kafka_offset FROM anomalies \
             WHERE time >= to_timestamp($1::float8 / 1000) AND ($2::text IS NULL OR zone = $2) \
             ORDER BY time DESC LIMIT $3",
            &[&(since as f64), &zone, &limit],
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

async fn dead_letters(ctx: &Context, params: BTreeMap<String, String>) -> Result<Value, ApiError> {
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

async fn health(ctx: &Context) -> Response {
    let broker = {
        let addresses: Vec<String> = ctx
            .brokers
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let mut ok = false;
        for address in addresses {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(address),
            )
            .await;
            if matches!(attempt, Ok(Ok(_))) {
                ok = true;
                break;
            }
        }
        ok
    };
    let database = match ctx.db.client().await {
        Ok(client) => matches!(
            tokio::time::timeout(Duration::from_secs(2), client.simple_query("SELECT 1")).await,
            Ok(Ok(_))
        ),
        Err(_) => false,
    };
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": state(broker && database),
        "broker": state(broker),
        "database": state(database),
        "websocket_clients": ctx.hub.metrics().ws_clients.load(std::sync::atomic::Ordering::Relaxed),
    });
    let status = if broker && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    warp::reply::with_header(body, "content-type", content_type).into_response()
}

/// Every route, with JSON 404/405 answers for the rest.
pub fn routes(ctx: Arc<Context>) -> BoxedFilter<(Response,)> {
    let index = warp::path::end()
        .and(warp::get())
        .map(|| asset(assets::INDEX_HTML, "text/html; charset=utf-8"));
    let app = warp::path!("app.js")
        .and(warp::get())
        .map(|| asset(assets::APP_JS, "text/javascript; charset=utf-8"));
    let style = warp::path!("style.css")
        .and(warp::get())
        .map(|| asset(assets::STYLE_CSS, "text/css; charset=utf-8"));
    let socket = warp::path!("ws")
        .and(warp::get())
        .and(warp::ws())
        .and(warp::header::optional::<String>("sec-websocket-key"))
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|upgrade: warp::ws::Ws, key: Option<String>, raw: String, ctx: Arc<Context>| {
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
            let zones = ws::zones_from_query(&raw);
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
            upgrade
                .max_message_size(64 << 10)
                .on_upgrade(move |socket| ws::session(socket, hub, zones, slot))
                .into_response()
        });
    let sensors = warp::path!("api" / "sensors")
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|ctx: Arc<Context>| respond(Ok::<_, ApiError>(ctx.hub.snapshot(None).sensors)));
    let sensor = warp::path!("api" / "sensors" / String)
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|id: String, ctx: Arc<Context>| {
            respond(params::sensor_segment(&id).and_then(|id| {
                ctx.hub
                    .sensor(&id)
                    .ok_or_else(|| ApiError::not_found(format!("no sensor `{id}`")))
            }))
        });
    let history = warp::path!("api" / "sensors" / String / "history")
        .and(warp::get())
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|id: String, raw: String, ctx: Arc<Context>| async move {
            let request = params::sensor_segment(&id).and_then(|id| Ok((id, params::query(&raw)?)));
            respond(match request {
                Ok((id, query)) => history::history(&ctx.hub, &ctx.db, &id, &query).await,
                Err(e) => Err(e),
            })
        });
    let zones = warp::path!("api" / "zones")
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|ctx: Arc<Context>| respond(Ok::<_, ApiError>(ctx.hub.zones())));
    let zone = warp::path!("api" / "zones" / String).and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|zone: String, ctx: Arc<Context>| {
            let zone = match params::name_segment("zone", &zone, MAX_ZONE_CHARS) {
                Ok(zone) => zone,
                Err(e) => return e.into_response(),
            };
            let known = ctx.hub.zones().iter().any(|z| z.zone == zone);
            let zones = std::iter::once(zone.clone()).collect();
            let snapshot = ctx.hub.snapshot(Some(&zones));
            respond(if known {
                Ok(json!({"zone": zone, "sensors": snapshot.sensors, "anomalies": snapshot.anomalies,
                          "incidents": snapshot.incidents}))
            } else {
                Err(ApiError::not_found(format!("no zone `{zone}`")))
            })
        });
    let anomalies = warp::path!("api" / "anomalies")
        .and(warp::get())
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|raw: String, ctx: Arc<Context>| async move {
            respond(async { anomalies(&ctx, params::query(&raw)?).await }.await)
        });
    let dead = warp::path!("api" / "dead-letters")
        .and(warp::get())
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|raw: String, ctx: Arc<Context>| async move {
            respond(async { dead_letters(&ctx, params::query(&raw)?).await }.await)
        });
    let spec = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|ctx: Arc<Context>| {
            warp::reply::json(&openapi::document(ctx.hub.config())).into_response()
        });
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .map(|ctx: Arc<Context>| {
            asset_owned(
                ctx.hub.metrics().render(),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        });
    let healthz = warp::path!("health")
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|ctx: Arc<Context>| async move { health(&ctx).await });
    let alert_list = warp::path!("api" / "alerts")
        .and(warp::get())
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|raw: String, ctx: Arc<Context>| async move {
            respond(async { crate::alerts::list(&ctx.db, params::query(&raw)?).await }.await)
        });
    let alert_one = warp::path!("api" / "alerts" / String)
        .and(warp::get())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|id: String, ctx: Arc<Context>| async move {
            respond(
                async {
                    let id = params::name_segment("id", &id, MAX_NAME_CHARS)?;
                    crate::alerts::one(&ctx.db, &id).await
                }
                .await,
            )
        });
    let silence_list = warp::path!("api" / "silences")
        .and(warp::get())
        .and(query())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|raw: String, ctx: Arc<Context>| async move {
            respond(async { crate::alerts::silences(&ctx.db, params::query(&raw)?).await }.await)
        });
    let body = || warp::body::content_length_limit(MAX_BODY_BYTES).and(warp::body::bytes());
    let ack = warp::path!("api" / "alerts" / String / "ack")
        .and(warp::post())
        .and(body())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(
            |id: String, body: bytes::Bytes, ctx: Arc<Context>| async move {
                let result = match params::name_segment("id", &id, MAX_NAME_CHARS) {
                    Ok(id) => crate::alerts::ack(&ctx.db, ctx.control.as_ref(), &id, &body).await,
                    Err(e) => Err(e),
                };
                with_status(result, StatusCode::ACCEPTED)
            },
        );
    let new_silence = warp::path!("api" / "silences")
        .and(warp::post())
        .and(body())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|body: bytes::Bytes, ctx: Arc<Context>| async move {
            let max_ms = ctx.hub.config().max_silence_ms;
            match crate::alerts::create_silence(&ctx.db, ctx.control.as_ref(), &body, max_ms).await
            {
                Ok((status, value)) => with_status(Ok(value), status),
                Err(e) => e.into_response(),
            }
        });
    let end_silence = warp::path!("api" / "silences" / String)
        .and(warp::delete())
        .and(with_ctx(Arc::clone(&ctx)))
        .then(|id: String, ctx: Arc<Context>| async move {
            respond(
                async {
                    let id = params::name_segment("id", &id, MAX_NAME_CHARS)?;
                    crate::alerts::delete_silence(&ctx.db, ctx.control.as_ref(), &id).await
                }
                .await,
            )
        });

    // Each route boxed, then chained pairwise: nesting `or` over unboxed
    // filters made the router's type (and its compile time) explode.
    let gets = [
        boxed(index),
        boxed(app),
        boxed(style),
        boxed(socket),
        boxed(sensors),
        boxed(history),
        boxed(sensor),
        boxed(zones),
        boxed(zone),
        boxed(anomalies),
        boxed(dead),
        boxed(spec),
        boxed(metrics),
        boxed(healthz),
        boxed(alert_list),
        boxed(alert_one),
        boxed(silence_list),
    ];
    let posts = [boxed(ack), boxed(new_silence)];
    let deletes = [boxed(end_silence)];
    // Paths are matched before methods (a method filter first would turn
    // every unknown path into a 405).
    let routed = gets
        .into_iter()
        .chain(posts)
        .chain(deletes)
        .reduce(|a, b| a.or(b).unify().boxed())
        .unwrap_or_else(|| {
            boxed(warp::any().and_then(|| async { Err::<Response, _>(warp::reject::not_found()) }))
        })
        // `find` searches every route's rejection: the ones a request's own
        // route gave (body, headers) are asked for before 405, which any
        // other route on the same path gives.
        .recover(|rejection: warp::Rejection| async move {
            let error = if rejection.is_not_found() {
                ApiError::not_found("no such route: see /api/openapi.json")
            } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    error: "too_large",
                    detail: format!("the body exceeds {MAX_BODY_BYTES} bytes"),
                }
            } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
                ApiError {
                    status: StatusCode::LENGTH_REQUIRED,
                    error: "length_required",
                    detail: "send a Content-Length".into(),
                }
            } else if rejection.find::<warp::reject::MissingHeader>().is_some()
                || rejection.find::<warp::reject::InvalidHeader>().is_some()
            {
                ApiError {
                    status: StatusCode::BAD_REQUEST,
                    error: "bad_request",
                    detail: format!("{rejection:?}"),
                }
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    error: "method_not_allowed",
                    detail: "method not allowed on this route (see Allow and /api/openapi.json)"
                        .into(),
                }
            } else {
                ApiError {
                    status: StatusCode::BAD_REQUEST,
                    error: "bad_request",
                    detail: format!("{rejection:?}"),
                }
            };
            Ok::<_, std::convert::Infallible>(error.into_response())
        })
        .unify();
    // Every 405 names what the path does allow (RFC 9110).
    warp::path::full()
        .and(routed)
        .map(|path: warp::path::FullPath, response: Response| {
            with_allow(ROUTES, path.as_str(), response)
        })
        .boxed()
}

/// The methods `ROUTES` serves on `path` (templates' `{x}` match one segment).
pub fn allowed_methods(routes: &[(&'static str, &str)], path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<&'static str> = routes
        .iter()
        .filter(|(_, template)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                })
        })
        .map(|(method, _)| *method)
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// `response` with an `Allow` header when it is a 405.
pub fn with_allow(routes: &[(&'static str, &str)], path: &str, mut response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Ok(value) = allowed_methods(routes, path).join(", ").parse()
    {
        response.headers_mut().insert("allow", value);
    }
    response
}

fn boxed<F>(filter: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    filter.boxed()
}

fn with_status(result: Result<Value, ApiError>, status: StatusCode) -> Response {
    match result {
        Ok(value) => warp::reply::with_status(warp::reply::json(&value), status).into_response(),
        Err(e) => e.into_response(),
    }
}

fn asset_owned(body: String, content_type: &'static str) -> Response {
    warp::reply::with_header(body, "content-type", content_type).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::ServerConfig;
    use crate::metrics::Metrics;

    fn context() -> Arc<Context> {
        let postgres = weir_connectors::postgres::PostgresConfig {
            url: std::env::var("WEIR_POSTGRES__URL")
                .unwrap_or_else(|_| weir_connectors::postgres::PostgresConfig::default().url),
            ..Default::default()
        };
        Arc::new(Context {
            hub: Hub::new(ServerConfig::default(), Arc::new(Metrics::default())),
            db: Db::new(postgres),
            brokers: "127.0.0.1:1".into(),
            control: None,
        })
    }

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let spec = openapi::document(&ServerConfig::default());
        let documented: BTreeSet<String> = spec["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default();
        let routed: BTreeSet<String> = ROUTES.iter().map(|(_, path)| path.to_string()).collect();
        assert_eq!(documented, routed);
        for (method, path) in ROUTES {
            let op = &spec["paths"][*path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} has no operation");
            assert!(
                op["responses"].is_object(),
                "{method} {path} has no responses"
            );
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" {
                    let name = param["name"].as_str().unwrap_or_default();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{path}: path parameter {name}"
                    );
                }
            }
        }
    }

    /// Every listed route is served (whatever its answer), and nothing else is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_listed_route_is_served_and_others_are_not() {
        let filter = routes(context());
        let is_unrouted = |body: &[u8]| String::from_utf8_lossy(body).contains("no such route");
        for (method, path) in ROUTES {
            let path = path
                .replace("{id}", "tmp-00001")
                .replace("{zone}", "zone-01");
            let body = if *method == "GET" || *method == "DELETE" {
                ""
            } else {
                "{}"
            };
            let response = warp::test::request()
                .method(method)
                .path(&path)
                .body(body)
                .reply(&filter)
                .await;
            assert!(
                !is_unrouted(response.body()),
                "{method} {path}: {:?}",
                response.body()
            );
        }
        for path in ["/api", "/api/sensors/a/b/c", "/nothing", "/api/openapi"] {
            let response = warp::test::request().path(path).reply(&filter).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(is_unrouted(response.body()), "{path}");
        }
        for (method, path, allow) in [
            ("POST", "/api/zones", "GET"),
            ("DELETE", "/api/silences", "GET, POST"),
            ("PUT", "/api/alerts/a%3Ab/ack", "POST"),
            ("POST", "/ws", "GET"),
            ("OPTIONS", "/", "GET"),
        ] {
            let response = warp::test::request()
                .method(method)
                .path(path)
                .reply(&filter)
                .await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(
                response
                    .headers()
                    .get("allow")
                    .and_then(|v| v.to_str().ok()),
                Some(allow),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn allowed_methods_follow_the_templates() {
        assert_eq!(allowed_methods(ROUTES, "/api/silences"), ["GET", "POST"]);
        assert_eq!(allowed_methods(ROUTES, "/api/silences/s-1"), ["DELETE"]);
        assert_eq!(allowed_methods(ROUTES, "/api/sensors/x/history"), ["GET"]);
        assert!(allowed_methods(ROUTES, "/api/sensors//history").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bodies_over_the_limit_get_413() {
        let filter = routes(context());
        let response = warp::test::request()
            .method("POST")
            .path("/api/silences")
            .header("content-length", "20000")
            .body(vec![b' '; 20_000])
            .reply(&filter)
            .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_parameters_get_400_with_the_reason() {
        let filter = routes(context());
        for (path, needle) in [
            ("/api/sensors/x/history?from=abc", "`from`"),
            ("/api/sensors/x/history?from=10&to=5", "after `to`"),
            ("/api/sensors/x/history?resolution=10s", "`resolution`"),
            (
                "/api/sensors/x/history?from=0&to=864000000&resolution=raw",
                "7 days",
            ),
            ("/api/anomalies?since=yesterday", "`since`"),
            ("/api/anomalies?limit=0", "`limit`"),
            ("/api/dead-letters?reasons=x", "`reasons`"),
            ("/api/anomalies?zone=a%00b", "`zone`"),
            ("/api/dead-letters?reason=", "`reason`"),
            ("/api/alerts?zone=%00", "`zone`"),
            (
                "/api/sensors/x/history?from=-9223372036854775808",
                "years 1 to 9999",
            ),
            ("/api/sensors/x/history?to=253402300800000", "`to`"),
            ("/api/anomalies?since=9223372036854775807", "`since`"),
            ("/api/sensors/x/history?from=1&x%00=1", "control"),
            ("/api/sensors/bad%20id/history", "`id`"),
            ("/api/sensors/a%00", "`id`"),
            ("/api/alerts/%00", "`id`"),
            ("/api/zones/%01", "`zone`"),
        ] {
            let response = warp::test::request().path(path).reply(&filter).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            let body: Value = serde_json::from_slice(response.body()).unwrap_or_default();
            assert_eq!(body["error"], "bad_parameter", "{path}: {body}");
            assert!(
                body["detail"].as_str().is_some_and(|d| d.contains(needle)),
                "{path}: {body}"
            );
        }
    }
}
