//! API errors: `{"error": code, "detail": text}` with a 4xx/5xx status.

use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;

/// An error answer.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code (`bad_parameter`, `not_found`, …).
    pub error: &'static str,
    /// What was wrong, for a person.
    pub detail: String,
}

impl ApiError {
    /// 400 naming the parameter.
    pub fn bad_parameter(name: &str, detail: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_parameter",
            detail: format!("`{name}`: {detail}"),
        }
    }

    /// 400 for a response that would be too large.
    pub fn too_many_points(detail: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "too_many_points",
            detail,
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            detail: detail.into(),
        }
    }

    /// 403 with a reason.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            error: "forbidden",
            detail: detail.into(),
        }
    }

    /// 409: the request conflicts with what is stored (`error` says how).
    pub fn conflict(error: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            error,
            detail: detail.into(),
        }
    }

    /// 503: a backing service is unavailable.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "unavailable",
            detail: detail.into(),
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response {
        let body = json!({"error": self.error, "detail": self.detail});
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

use warp::Reply;

/// A handler's result as a response.
pub fn respond<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => warp::reply::json(&value).into_response(),
        Err(e) => e.into_response(),
    }
}
