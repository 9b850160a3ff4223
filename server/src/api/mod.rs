//! The routes: REST (`/api/…`), `/ws`, `/metrics`, `/health` and the dashboard.
//! [`ROUTES`] lists them; the OpenAPI document and a test keep it honest.
//! Laid out as warp's own example is: [`routes`] composes filters
//! (`filters.rs`: query strings, bodies, the shared context, rejections as
//! JSON errors) with handlers (`handlers.rs`: one function per route); the
//! queries behind them live with what they answer (`history.rs`,
//! `alerts.rs`, `handlers.rs` for anomalies and dead letters).

pub mod context;
mod filters;
mod handlers;
mod tokens;

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

pub use self::context::Context;
use self::filters::{query, with_ctx};
use crate::auth::Role;
use crate::auth::web::{csv_body, json_body, known_host, open_or_viewer, principal, same_origin};

/// Every route: (method, path template). `{x}` is a path parameter.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/app.js"),
    ("GET", "/style.css"),
    ("GET", "/ws"),
    ("GET", "/api/me"),
    ("GET", "/api/sensors"),
    ("GET", "/api/sensors/{id}"),
    ("PUT", "/api/sensors/{id}"),
    ("DELETE", "/api/sensors/{id}"),
    ("GET", "/api/sensors/{id}/history"),
    ("GET", "/api/sensors/{id}/versions"),
    ("POST", "/api/sensors/import"),
    ("GET", "/api/kinds"),
    ("GET", "/api/kinds/{name}"),
    ("PUT", "/api/kinds/{name}"),
    ("DELETE", "/api/kinds/{name}"),
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
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("DELETE", "/api/tokens/{id}"),
    ("GET", "/api/audit"),
    ("GET", "/api/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/health"),
];

/// The role each route needs (`None`: open; `/metrics` and `/health` by
/// configuration). The OpenAPI document and the access test read it.
pub fn role_of(method: &str, path: &str) -> Option<Role> {
    match (method, path) {
        ("GET", "/" | "/app.js" | "/style.css" | "/api/openapi.json" | "/metrics" | "/health") => {
            None
        }
        (_, "/api/tokens" | "/api/tokens/{id}" | "/api/audit")
        | ("PUT" | "DELETE", "/api/sensors/{id}" | "/api/kinds/{name}")
        | ("POST", "/api/sensors/import") => Some(Role::Admin),
        ("POST" | "DELETE", _) => Some(Role::Operator),
        _ => Some(Role::Viewer),
    }
}

