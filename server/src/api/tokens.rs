//! The body of `POST /api/tokens`, checked field by field.

use std::collections::BTreeSet;

use serde_json::Value;
use warp::http::StatusCode;

use crate::auth::Role;
use crate::auth::store::{CreateError, NewToken, bad_name};
use crate::error::ApiError;
use crate::params::{MAX_TIME_MS, MAX_ZONE_CHARS};

/// A token lives this long unless `expires` or `expires_in_ms` says otherwise.
pub const DEFAULT_LIFETIME_MS: i64 = 90 * 86_400_000;

fn bad(field: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        error: "bad_body",
        detail: format!("`{field}`: {detail}"),
    }
}

/// `{"name", "role", "zones"?, "expires"? | "expires_in_ms"?}` at `now_ms`;
/// `"expires": null` with no `expires_in_ms` means never.
pub fn new_token(body: &[u8], now_ms: i64) -> Result<NewToken, ApiError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("body", "expected a JSON object"));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["name", "role", "zones", "expires", "expires_in_ms"].contains(&k.as_str()))
    {
        return Err(bad(k, "unknown field"));
    }
    let name = match map.get("name") {
        Some(Value::String(n)) => n.clone(),
        _ => return Err(bad("name", "required, a string")),
    };
    if let Some(why) = bad_name(&name) {
        return Err(bad("name", why));
    }
    let role = match map.get("role") {
        Some(Value::String(r)) => Role::parse(r)
            .ok_or_else(|| bad("role", format!("`{r}`: expected viewer, operator or admin")))?,
        _ => return Err(bad("role", "required: viewer, operator or admin")),
    };
    let zones = match map.get("zones") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut zones = BTreeSet::new();
            for item in items {
                let Value::String(zone) = item else {
                    return Err(bad("zones", "expected strings"));
                };
                if zone.is_empty()
                    || zone.len() > MAX_ZONE_CHARS
                    || zone.chars().any(char::is_control)
                {
                    return Err(bad(
                        "zones",
                        format!(
                            "`{}`: 1 to {MAX_ZONE_CHARS} characters, none a control character",
                            zone.escape_default()
                        ),
                    ));
                }
                zones.insert(zone.clone());
            }
            if zones.is_empty() {
                return Err(bad("zones", "empty: leave it out for every zone"));
            }
            Some(zones)
        }
        Some(_) => return Err(bad("zones", "expected an array of zone names")),
    };
    if role == Role::Admin && zones.is_some() {
        return Err(bad(
            "zones",
            "an admin token sees every zone (it can create any token)",
        ));
    }
    let expires_ms = match (map.get("expires"), map.get("expires_in_ms")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "expires_in_ms",
                "give `expires` or `expires_in_ms`, not both",
            ));
        }
        (None, None) => Some(now_ms.saturating_add(DEFAULT_LIFETIME_MS)),
        (Some(Value::Null), None) => None,
        (Some(Value::Number(n)), None) => Some(
            n.as_i64()
                .filter(|t| *t > now_ms && *t <= MAX_TIME_MS)
                .ok_or_else(|| bad("expires", "epoch milliseconds in the future"))?,
        ),
        (Some(Value::String(s)), None) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| bad("expires", format!("`{s}` is not RFC 3339: {e}")))?;
            let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
            if ms <= now_ms || ms > MAX_TIME_MS {
                return Err(bad(
                    "expires",
                    format!("`{s}` is not in the future (before year 10000)"),
                ));
            }
            Some(ms)
        }
        (Some(_), None) => {
            return Err(bad(
                "expires",
                "epoch milliseconds, RFC 3339 text or null (never)",
            ));
        }
        (None, Some(Value::Number(n))) => Some(
            n.as_i64()
                .filter(|d| *d > 0 && now_ms.saturating_add(*d) <= MAX_TIME_MS)
                .map(|d| now_ms + d)
                .ok_or_else(|| bad("expires_in_ms", "a positive number of milliseconds"))?,
        ),
        (None, Some(_)) => return Err(bad("expires_in_ms", "a positive number of milliseconds")),
    };
    Ok(NewToken {
        name,
        role,
        zones,
        expires_ms,
    })
}

/// A creation failure as an answer (409 for a name in use).
pub fn create_error(e: CreateError) -> ApiError {
    match e {
        CreateError::NameTaken(_) => ApiError {
            status: StatusCode::CONFLICT,
            error: "name_taken",
            detail: e.to_string(),
        },
        other => ApiError::unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn detail(body: &str) -> String {
        new_token(body.as_bytes(), NOW)
            .err()
            .map(|e| e.detail)
            .unwrap_or_default()
    }

    #[test]
    fn a_token_body_names_a_role_zones_and_an_expiry() -> Result<(), ApiError> {
        let t = new_token(
            br#"{"name":"ops","role":"operator","zones":["zone-03"]}"#,
            NOW,
        )?;
        assert_eq!(t.role, Role::Operator);
        assert_eq!(t.expires_ms, Some(NOW + DEFAULT_LIFETIME_MS));
        assert_eq!(t.zones, Some(["zone-03".to_string()].into()));
        let t = new_token(br#"{"name":"ci","role":"viewer","expires":null}"#, NOW)?;
        assert_eq!(t.expires_ms, None);
        let t = new_token(br#"{"name":"ci","role":"viewer","expires_in_ms":5}"#, NOW)?;
        assert_eq!(t.expires_ms, Some(NOW + 5));
        assert!(detail(r#"{"name":"a b","role":"viewer"}"#).contains("`name`"));
        assert!(detail(r#"{"name":"a","role":"root"}"#).contains("`role`"));
        assert!(detail(r#"{"name":"a","role":"admin","zones":["z"]}"#).contains("admin"));
        assert!(detail(r#"{"name":"a","role":"viewer","zones":[]}"#).contains("empty"));
        assert!(detail(r#"{"name":"a","role":"viewer","zones":["\u0000"]}"#).contains("control"));
        assert!(detail(r#"{"name":"a","role":"viewer","expires":5}"#).contains("future"));
        assert!(detail(r#"{"name":"a","role":"viewer","expires_in_ms":-1}"#).contains("positive"));
        assert!(detail(r#"{"name":"a","role":"viewer","secret":"x"}"#).contains("unknown"));
        Ok(())
    }
}
