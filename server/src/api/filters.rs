//! The filters routes share: the raw query string, a bounded body, the
//! handlers' context, and every rejection as a JSON error.

use std::sync::Arc;

use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::context::Context;
use crate::auth::web::Denied;
use crate::error::ApiError;
use crate::params::MAX_BODY_BYTES;

/// The raw query string (empty when absent).
pub fn query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// The handlers' context.
pub fn with_ctx(
    ctx: Arc<Context>,
) -> impl Filter<Extract = (Arc<Context>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || Arc::clone(&ctx))
}

/// A rejection as a JSON error. `find` searches every route's rejection:
/// the ones a request's own route gave (body, headers) are asked for
/// before 405, which any other route on the same path gives.
pub async fn rejection(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if let Some(Denied(e)) = rejection.find::<Denied>() {
        e.clone()
    } else if rejection.is_not_found() {
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
            detail: "method not allowed on this route (see Allow and /api/openapi.json)".into(),
        }
    } else {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            detail: format!("{rejection:?}"),
        }
    };
    Ok(error.into_response())
}