/// Every route, with JSON 404/405 answers for the rest.
pub fn routes(ctx: Arc<Context>) -> BoxedFilter<(Response,)> {
    let auth = ctx.hub.config().auth.clone();
    let as_role = |role| principal(Arc::clone(&ctx), role);
    let viewer = || as_role(Role::Viewer);
    // A state change: the role, then the page's origin.
    let changes = |role| as_role(role).and(same_origin(Arc::clone(&ctx)));
    let ctx_filter = || with_ctx(Arc::clone(&ctx));
    let index = warp::path::end().and(warp::get()).map(handlers::index);
    let app = warp::path!("app.js").and(warp::get()).map(handlers::app_js);
    let style = warp::path!("style.css")
        .and(warp::get())
        .map(handlers::style_css);
    // The token before the upgrade headers: a request without a token is a
    // 401 whatever else it lacks.
    let socket = warp::path!("ws")
        .and(warp::get())
        .and(viewer())
        .and(same_origin(Arc::clone(&ctx)))
        .and(warp::ws())
        .and(warp::header::optional::<String>("sec-websocket-key"))
        .and(warp::header::optional::<String>("sec-websocket-protocol"))
        .and(query())
        .and(ctx_filter())
        .map(handlers::socket);
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(viewer())
        .map(handlers::me);
    let sensors = warp::path!("api" / "sensors")
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .map(handlers::sensors);
    let sensor = warp::path!("api" / "sensors" / String)
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .map(handlers::sensor);
    let history = warp::path!("api" / "sensors" / String / "history")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(ctx_filter())
        .then(handlers::history);
    let zones = warp::path!("api" / "zones")
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .map(handlers::zones);
    let zone = warp::path!("api" / "zones" / String)
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .map(handlers::zone);
    let anomalies = warp::path!("api" / "anomalies")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(ctx_filter())
        .then(handlers::anomalies);
    let dead = warp::path!("api" / "dead-letters")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(ctx_filter())
        .then(handlers::dead_letters);
    let spec = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .and(ctx_filter())
        .map(handlers::openapi);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(open_or_viewer(Arc::clone(&ctx), auth.metrics_open))
        .and(ctx_filter())
        .map(handlers::metrics);
    let healthz = warp::path!("health")
        .and(warp::get())
        .and(open_or_viewer(Arc::clone(&ctx), auth.health_open))
        .and(ctx_filter())
        .then(handlers::health);
    let alert_list = warp::path!("api" / "alerts")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(ctx_filter())
        .then(handlers::alerts);
    let alert_one = warp::path!("api" / "alerts" / String)
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .then(handlers::alert);
    let silence_list = warp::path!("api" / "silences")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(ctx_filter())
        .then(handlers::silences);
    let ack = warp::path!("api" / "alerts" / String / "ack")
        .and(warp::post())
        .and(changes(Role::Operator))
        .and(json_body())
        .and(ctx_filter())
        .then(handlers::ack);
    let new_silence = warp::path!("api" / "silences")
        .and(warp::post())
        .and(changes(Role::Operator))
        .and(json_body())
        .and(ctx_filter())
        .then(handlers::create_silence);
    let end_silence = warp::path!("api" / "silences" / String)
        .and(warp::delete())
        .and(changes(Role::Operator))
        .and(ctx_filter())
        .then(handlers::delete_silence);
    let token_list = warp::path!("api" / "tokens")
        .and(warp::get())
        .and(as_role(Role::Admin))
        .and(query())
        .and(ctx_filter())
        .then(handlers::tokens);
    let new_token = warp::path!("api" / "tokens")
        .and(warp::post())
        .and(changes(Role::Admin))
        .and(json_body())
        .and(ctx_filter())
        .then(handlers::create_token);
    let end_token = warp::path!("api" / "tokens" / String)
        .and(warp::delete())
        .and(changes(Role::Admin))
        .and(ctx_filter())
        .then(handlers::revoke_token);
    let put_sensor = warp::path!("api" / "sensors" / String)
        .and(warp::put())
        .and(changes(Role::Admin))
        .and(json_body())
        .and(ctx_filter())
        .then(handlers::put_sensor);
    let end_sensor = warp::path!("api" / "sensors" / String)
        .and(warp::delete())
        .and(changes(Role::Admin))
        .and(ctx_filter())
        .then(handlers::delete_sensor);
    let sensor_versions = warp::path!("api" / "sensors" / String / "versions")
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .then(handlers::sensor_versions);
    let import_sensors = warp::path!("api" / "sensors" / "import")
        .and(warp::post())
        .and(changes(Role::Admin))
        .and(query())
        .and(csv_body())
        .and(ctx_filter())
        .then(handlers::import_sensors);
    let kind_list = warp::path!("api" / "kinds")
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .then(handlers::kinds);
    let kind_one = warp::path!("api" / "kinds" / String)
        .and(warp::get())
        .and(viewer())
        .and(ctx_filter())
        .then(handlers::kind);
    let put_kind = warp::path!("api" / "kinds" / String)
        .and(warp::put())
        .and(changes(Role::Admin))
        .and(json_body())
        .and(ctx_filter())
        .then(handlers::put_kind);
    let end_kind = warp::path!("api" / "kinds" / String)
        .and(warp::delete())
        .and(changes(Role::Admin))
        .and(ctx_filter())
        .then(handlers::delete_kind);
    let audit = warp::path!("api" / "audit")
        .and(warp::get())
        .and(as_role(Role::Admin))
        .and(query())
        .and(ctx_filter())
        .then(handlers::audit);

    // Each route boxed, then chained pairwise: nesting `or` over unboxed
    // filters made the router's type (and its compile time) explode.
    let gets = [
        boxed(index),
        boxed(app),
        boxed(style),
        boxed(socket),
        boxed(me),
        boxed(sensors),
        boxed(history),
        boxed(sensor_versions),
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
        boxed(token_list),
        boxed(audit),
        boxed(kind_list),
        boxed(kind_one),
    ];
    let posts = [
        boxed(ack),
        boxed(new_silence),
        boxed(new_token),
        boxed(import_sensors),
    ];
    let puts = [boxed(put_sensor), boxed(put_kind)];
    let deletes = [
        boxed(end_silence),
        boxed(end_token),
        boxed(end_sensor),
        boxed(end_kind),
    ];
    // Paths are matched before methods (a method filter first would turn
    // every unknown path into a 405).
    let routed = gets
        .into_iter()
        .chain(posts)
        .chain(puts)
        .chain(deletes)
        .reduce(|a, b| a.or(b).unify().boxed())
        .unwrap_or_else(|| {
            boxed(warp::any().and_then(|| async { Err::<Response, _>(warp::reject::not_found()) }))
        });
    // Every 405 names what the path does allow (RFC 9110); a Host of
    // another name is refused before any route (DNS rebinding).
    warp::path::full()
        .and(
            known_host(Arc::clone(&ctx))
                .and(routed)
                // `find` searches every route's rejection: the ones a
                // request's own route gave (token, body, headers) are asked
                // for before 405, which any other route on the same path gives.
                .recover(filters::rejection)
                .unify(),
        )
        .map(|path: warp::path::FullPath, response: Response| {
            with_allow(ROUTES, path.as_str(), response)
        })
        .boxed()
}

