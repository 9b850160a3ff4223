//! Cross-site checks: the `Host` a request names (DNS rebinding) and the
//! `Origin` of WebSocket upgrades and state-changing requests (CSRF,
//! cross-site WebSocket hijacking). Pure functions of the headers.

use warp::http::StatusCode;

use crate::error::ApiError;

/// The host part of a `Host` header or an origin's authority (no port, no brackets).
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

/// A 421 unless `host` (the `Host` header) is an IP address or a name in
/// `allowed` (case-insensitive). A rebinding attack needs a DNS name that
/// the attacker controls, so IP literals are safe; a missing Host (HTTP/1.0
/// clients) is accepted.
pub fn check_host(host: Option<&str>, allowed: &[String]) -> Result<(), ApiError> {
    let Some(host) = host else { return Ok(()) };
    let name = host_name(host.trim());
    if name.parse::<std::net::IpAddr>().is_ok()
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::MISDIRECTED_REQUEST,
        error: "unknown_host",
        detail: format!(
            "Host `{}` is not served here: add it to server.auth.allowed_hosts",
            host.escape_default()
        ),
    })
}

/// A 403 when a browser's `Origin` is neither this server (`scheme://`
/// and the request's `Host`) nor in `allowed`. Requests without an Origin
/// come from programs, not pages, and pass; `null` (sandboxed frames,
/// `file:` pages) is refused.
pub fn check_origin(
    origin: Option<&str>,
    host: Option<&str>,
    scheme: &str,
    allowed: &[String],
) -> Result<(), ApiError> {
    let Some(origin) = origin else { return Ok(()) };
    let origin = origin.trim();
    let same = host.is_some_and(|h| origin.eq_ignore_ascii_case(&format!("{scheme}://{h}")));
    let listed = allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if same || listed {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        error: "cross_origin",
        detail: format!(
            "Origin `{}` may not change state or open the WebSocket here: add it to server.auth.allowed_origins",
            origin.escape_default()
        ),
    })
}

/// A 415 unless the `Content-Type` is `application/json` (any parameters).
/// Browsers send a cross-site form or `text/plain` POST without asking the
/// server first; a JSON content type makes them ask (CORS preflight),
/// which this server never grants.
pub fn check_json(content_type: Option<&str>) -> Result<(), ApiError> {
    check_content_type(content_type, "application/json")
}

/// Like [`check_json`], for another media type (`text/csv`): a form cannot
/// send it across sites without a preflight either.
pub fn check_content_type(content_type: Option<&str>, wanted: &str) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case(wanted) {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        error: "unsupported_media_type",
        detail: format!(
            "send `Content-Type: {wanted}` (got `{}`)",
            content_type.unwrap_or("none").escape_default()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_addresses_or_listed_names() {
        let allowed = vec!["localhost".to_string(), "weir.example.net".to_string()];
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "10.0.0.7",
            "weir.example.net:443",
        ] {
            assert!(check_host(Some(ok), &allowed).is_ok(), "{ok}");
        }
        assert!(check_host(None, &allowed).is_ok());
        for bad in [
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ] {
            let e = check_host(Some(bad), &allowed).err();
            assert!(e.is_some_and(|e| e.status == 421), "{bad}");
        }
    }

    #[test]
    fn origins_are_this_server_or_listed() {
        let allowed = vec!["https://ops.example.net".to_string()];
        let check = |o, h| check_origin(o, h, "http", &allowed);
        assert!(check(None, Some("127.0.0.1:8080")).is_ok());
        assert!(check(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")).is_ok());
        assert!(check(Some("https://ops.example.net"), Some("10.0.0.1")).is_ok());
        for bad in [
            "http://evil.example",
            "http://127.0.0.1:9999",
            "null",
            "https://127.0.0.1:8080",
        ] {
            assert!(
                check(Some(bad), Some("127.0.0.1:8080")).is_err_and(|e| e.status == 403),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_json_bodies_change_state() {
        assert!(check_json(Some("application/json")).is_ok());
        assert!(check_json(Some("Application/JSON; charset=utf-8")).is_ok());
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            assert!(check_json(bad).is_err_and(|e| e.status == 415), "{bad:?}");
        }
    }
}
