//! The HTTP gateway (warp): `POST /ingest` (one reading) and
//! `POST /ingest/batch` (a JSON array, or NDJSON), plus `GET /metrics`,
//! `GET /health` and `GET /openapi.json` ([`super::openapi`], whose test
//! keeps it in step with these routes).
//!
//! ```text
//!  request ─ Content-Length ≤ max (413; 411 without one) ─ body within body_timeout (408)
//!          ─ gzip? inflate to at most max_body_bytes (413) ─ Bearer token (401) ─ parse
//!          ─ each reading: validate (400 lists index + reason), its sensor allowed (403)
//!          ─ rate limits (429 + Retry-After) ─ disk buffer (503 + Retry-After when full) ─ 202
//! ```
//!
//! In a batch, valid readings are accepted even when others are not: the
//! answer is then 400 with `accepted` and the `rejected` list. Every error
//! is `{"error", "detail"}`.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Buf, Filter, Reply};

use super::auth::{Auth, AuthError, rate_key};
use super::config::HttpConfig;
use super::gateway::{Gateway, Refusal, Rejection, Valid, validate};

/// What the routes share.
pub struct HttpContext {
    /// The front door.
    pub gateway: Gateway,
    /// Tokens.
    pub auth: Auth,
    /// Limits.
    pub config: HttpConfig,
    /// `/metrics` text.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    let body = json!({"error": code, "detail": detail.into()});
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// An error answer, built into a response at the end.
struct Fail(StatusCode, &'static str, String);

impl Fail {
    fn response(self) -> Response {
        error(self.0, self.1, self.2)
    }
}

fn refused(refusal: &Refusal) -> Response {
    let (status, detail) = match refusal {
        Refusal::RateLimited(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "over the rate limit of this gateway or device".to_string(),
        ),
        Refusal::BufferFull(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the ingest buffer is full (Kafka is slow or unreachable); nothing was kept"
                .to_string(),
        ),
        Refusal::Unavailable(e) => (StatusCode::SERVICE_UNAVAILABLE, e.clone()),
    };
    let mut response = error(status, refusal.code(), detail);
    if let Ok(value) = refusal.retry_after_secs().to_string().parse() {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Which route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Single,
    Batch,
}

/// Reads the body within the timeout and the size limit.
async fn body(
    stream: impl futures_util::Stream<Item = Result<impl Buf, warp::Error>> + Unpin,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Fail> {
    let collect = async {
        let mut stream = stream;
        let mut out: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let mut chunk =
                chunk.map_err(|e| Fail(StatusCode::BAD_REQUEST, "bad_body", e.to_string()))?;
            if out.len() + chunk.remaining() > limit {
                return Err(Fail(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body exceeds {limit} bytes"),
                ));
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                out.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, collect)
        .await
        .unwrap_or_else(|_| {
            Err(Fail(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the body did not arrive within {} ms", timeout.as_millis()),
            ))
        })
}

/// Inflates a gzip body to at most `limit` bytes.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        Fail(
            StatusCode::BAD_REQUEST,
            "bad_gzip",
            format!("not a valid gzip body: {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(Fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body inflates to more than {limit} bytes"),
        ));
    }
    Ok(out)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The payloads of a batch body: (index, bytes); `Err` when the body as a whole is bad.
fn split_batch(
    body: &[u8],
    content_type: Option<&str>,
    max: usize,
) -> Result<Vec<(usize, Vec<u8>)>, Fail> {
    let mime = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".into());
    let items: Vec<(usize, Vec<u8>)> = match mime.as_str() {
        "application/json" => {
            let raw: Vec<&serde_json::value::RawValue> =
                serde_json::from_slice(body).map_err(|e| {
                    Fail(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        format!("the batch is not a JSON array of readings: {e}"),
                    )
                })?;
            raw.into_iter()
                .enumerate()
                .map(|(i, r)| (i, r.get().as_bytes().to_vec()))
                .collect()
        }
        "application/x-ndjson" | "application/jsonl" | "application/json-seq" => body
            .split(|b| *b == b'\n')
            .enumerate()
            .map(|(i, line)| (i, line.strip_suffix(b"\r").unwrap_or(line)))
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(i, line)| (i, line.to_vec()))
            .collect(),
        other => {
            return Err(Fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                format!(
                    "`{other}`: a batch is application/json (an array) or application/x-ndjson"
                ),
            ));
        }
    };
    if items.is_empty() {
        return Err(Fail(
            StatusCode::BAD_REQUEST,
            "empty",
            "the batch holds no reading".into(),
        ));
    }
    if items.len() > max {
        return Err(Fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_readings",
            format!("{} readings; at most {max} per batch", items.len()),
        ));
    }
    Ok(items)
}