/// The methods `ROUTES` serves on `path` (templates' `{x}` match one
/// segment; where templates of several shapes match, the most literal one
/// names the resource: `/api/sensors/import` is not `/api/sensors/{id}`).
pub fn allowed_methods(routes: &[(&'static str, &str)], path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let matching: Vec<(&'static str, usize)> = routes
        .iter()
        .filter_map(|(method, template)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                });
            let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
            matches.then_some((*method, literal))
        })
        .collect();
    let most = matching.iter().map(|(_, l)| *l).max().unwrap_or(0);
    let mut methods: Vec<&'static str> = matching
        .into_iter()
        .filter(|(_, l)| *l == most)
        .map(|(m, _)| m)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use serde_json::Value;

    use crate::config::ServerConfig;
    use crate::db::Db;
    use crate::hub::Hub;
    use crate::metrics::Metrics;
    use crate::openapi;

    /// A context without authentication (the routes' own checks).
    fn context() -> Arc<Context> {
        let mut config = ServerConfig::default();
        config.auth.enabled = false;
        context_with(config)
    }

    fn context_with(config: ServerConfig) -> Arc<Context> {
        let postgres = weir_connectors::postgres::PostgresConfig {
            url: std::env::var("WEIR_POSTGRES__URL")
                .unwrap_or_else(|_| weir_connectors::postgres::PostgresConfig::default().url),
            ..Default::default()
        };
        Arc::new(Context {
            hub: Hub::new(config, Arc::new(Metrics::default())),
            db: Db::new(postgres),
            brokers: "127.0.0.1:1".into(),
            control: None,
            heartbeat: Arc::default(),
            tokens: Arc::default(),
            scheme: "http",
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

    /// Tokens in memory (no database): a zone-03 viewer, an operator, an
    /// admin, and an expired operator.
    fn secured() -> (
        Arc<Context>,
        std::collections::HashMap<&'static str, String>,
    ) {
        use crate::auth::{Entry, Principal, token};
        let ctx = context_with(ServerConfig::default());
        let mut entries = std::collections::HashMap::new();
        let mut tokens = std::collections::HashMap::new();
        for (i, (name, role, zones, expires_ms)) in [
            ("viewer", Role::Viewer, Some("zone-03"), None),
            ("reader", Role::Viewer, None, None),
            ("operator", Role::Operator, None, None),
            ("admin", Role::Admin, None, None),
            ("expired", Role::Operator, None, Some(1_000)),
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("{i:012x}");
            let secret = format!("{}{id}_{}", token::PREFIX, format!("{i:x}").repeat(64));
            entries.insert(
                id.clone(),
                Entry {
                    hash: token::hash(&secret),
                    principal: Principal {
                        token_id: id,
                        name: name.into(),
                        role,
                        zones: zones.map(|z| [z.to_string()].into()),
                    },
                    expires_ms,
                },
            );
            tokens.insert(name, secret);
        }
        ctx.tokens.set(entries);
        (ctx, tokens)
    }

    fn call(method: &str, path: &str, token: Option<&str>) -> warp::test::RequestBuilder {
        let path = path
            .replace("{id}", "tmp-00001")
            .replace("{zone}", "zone-03")
            .replace("{name}", "vibration");
        let mut request = warp::test::request().method(method).path(&path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if path.starts_with("/ws") {
            request = request
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        if path == "/api/sensors/import" {
            request = request
                .header("content-type", "text/csv")
                .body("sensor_id,kind,zone\n");
        } else if method == "POST" || method == "PUT" {
            request = request
                .header("content-type", "application/json")
                .body("{}");
        }
        request
    }

    /// Every route without a token, with a wrong, an expired and a too-low
    /// one, and with the right one: 401, 401, 401, 403, and past the check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_route_asks_for_a_token_of_its_role() {
        let (ctx, tokens) = secured();
        let filter = routes(ctx);
        let below = |role: Role| match role {
            Role::Viewer => None,
            Role::Operator => Some("viewer"),
            Role::Admin => Some("operator"),
        };
        let holder = |role: Role| match role {
            Role::Viewer => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        };
        let wrong = format!(
            "{}000000000002_{}",
            crate::auth::token::PREFIX,
            "f".repeat(64)
        );
        for (method, path) in ROUTES {
            let status = |r: &warp::http::Response<bytes::Bytes>| r.status().as_u16();
            let Some(role) = role_of(method, path) else {
                let r = call(method, path, None).reply(&filter).await;
                assert!(
                    ![401, 403].contains(&status(&r)),
                    "{method} {path} is open: {}",
                    status(&r)
                );
                continue;
            };
            for token in [
                None,
                Some(wrong.as_str()),
                Some("garbage"),
                tokens.get("expired").map(String::as_str),
            ] {
                let r = call(method, path, token).reply(&filter).await;
                assert_eq!(
                    status(&r),
                    401,
                    "{method} {path} with {token:?}: {:?}",
                    r.body()
                );
            }
            if let Some(low) = below(role) {
                let r = call(method, path, tokens.get(low).map(String::as_str))
                    .reply(&filter)
                    .await;
                assert_eq!(status(&r), 403, "{method} {path} as {low}: {:?}", r.body());
            }
            let r = call(method, path, tokens.get(holder(role)).map(String::as_str))
                .reply(&filter)
                .await;
            assert!(
                ![401, 403, 415].contains(&status(&r)),
                "{method} {path} as {}: {} {:?}",
                holder(role),
                status(&r),
                r.body()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreign_pages_hosts_and_bodies_are_refused() {
        let (ctx, tokens) = secured();
        let filter = routes(ctx);
        let operator = tokens.get("operator").map(String::as_str);
        let viewer = tokens.get("viewer").map(String::as_str);
        let status = |r: warp::http::Response<bytes::Bytes>| {
            (
                r.status().as_u16(),
                String::from_utf8_lossy(r.body()).into_owned(),
            )
        };
        let (code, body) = status(
            call("POST", "/api/silences", operator)
                .header("origin", "http://evil.example")
                .header("host", "127.0.0.1:8080")
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("cross_origin"), "{body}");
        let (code, body) = status(
            warp::test::request()
                .method("POST")
                .path("/api/silences")
                .header(
                    "authorization",
                    format!("Bearer {}", operator.unwrap_or_default()),
                )
                .header("content-type", "text/plain")
                .body(r#"{"zone":"zone-01","duration_ms":1000}"#)
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 415, "{body}");
        let (code, body) = status(
            call("GET", "/ws", viewer)
                .header("origin", "http://evil.example")
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 403, "{body}");
        let (code, body) = status(
            call("GET", "/api/zones", viewer)
                .header("host", "rebound.evil.example:8080")
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 421, "{body}");
        // A zone-03 viewer asking for zone-01, over REST and the WebSocket.
        let (code, body) = status(
            call("GET", "/api/zones/zone-01", viewer)
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("forbidden_zone"), "{body}");
        let (code, body) = status(call("GET", "/ws?zone=zone-01", viewer).reply(&filter).await);
        assert_eq!(code, 403, "{body}");
        let (code, body) = status(
            call("GET", "/api/dead-letters", viewer)
                .reply(&filter)
                .await,
        );
        assert_eq!(code, 403, "{body}");
        let (code, body) = status(call("GET", "/api/me", viewer).reply(&filter).await);
        assert_eq!(code, 200, "{body}");
        assert!(
            body.contains("zone-03") && body.contains("viewer"),
            "{body}"
        );
    }

    #[test]
    fn allowed_methods_follow_the_templates() {
        assert_eq!(allowed_methods(ROUTES, "/api/silences"), ["GET", "POST"]);
        assert_eq!(allowed_methods(ROUTES, "/api/silences/s-1"), ["DELETE"]);
        assert_eq!(allowed_methods(ROUTES, "/api/sensors/x/history"), ["GET"]);
        assert_eq!(allowed_methods(ROUTES, "/api/sensors/import"), ["POST"]);
        assert_eq!(
            allowed_methods(ROUTES, "/api/sensors/x"),
            ["DELETE", "GET", "PUT"]
        );
        assert!(allowed_methods(ROUTES, "/api/sensors//history").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bodies_over_the_limit_get_413() {
        let filter = routes(context());
        let response = warp::test::request()
            .method("POST")
            .path("/api/silences")
            .header("content-type", "application/json")
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
