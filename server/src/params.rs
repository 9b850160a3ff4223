//! Request parameters: the query string and path segments, checked before
//! any of them reaches PostgreSQL, so bad input is a 400 naming the
//! parameter and never a 5xx. The OpenAPI document states the same limits
//! ([`crate::openapi`] reads the constants here).

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::ws::percent_decode;

/// The largest request body (acks and silences).
pub const MAX_BODY_BYTES: u64 = 16 << 10;

/// The earliest time a parameter may name: 0001-01-01T00:00:00Z (ms).
pub const MIN_TIME_MS: i64 = -62_135_596_800_000;
/// The latest time a parameter may name: 9999-12-31T23:59:59.999Z (ms).
/// PostgreSQL's `timestamptz` holds more, but not all of `i64`.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// The longest sensor id (the decoder's limit).
pub const MAX_SENSOR_ID_CHARS: usize = weir_dataflow::model::MAX_SENSOR_ID_BYTES;
/// The longest zone (the registry's limit).
pub const MAX_ZONE_CHARS: usize = weir_dataflow::model::MAX_ZONE_BYTES;
/// The longest alert or silence id, dead-letter reason or other name.
pub const MAX_NAME_CHARS: usize = 256;
/// A sensor id, as a JSON-schema pattern (the decoder's rule).
pub const SENSOR_ID_PATTERN: &str = "^[A-Za-z0-9._:-]+$";
/// Text without control characters (`char::is_control`: C0, DEL, C1), as a
/// JSON-schema pattern: PostgreSQL cannot store NUL, and the others are never
/// part of a name.
pub const NO_CONTROL_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Query parameters as a map (later duplicates win; `zone` lists are read by
/// `/ws` itself), percent-decoded. A name or value holding a control
/// character (a NUL byte and the like) is a 400.
pub fn query(raw: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        if key.chars().any(char::is_control) {
            return Err(ApiError::bad_parameter(
                &key.escape_default().to_string(),
                "the name contains a control character",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(ApiError::bad_parameter(
                &key,
                "contains a control character (NUL and the like)",
            ));
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// A boolean parameter (`true` or `false`; absent: false).
pub fn flag(params: &BTreeMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(ApiError::bad_parameter(
            name,
            format!("`{v}`: expected true or false"),
        )),
    }
}

/// A 400 naming the first parameter not in `allowed`.
pub fn only(params: &BTreeMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_parameter(
            k,
            format!("unknown parameter (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The `limit` parameter: 1 to 1000, default 100.
pub fn limit(params: &BTreeMap<String, String>) -> Result<i64, ApiError> {
    match params.get("limit") {
        None => Ok(100),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=1_000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_parameter(
                "limit",
                format!("`{v}` is not a number from 1 to 1000"),
            )),
        },
    }
}

/// The epoch-milliseconds parameter `name`, if given; a 400 naming it if it
/// is not an integer from [`MIN_TIME_MS`] to [`MAX_TIME_MS`].
pub fn time(params: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| match v.parse::<i64>() {
            Ok(t) => time_in_range(name, t),
            Err(_) => Err(ApiError::bad_parameter(
                name,
                format!("`{v}` is not a time in epoch milliseconds"),
            )),
        })
        .transpose()
}

/// `t` if it lies from year 1 to year 9999, else a 400 naming `name`.
pub fn time_in_range(name: &str, t: i64) -> Result<i64, ApiError> {
    if (MIN_TIME_MS..=MAX_TIME_MS).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::bad_parameter(
            name,
            format!(
                "{t} is outside {MIN_TIME_MS}..={MAX_TIME_MS} (years 1 to 9999 in epoch milliseconds)"
            ),
        ))
    }
}

/// A text parameter of at most `max` characters (and at least one), without
/// control characters.
pub fn text(
    params: &BTreeMap<String, String>,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    params
        .get(name)
        .map(|v| checked_text(name, v.clone(), max))
        .transpose()
}

fn checked_text(name: &str, value: String, max: usize) -> Result<String, ApiError> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(ApiError::bad_parameter(
            name,
            format!("{chars} characters; expected 1 to {max}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_parameter(
            name,
            "contains a control character (NUL and the like)",
        ));
    }
    Ok(value)
}

/// A path segment naming something (an alert, a silence, a zone): decoded,
/// 1 to `max` characters, no control character.
pub fn name_segment(name: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    checked_text(name, percent_decode(raw), max)
}

/// A path segment holding a sensor id: decoded, 1 to 128 characters of
/// `A-Z a-z 0-9 . _ : -` (what the decoder accepts; no reading has another).
pub fn sensor_segment(raw: &str) -> Result<String, ApiError> {
    let id = percent_decode(raw);
    match weir_dataflow::model::SensorId::new(id.clone()) {
        Ok(_) => Ok(id),
        Err(e) => Err(ApiError::bad_parameter(
            "id",
            format!(
                "`{}` is not a sensor id ({e}): 1 to {MAX_SENSOR_ID_CHARS} of A-Z a-z 0-9 . _ : -",
                id.escape_default()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_by_name() {
        let err = |raw: &str| query(raw).err().map(|e| e.detail).unwrap_or_default();
        assert!(err("zone=a%00b").contains("`zone`"));
        assert!(err("zone=%1F").contains("control"));
        assert!(err("a%00=1").contains("control"));
        assert_eq!(
            query("zone=zone%2001&limit=5")
                .ok()
                .and_then(|p| p.get("zone").cloned()),
            Some("zone 01".to_string())
        );
    }

    #[test]
    fn times_outside_years_1_to_9999_are_refused() {
        let params = |v: &str| BTreeMap::from([("from".to_string(), v.to_string())]);
        assert_eq!(time(&params("0"), "from").ok(), Some(Some(0)));
        assert_eq!(
            time(&params(&MAX_TIME_MS.to_string()), "from").ok(),
            Some(Some(MAX_TIME_MS))
        );
        for bad in [
            (MAX_TIME_MS + 1).to_string(),
            (MIN_TIME_MS - 1).to_string(),
            i64::MIN.to_string(),
            "1e3".into(),
        ] {
            let e = time(&params(&bad), "from").err();
            assert!(e.is_some_and(|e| e.detail.contains("`from`")), "{bad}");
        }
    }

    #[test]
    fn ids_follow_their_patterns() {
        assert_eq!(
            sensor_segment("tmp-00001").ok().as_deref(),
            Some("tmp-00001")
        );
        assert!(sensor_segment("a%00").is_err());
        assert!(sensor_segment("a%20b").is_err());
        assert!(sensor_segment(&"a".repeat(129)).is_err());
        assert!(name_segment("id", "", 8).is_err());
        assert!(name_segment("id", "%7F", 8).is_err());
        assert!(name_segment("id", "%C3%A9t%C3%A9", 3).is_ok());
        assert!(name_segment("id", "abcd", 3).is_err());
    }
}