async fn ingest(
    ctx: Arc<HttpContext>,
    kind: Kind,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    raw: Vec<u8>,
) -> Response {
    let device = match ctx.auth.device(header(&headers, "authorization")) {
        Ok(device) => device,
        Err(AuthError::Missing) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <device token>`",
            );
        }
        Err(AuthError::Unknown) => {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token");
        }
    };
    let body = match header(&headers, "content-encoding").map(|e| e.trim().to_ascii_lowercase()) {
        None => raw,
        Some(e) if e == "identity" => raw,
        Some(e) if e == "gzip" || e == "x-gzip" => match gunzip(&raw, ctx.config.max_body_bytes) {
            Ok(body) => body,
            Err(fail) => return fail.response(),
        },
        Some(other) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding `{other}`: only gzip is accepted"),
            );
        }
    };
    let content_type = header(&headers, "content-type");
    let items = match kind {
        Kind::Single => vec![(0, body)],
        Kind::Batch => match split_batch(&body, content_type, ctx.config.max_batch) {
            Ok(items) => items,
            Err(fail) => return fail.response(),
        },
    };
    let item_type = match kind {
        Kind::Single => content_type,
        Kind::Batch => Some("application/json"),
    };
    let mut valid: Vec<Valid> = Vec::with_capacity(items.len());
    let mut rejected: Vec<Rejection> = Vec::new();
    let total = items.len();
    for (index, payload) in items {
        match validate(payload, item_type, index) {
            Ok(v) => valid.push(v),
            Err(r) => rejected.push(r),
        }
    }
    if let Some(device) = &device
        && let Some(v) = valid.iter().find(|v| !device.allows(&v.sensor_id))
    {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "device `{}` may not send readings of `{}`",
                device.name, v.sensor_id
            ),
        );
    }
    ctx.gateway.rejected(&rejected);
    let who = rate_key(device.as_ref(), remote);
    let accepted = match ctx.gateway.admit(&who, valid).await {
        Ok(n) => n,
        Err(refusal) => return refused(&refusal),
    };
    if rejected.is_empty() {
        return warp::reply::with_status(
            warp::reply::json(&json!({"accepted": accepted})),
            StatusCode::ACCEPTED,
        )
        .into_response();
    }
    if kind == Kind::Single
        && let Some(r) = rejected.first()
    {
        let status = if r.reason == "unknown_content_type" {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({"error": r.reason, "detail": r.detail, "field": r.field});
        return warp::reply::with_status(warp::reply::json(&body), status).into_response();
    }
    let body = json!({
        "error": "bad_readings",
        "detail": format!("{} of {} readings rejected; the other {accepted} were accepted", rejected.len(), total),
        "accepted": accepted,
        "rejected": rejected,
    });
    warp::reply::with_status(warp::reply::json(&body), StatusCode::BAD_REQUEST).into_response()
}

fn boxed<F>(filter: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    filter.boxed()
}

/// The routes.
pub fn routes(ctx: Arc<HttpContext>) -> BoxedFilter<(Response,)> {
    let with = {
        let ctx = Arc::clone(&ctx);
        move || {
            let ctx = Arc::clone(&ctx);
            warp::any().map(move || Arc::clone(&ctx))
        }
    };
    let limit = ctx.config.max_body_bytes as u64;
    let post = |path: BoxedFilter<()>, kind: Kind| {
        path.and(warp::post())
            .and(warp::body::content_length_limit(limit))
            .and(warp::header::headers_cloned())
            .and(warp::addr::remote())
            .and(warp::body::stream())
            .and(with())
            .then(
                move |headers: HeaderMap,
                      remote: Option<SocketAddr>,
                      stream,
                      ctx: Arc<HttpContext>| async move {
                    let timeout = Duration::from_millis(ctx.config.body_timeout_ms);
                    match body(Box::pin(stream), ctx.config.max_body_bytes, timeout).await {
                        Ok(raw) => ingest(ctx, kind, headers, remote, raw).await,
                        Err(fail) => fail.response(),
                    }
                },
            )
    };
    let single = boxed(post(warp::path!("ingest").boxed(), Kind::Single));
    let batch = boxed(post(warp::path!("ingest" / "batch").boxed(), Kind::Batch));
    let metrics = boxed(warp::path!("metrics").and(warp::get()).and(with()).map(
        |ctx: Arc<HttpContext>| {
            warp::reply::with_header((ctx.metrics)(), "content-type", "text/plain; version=0.0.4")
                .into_response()
        },
    ));
    let health = boxed(
        warp::path!("health")
            .and(warp::get())
            .map(|| warp::reply::json(&json!({"status": "ok"})).into_response()),
    );
    let spec = boxed(
        warp::path!("openapi.json")
            .and(warp::get())
            .and(with())
            .map(|ctx: Arc<HttpContext>| {
                warp::reply::json(&super::openapi::document(&ctx.config)).into_response()
            }),
    );
    let routed = single
        .or(batch)
        .unify()
        .boxed()
        .or(metrics)
        .unify()
        .boxed()
        .or(health)
        .unify()
        .boxed()
        .or(spec)
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            let response = if rejection.is_not_found() {
                error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "POST /ingest or /ingest/batch",
                )
            } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body exceeds the size limit",
                )
            } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
                error(
                    StatusCode::LENGTH_REQUIRED,
                    "length_required",
                    "send a Content-Length",
                )
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "POST /ingest or /ingest/batch",
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("{rejection:?}"),
                )
            };
            Ok::<_, std::convert::Infallible>(response)
        })
        .unify();
    // A 405 names the methods its path serves (RFC 9110).
    warp::path::full()
        .and(routed)
        .map(|path: warp::path::FullPath, mut response: Response| {
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Ok(allow) = super::openapi::allowed_methods(path.as_str()).parse()
            {
                response.headers_mut().insert("allow", allow);
            }
            response
        })
        .boxed()
}

/// Serves the routes on `listener` until the runtime stops.
pub fn serve(
    listener: tokio::net::TcpListener,
    ctx: Arc<HttpContext>,
    tls: Option<crate::tls::Tls>,
) {
    match tls {
        Some(tls) => {
            tokio::spawn(crate::tls::serve_warp(
                listener,
                tls.http1_only(),
                routes(ctx),
            ));
        }
        None => {
            tokio::spawn(warp::serve(routes(ctx)).incoming(listener).run());
        }
    }
}
