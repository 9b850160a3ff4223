//! The checks as warp filters, and the task that keeps the token table fresh.

use std::sync::Arc;
use std::time::Duration;

use warp::Filter;

use super::{Principal, Role, origin};
use crate::api::context::Context;
use crate::error::ApiError;
use crate::params::MAX_BODY_BYTES;

/// A refused request, answered as its [`ApiError`].
#[derive(Debug)]
pub struct Denied(pub ApiError);

impl warp::reject::Reject for Denied {}

fn deny(e: ApiError) -> warp::Rejection {
    warp::reject::custom(Denied(e))
}

/// The token of a request: `Authorization: Bearer <t>`, or (browsers cannot
/// set headers on a WebSocket) a `Sec-WebSocket-Protocol` entry `bearer.<t>`.
pub fn presented(authorization: Option<&str>, protocols: Option<&str>) -> Option<String> {
    let bearer = weir_connectors::ingest::auth::bearer(authorization);
    let protocol = protocols.and_then(|p| {
        p.split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("bearer."))
    });
    bearer.or(protocol).map(str::to_string)
}

/// The identity of a request that holds a token of at least `role`
/// (everyone, as an admin, when authentication is disabled).
pub fn principal(
    ctx: Arc<Context>,
    role: Role,
) -> impl Filter<Extract = (Principal,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::header::optional::<String>("sec-websocket-protocol"))
        .and_then(
            move |authorization: Option<String>, protocols: Option<String>| {
                let ctx = Arc::clone(&ctx);
                async move { identify(&ctx, authorization.as_deref(), protocols.as_deref(), role) }
            },
        )
}

/// Passes when `open`, else asks for a viewer's token (`/metrics`, `/health`).
pub fn open_or_viewer(
    ctx: Arc<Context>,
    open: bool,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |authorization: Option<String>| {
            let ctx = Arc::clone(&ctx);
            async move {
                if !open {
                    identify(&ctx, authorization.as_deref(), None, Role::Viewer)?;
                }
                Ok::<_, warp::Rejection>(())
            }
        })
        .untuple_one()
}

/// The caller, from its bearer token (in `Authorization`, or for the
/// WebSocket in its protocol list), if it holds `role`; anonymous with
/// authentication off.
fn identify(
    ctx: &Context,
    authorization: Option<&str>,
    protocols: Option<&str>,
    role: Role,
) -> Result<Principal, warp::Rejection> {
    if !ctx.hub.config().auth.enabled {
        return Ok(Principal::anonymous());
    }
    let token = presented(authorization, protocols);
    let principal = ctx
        .tokens
        .authenticate(token.as_deref(), crate::hub::now_ms())
        .map_err(deny)?;
    principal.require(role).map_err(deny)?;
    Ok(principal)
}

/// Refuses a `Host` outside `server.auth.allowed_hosts` (421).
pub fn known_host(ctx: Arc<Context>) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and_then(move |host: Option<String>| {
            let ctx = Arc::clone(&ctx);
            async move {
                origin::check_host(host.as_deref(), &ctx.hub.config().auth.allowed_hosts)
                    .map_err(deny)
            }
        })
        .untuple_one()
}

/// Refuses a page of another origin (403): for the WebSocket and every
/// state-changing request.
pub fn same_origin(
    ctx: Arc<Context>,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("host"))
        .and_then(move |origin: Option<String>, host: Option<String>| {
            let ctx = Arc::clone(&ctx);
            async move {
                origin::check_origin(
                    origin.as_deref(),
                    host.as_deref(),
                    ctx.scheme,
                    &ctx.hub.config().auth.allowed_origins,
                )
                .map_err(deny)
            }
        })
        .untuple_one()
}

/// A JSON body of at most [`MAX_BODY_BYTES`]: 415 for another content
/// type, 413 beyond the size, 411 without a length.
pub fn json_body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            origin::check_json(content_type.as_deref()).map_err(deny)
        })
        .untuple_one()
        .and(warp::body::content_length_limit(MAX_BODY_BYTES))
        .and(warp::body::bytes())
}

/// A `text/csv` body (415 otherwise), at most the import size.
pub fn csv_body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            origin::check_content_type(content_type.as_deref(), "text/csv").map_err(deny)
        })
        .untuple_one()
        .and(warp::body::content_length_limit(MAX_CSV_BYTES))
        .and(warp::body::bytes())
}

/// The largest CSV import body: 8 MiB (some 50,000 sensors).
pub const MAX_CSV_BYTES: u64 = 8 << 20;

/// Rereads `api_tokens` every `server.auth.refresh_ms` (a failed read keeps
/// the tokens already read and is logged).
pub async fn refresh(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.hub.config().auth.refresh_ms.max(100));
    let mut failing = false;
    loop {
        match reload(&ctx).await {
            Ok(()) if failing => {
                tracing::info!("API tokens read again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e.detail, "cannot read API tokens (keeping the ones read before)");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// Reads `api_tokens` now.
pub async fn reload(ctx: &Context) -> Result<(), ApiError> {
    let client = ctx.db.client().await?;
    let entries = super::store::load(&client)
        .await
        .map_err(crate::db::query_error)?;
    if entries.is_empty() && !ctx.tokens.loaded() {
        tracing::warn!(
            "no API tokens exist: every request but the dashboard's files will get 401; \
             create one with `weir token create --name NAME --role admin`"
        );
    }
    ctx.tokens.set(entries);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_or_the_websocket_protocol() {
        assert_eq!(presented(Some("Bearer abc"), None).as_deref(), Some("abc"));
        assert_eq!(presented(Some("Basic abc"), None), None);
        assert_eq!(
            presented(None, Some("weir, bearer.xyz")).as_deref(),
            Some("xyz")
        );
        assert_eq!(
            presented(Some("Bearer a"), Some("bearer.b")).as_deref(),
            Some("a")
        );
        assert_eq!(presented(None, Some("weir")), None);
        assert_eq!(presented(Some("Bearer  "), None), None);
    }
}
