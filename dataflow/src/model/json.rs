//! The JSON wire formats v1 and v2: decoded by hand from a `serde_json::Value` so every error names its field, and encoded back.
//!
//! v1 (original firmware): `{"sensorId": "tv-0042", "timestamp": 1764000000000, "value": 21.5}`
//! plus optional `"flags"`. No `schemaVersion` (or `"schemaVersion": 1`) means v1.
//!
//! v2: `"schemaVersion": 2`, `"sensorId"` or `"sensor_id"`, `"ts"` as an RFC 3339 string (any
//! offset) or epoch-ms integer, `"value"`, optional `"unit"`, `"battery"` (0..=100) and
//! `"flags"`.
//!
//! Both: unknown fields are ignored (forward compatibility); an optional field that is absent or
//! `null` takes its default; a required field that is absent or `null` is
//! [`Missing`](DecodeReason::Missing).

use serde::Serialize;
use serde_json::error::Category;
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::reading::{
    MAX_FLAG_BYTES, MAX_UNIT_BYTES, check_battery, check_flag_count, check_len, check_payload_size,
    check_ts_ms, check_value,
};
use super::{Format, Reading, SensorId};
use crate::error::{DecodeError, DecodeReason};

/// Decodes a v1 or v2 JSON reading (the version comes from `schemaVersion`).
pub fn decode_json(payload: &[u8]) -> Result<Reading, DecodeError> {
    let obj = parse_object(payload)?;
    match schema_version(&obj)? {
        Format::JsonV1 => decode_v1(&obj),
        _ => decode_v2(&obj),
    }
}

/// Encodes as v1: `sensorId`, `timestamp` (epoch ms), `value`, and `flags` when there are any.
/// `unit` and `battery` are dropped: v1 cannot carry them.
pub fn encode_json_v1(r: &Reading) -> Vec<u8> {
    to_vec(&V1Out {
        sensor_id: r.sensor_id.as_str(),
        timestamp: r.ts_ms,
        value: r.value,
        flags: &r.flags,
    })
}

/// Encodes as v2 with `ts` as an epoch-milliseconds integer.
pub fn encode_json_v2(r: &Reading) -> Vec<u8> {
    to_vec(&v2_out(r, Value::from(r.ts_ms)))
}

/// Encodes as v2 with `ts` as an RFC 3339 UTC string with millisecond precision
/// (`"2025-11-24T16:00:00.123Z"`), so it decodes back to the same `ts_ms`.
pub fn encode_json_v2_rfc3339(r: &Reading) -> Vec<u8> {
    let ts = match rfc3339_ms(r.ts_ms) {
        Some(text) => Value::from(text),
        // Only for a reading that could not have been decoded (year beyond ±9999).
        None => Value::from(r.ts_ms),
    };
    to_vec(&v2_out(r, ts))
}

/// Formats epoch milliseconds as RFC 3339 UTC with exactly three fractional digits.
fn rfc3339_ms(ts_ms: i64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

#[derive(Serialize)]
struct V1Out<'a> {
    #[serde(rename = "sensorId")]
    sensor_id: &'a str,
    timestamp: i64,
    value: f64,
    #[serde(skip_serializing_if = "no_flags")]
    flags: &'a [String],
}

#[derive(Serialize)]
struct V2Out<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u8,
    #[serde(rename = "sensorId")]
    sensor_id: &'a str,
    ts: Value,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    battery: Option<f32>,
    #[serde(skip_serializing_if = "no_flags")]
    flags: &'a [String],
}

fn v2_out(r: &Reading, ts: Value) -> V2Out<'_> {
    V2Out {
        schema_version: 2,
        sensor_id: r.sensor_id.as_str(),
        ts,
        value: r.value,
        unit: r.unit.as_deref(),
        battery: r.battery,
        flags: &r.flags,
    }
}

fn no_flags(flags: &&[String]) -> bool {
    flags.is_empty()
}

fn to_vec<T: Serialize>(out: &T) -> Vec<u8> {
    // Cannot fail: every key is a string and no Serialize impl above returns an error
    // (serde_json writes a non-finite float as `null` rather than failing).
    serde_json::to_vec(out).unwrap_or_default()
}

/// Size check, UTF-8 check, parse, and top-level-object check, shared with the sensor registry.
pub(crate) fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    check_payload_size(payload)?;
    let text = std::str::from_utf8(payload).map_err(|e| {
        DecodeError::new("$", DecodeReason::InvalidUtf8)
            .with_detail(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    // Some producers prepend a UTF-8 byte-order mark, which serde_json rejects.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| parse_error(text, &e))?;
    match root {
        Value::Object(obj) => Ok(obj),
        other => Err(wrong_type("$", "a JSON object", &other)),
    }
}

/// Maps a serde_json error to a `DecodeError`, recognising non-finite number literals.
///
/// serde_json rejects `NaN`, `Infinity`, `-Infinity` and numbers that overflow f64 (`1e999`) as
/// syntax errors. Those are the classic firmware bug, so they get reason `not_finite` and the key
/// they belong to instead of a generic `malformed_json`.
fn parse_error(text: &str, e: &serde_json::Error) -> DecodeError {
    if e.classify() == Category::Syntax
        && let Some(offset) = byte_offset(text, e.line(), e.column())
        && let Some(err) = non_finite_literal(text, offset)
    {
        return err;
    }
    DecodeError::new("$", DecodeReason::MalformedJson).with_detail(e.to_string())
}

/// The byte offset of serde_json's 1-based (line, column), if it is inside `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start: usize = text
        .split('\n')
        .take(line.checked_sub(1)?)
        .map(|l| l.len() + 1)
        .sum();
    let offset = line_start + column.checked_sub(1)?;
    (offset < text.len()).then_some(offset)
}

/// If the token around `offset` is a non-finite number literal, the `not_finite` error for it.
fn non_finite_literal(text: &str, offset: usize) -> Option<DecodeError> {
    let bytes = text.as_bytes();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    if !is_token(bytes[offset]) {
        return None;
    }
    let start = bytes[..offset]
        .iter()
        .rposition(|&b| !is_token(b))
        .map_or(0, |i| i + 1);
    let end = bytes[offset..]
        .iter()
        .position(|&b| !is_token(b))
        .map_or(bytes.len(), |i| offset + i);
    // All token bytes are ASCII, so these are char boundaries.
    let token = &text[start..end];
    if !is_non_finite_token(token) {
        return None;
    }
    let field = key_before(text, start).unwrap_or_else(|| "$".to_owned());
    Some(
        DecodeError::new(field, DecodeReason::NotFinite).with_detail(format!(
            "literal `{}` is not a finite number",
            snippet(token)
        )),
    )
}

/// `NaN`, `Infinity`, `inf` (any case, optional sign), or a number literal that overflows f64.
fn is_non_finite_token(token: &str) -> bool {
    let unsigned = token.strip_prefix(['-', '+']).unwrap_or(token);
    if ["nan", "inf", "infinity"]
        .iter()
        .any(|w| unsigned.eq_ignore_ascii_case(w))
    {
        return true;
    }
    unsigned.starts_with(|c: char| c.is_ascii_digit())
        && token.parse::<f64>().is_ok_and(f64::is_infinite)
}

/// The object key whose value starts at `start`: scans back over `"key"` and `:`.
fn key_before(text: &str, start: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let colon = bytes[..start].iter().rposition(|b| !is_ws(b))?;
    if bytes[colon] != b':' {
        return None;
    }
    let close = bytes[..colon].iter().rposition(|b| !is_ws(b))?;
    if bytes[close] != b'"' {
        return None;
    }
    // The opening quote is the nearest earlier `"` preceded by an even number of backslashes.
    let mut open = close;
    loop {
        open = bytes[..open].iter().rposition(|&b| b == b'"')?;
        let backslashes = bytes[..open]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            break;
        }
    }
    serde_json::from_str::<String>(&text[open..=close]).ok()
}

/// Echoes at most 40 characters of untrusted input in a detail.
fn snippet(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn schema_version(obj: &Map<String, Value>) -> Result<Format, DecodeError> {
    const FIELD: &str = "schemaVersion";
    match present(obj, FIELD) {
        None => Ok(Format::JsonV1),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_i64() {
            Some(1) => Ok(Format::JsonV1),
            Some(2) => Ok(Format::JsonV2),
            _ => Err(DecodeError::new(FIELD, DecodeReason::UnknownSchemaVersion)
                .with_detail(format!("{n}; known: 1, 2"))),
        },
        Some(other) => Err(wrong_type(FIELD, "an integer", other)),
    }
}

fn decode_v1(obj: &Map<String, Value>) -> Result<Reading, DecodeError> {
    let sensor_id = sensor_id_at("sensorId", required(obj, "sensorId")?)?;
    let ts_ms = epoch_ms("timestamp", required(obj, "timestamp")?)?;
    let value = value(obj)?;
    let flags = flags(obj)?;
    Ok(Reading {
        sensor_id,
        ts_ms,
        value,
        flags,
        unit: None,
        battery: None,
        format: Format::JsonV1,
    })
}

fn decode_v2(obj: &Map<String, Value>) -> Result<Reading, DecodeError> {
    let sensor_id = v2_sensor_id(obj)?;
    let ts_ms = match required(obj, "ts")? {
        Value::String(s) => rfc3339_to_ms("ts", s)?,
        v @ Value::Number(_) => epoch_ms("ts", v)?,
        other => {
            return Err(wrong_type(
                "ts",
                "an RFC 3339 string or integer epoch milliseconds",
                other,
            ));
        }
    };
    let value = value(obj)?;
    let unit = match present(obj, "unit") {
        None => None,
        Some(Value::String(s)) => {
            check_len("unit", s, MAX_UNIT_BYTES)?;
            Some(s.clone())
        }
        Some(other) => return Err(wrong_type("unit", "a string", other)),
    };
    let battery = match present(obj, "battery") {
        None => None,
        Some(Value::Number(n)) => {
            let rounded = check_battery("battery", as_f64(n))?;
            // Rounding the decimal to f64 and then to f32 can differ from rounding it to f32
            // once (the f32 written as `7.038531e-26` comes back one ulp off). serde_json
            // displays the f64 as its shortest decimal, which for anything up to 9 significant
            // digits is the decimal as written, so parsing that as f32 rounds once.
            Some(n.to_string().parse::<f32>().unwrap_or(rounded))
        }
        Some(other) => return Err(wrong_type("battery", "a number", other)),
    };
    let flags = flags(obj)?;
    Ok(Reading {
        sensor_id,
        ts_ms,
        value,
        flags,
        unit,
        battery,
        format: Format::JsonV2,
    })
}

/// v2 accepts `sensorId` or `sensor_id`; both with different values is `conflicting`.
fn v2_sensor_id(obj: &Map<String, Value>) -> Result<SensorId, DecodeError> {
    match (present(obj, "sensorId"), present(obj, "sensor_id")) {
        (None, None) => Err(DecodeError::new("sensorId", DecodeReason::Missing)),
        (Some(v), None) => sensor_id_at("sensorId", v),
        (None, Some(v)) => sensor_id_at("sensor_id", v),
        (Some(camel), Some(snake)) => {
            let camel = sensor_id_at("sensorId", camel)?;
            let snake = sensor_id_at("sensor_id", snake)?;
            if camel == snake {
                Ok(camel)
            } else {
                Err(
                    DecodeError::new("sensorId", DecodeReason::Conflicting).with_detail(format!(
                        "sensorId {camel:?} differs from sensor_id {snake:?}"
                    )),
                )
            }
        }
    }
}

fn sensor_id_at(key: &str, v: &Value) -> Result<SensorId, DecodeError> {
    match v {
        Value::String(s) => SensorId::new(s.as_str()).map_err(|e| e.in_field(key)),
        other => Err(wrong_type(key, "a string", other)),
    }
}

/// An integer epoch-milliseconds timestamp in range.
fn epoch_ms(key: &str, v: &Value) -> Result<i64, DecodeError> {
    let Value::Number(n) = v else {
        return Err(wrong_type(key, "integer epoch milliseconds", v));
    };
    if let Some(ms) = n.as_i64() {
        return check_ts_ms(key, ms);
    }
    // An integer beyond i64, or a float too large to be any integer we could accept
    // (serde_json reads integer literals beyond u64 as floats), is out of range, not mistyped.
    let f = as_f64(n);
    if n.is_u64() || (f.fract() == 0.0 && f.abs() >= 9.2e18) {
        return Err(DecodeError::new(key, DecodeReason::OutOfRange)
            .with_detail(format!("{n} is outside 0..{}", super::reading::MAX_TS_MS)));
    }
    Err(
        DecodeError::new(key, DecodeReason::WrongType).with_detail(format!(
            "expected integer epoch milliseconds, got float {n}"
        )),
    )
}

/// An RFC 3339 timestamp in range, truncated to whole milliseconds.
fn rfc3339_to_ms(key: &str, s: &str) -> Result<i64, DecodeError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        DecodeError::new(key, DecodeReason::InvalidTimestamp)
            .with_detail(format!("{:?} is not RFC 3339: {e}", snippet(s)))
    })?;
    // Floor, so sub-millisecond digits truncate towards the past.
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    check_ts_ms(key, ms)
}

fn value(obj: &Map<String, Value>) -> Result<f64, DecodeError> {
    match required(obj, "value")? {
        Value::Number(n) => check_value("value", as_f64(n)),
        other => Err(wrong_type("value", "a number", other)),
    }
}

fn flags(obj: &Map<String, Value>) -> Result<Vec<String>, DecodeError> {
    match present(obj, "flags") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            check_flag_count("flags", items.len())?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = format!("flags[{i}]");
                    match item {
                        Value::String(s) => {
                            check_len(&field, s, MAX_FLAG_BYTES)?;
                            Ok(s.clone())
                        }
                        other => Err(wrong_type(&field, "a string", other)),
                    }
                })
                .collect()
        }
        Some(other) => Err(wrong_type("flags", "an array of strings", other)),
    }
}

/// The field's value unless it is absent or `null`.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The field's value; absent or `null` is `missing`.
fn required<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, DecodeError> {
    present(obj, key).ok_or_else(|| DecodeError::new(key, DecodeReason::Missing))
}

/// A JSON number as f64. serde_json (without `arbitrary_precision`) always has one; NaN
/// otherwise, which the finiteness checks then reject.
fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

pub(crate) fn wrong_type(field: &str, expected: &str, got: &Value) -> DecodeError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    DecodeError::new(field, DecodeReason::WrongType)
        .with_detail(format!("expected {expected}, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeReason::*;

    fn ok(payload: &str) -> Reading {
        match decode_json(payload.as_bytes()) {
            Ok(r) => r,
            Err(e) => panic!("{payload} should decode: {e}"),
        }
    }

    fn err(payload: impl AsRef<[u8]>) -> (String, DecodeReason) {
        match decode_json(payload.as_ref()) {
            Ok(r) => panic!("should not decode, got {r:?}"),
            Err(e) => (e.field().to_owned(), e.reason()),
        }
    }

    fn is(field: &str, reason: DecodeReason) -> (String, DecodeReason) {
        (field.to_owned(), reason)
    }

    fn id(s: &str) -> SensorId {
        match SensorId::new(s) {
            Ok(id) => id,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn v1_example_decodes() {
        let r = ok(r#"{"sensorId": "tv-0042", "timestamp": 1764000000000, "value": 21.5}"#);
        assert_eq!(
            r,
            Reading::new(id("tv-0042"), 1_764_000_000_000, 21.5, Format::JsonV1)
        );
    }

    #[test]
    fn v1_with_flags_and_explicit_schema_version() {
        let r = ok(
            r#"{"schemaVersion": 1, "sensorId": "a", "timestamp": 0, "value": -3, "flags": ["maintenance", "calibrating"]}"#,
        );
        assert_eq!(r.flags, ["maintenance", "calibrating"]);
        assert_eq!(r.value, -3.0);
        assert_eq!(r.format, Format::JsonV1);
    }

    #[test]
    fn v1_ignores_unit_and_battery() {
        let r = ok(
            r#"{"sensorId": "a", "timestamp": 1, "value": 1, "unit": "V", "battery": 50, "extra": {"x": [1]}}"#,
        );
        assert_eq!((r.unit, r.battery), (None, None));
    }

    #[test]
    fn v2_with_rfc3339_ts() {
        let r = ok(
            r#"{"schemaVersion": 2, "sensorId": "tv-0042", "ts": "2025-11-24T16:00:00.123Z", "value": 21.5, "unit": "°C", "battery": 87.5}"#,
        );
        assert_eq!(r.ts_ms, 1_764_000_000_123);
        assert_eq!(r.unit.as_deref(), Some("°C"));
        assert_eq!(r.battery, Some(87.5));
        assert_eq!(r.format, Format::JsonV2);
    }

    #[test]
    fn v2_rfc3339_with_offset_and_sub_millisecond_digits() {
        let r = ok(
            r#"{"schemaVersion": 2, "sensorId": "a", "ts": "2025-11-24T17:00:00.123999+01:00", "value": 1}"#,
        );
        assert_eq!(r.ts_ms, 1_764_000_000_123);
    }

    #[test]
    fn v2_with_epoch_ms_and_sensor_id_spelling() {
        let r = ok(r#"{"schemaVersion": 2, "sensor_id": "tv-1", "ts": 1764000000000, "value": 2}"#);
        assert_eq!(r.sensor_id, id("tv-1"));
        assert_eq!(r.ts_ms, 1_764_000_000_000);
        // Both spellings agreeing is fine.
        let r = ok(
            r#"{"schemaVersion": 2, "sensorId": "tv-1", "sensor_id": "tv-1", "ts": 1, "value": 2}"#,
        );
        assert_eq!(r.sensor_id, id("tv-1"));
    }

    #[test]
    fn v2_defaults_for_missing_optional_fields() {
        let r = ok(
            r#"{"schemaVersion": 2, "sensorId": "a", "ts": 5, "value": 1, "unit": null, "future": true}"#,
        );
        assert_eq!(r, Reading::new(id("a"), 5, 1.0, Format::JsonV2));
    }

    #[test]
    fn utf8_bom_is_skipped() {
        let r = ok("\u{feff}{\"sensorId\": \"a\", \"timestamp\": 1, \"value\": 1}");
        assert_eq!(r.sensor_id, id("a"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": "21.5"}"#),
            is("value", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1.5, "value": 1}"#),
            is("timestamp", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": "1", "value": 1}"#),
            is("timestamp", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": 42, "timestamp": 1, "value": 1}"#),
            is("sensorId", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": "NaN"}"#),
            is("value", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": "Infinity"}"#),
            is("value", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": 1, "flags": "x"}"#),
            is("flags", WrongType)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": 1, "flags": ["x", 2]}"#),
            is("flags[1]", WrongType)
        );
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "ts": true, "value": 1}"#),
            is("ts", WrongType)
        );
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "ts": 1, "value": 1, "unit": 3}"#),
            is("unit", WrongType)
        );
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "ts": 1, "value": 1, "battery": "full"}"#),
            is("battery", WrongType)
        );
        assert_eq!(err(r#"[1, 2]"#), is("$", WrongType));
        assert_eq!(err(r#""tv-0042""#), is("$", WrongType));
    }

    #[test]
    fn non_finite_literals_are_not_finite_on_their_key() {
        for literal in [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e999",
            "-1e999",
            "nan",
            "inf",
            "-inf",
        ] {
            let payload = format!(r#"{{"sensorId": "a", "timestamp": 1, "value": {literal}}}"#);
            assert_eq!(err(&payload), is("value", NotFinite), "{literal}");
            let compact = format!(r#"{{"sensorId":"a","value":{literal},"timestamp":1}}"#);
            assert_eq!(err(&compact), is("value", NotFinite), "{literal}");
        }
        let long = format!(
            r#"{{"sensorId": "a", "timestamp": 1, "value": 1{}}}"#,
            "0".repeat(400)
        );
        assert_eq!(err(&long), is("value", NotFinite));
        let multiline = "{\"sensorId\": \"é\",\n  \"bat\\\"tery\" :\n NaN}";
        assert_eq!(err(multiline), is("bat\"tery", NotFinite));
        // serde_json counts columns in bytes; multi-byte characters before the literal.
        assert_eq!(
            err(r#"{"sensorId": "é€😀", "value": NaN}"#),
            is("value", NotFinite)
        );
        // Not after a key: still not finite, reported against the whole payload.
        assert_eq!(err(r#"{"flags": [NaN]}"#), is("$", NotFinite));
    }

    #[test]
    fn malformed_json_is_reported_on_the_payload() {
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": "#),
            is("$", MalformedJson)
        );
        assert_eq!(
            err(r#"{"sensorId": "a" "value": 1}"#),
            is("$", MalformedJson)
        );
        assert_eq!(err(r#"{"value": 12ab}"#), is("$", MalformedJson));
        assert_eq!(err(r#"{"a": "NaN"#), is("$", MalformedJson));
        assert_eq!(err(""), is("$", MalformedJson));
        let detail = decode_json(b"{\n\"a\": }")
            .err()
            .and_then(|e| e.detail().map(str::to_owned));
        assert!(detail.is_some_and(|d| d.contains("line 2 column")));
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            err(r#"{"timestamp": 1, "value": 1}"#),
            is("sensorId", Missing)
        );
        assert_eq!(
            err(r#"{"sensorId": "", "timestamp": 1, "value": 1}"#),
            is("sensorId", Missing)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "value": 1}"#),
            is("timestamp", Missing)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1}"#),
            is("value", Missing)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 1, "value": null}"#),
            is("value", Missing)
        );
        assert_eq!(
            err(r#"{"schemaVersion": 2, "value": 1, "ts": 1}"#),
            is("sensorId", Missing)
        );
        // v2 reads `ts`, not v1's `timestamp`.
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "timestamp": 1, "value": 1}"#),
            is("ts", Missing)
        );
    }

    #[test]
    fn string_limits() {
        let long_id = format!(
            r#"{{"sensorId": "{}", "timestamp": 1, "value": 1}}"#,
            "x".repeat(10_000)
        );
        assert_eq!(err(&long_id), is("sensorId", TooLong));
        let long_snake = format!(
            r#"{{"schemaVersion": 2, "sensor_id": "{}", "ts": 1, "value": 1}}"#,
            "x".repeat(129)
        );
        assert_eq!(err(&long_snake), is("sensor_id", TooLong));
        assert_eq!(
            err(r#"{"sensorId": "tv 42", "timestamp": 1, "value": 1}"#),
            is("sensorId", InvalidChars)
        );
        let unit = format!(
            r#"{{"schemaVersion": 2, "sensorId": "a", "ts": 1, "value": 1, "unit": "{}"}}"#,
            "u".repeat(33)
        );
        assert_eq!(err(&unit), is("unit", TooLong));
        let flag = format!(
            r#"{{"sensorId": "a", "timestamp": 1, "value": 1, "flags": ["ok", "{}"]}}"#,
            "f".repeat(65)
        );
        assert_eq!(err(&flag), is("flags[1]", TooLong));
        let flags = vec!["\"f\""; 17].join(",");
        let many =
            format!(r#"{{"sensorId": "a", "timestamp": 1, "value": 1, "flags": [{flags}]}}"#);
        assert_eq!(err(&many), is("flags", TooMany));
        let flags = vec!["\"f\""; 16].join(",");
        let sixteen =
            format!(r#"{{"sensorId": "a", "timestamp": 1, "value": 1, "flags": [{flags}]}}"#);
        assert_eq!(ok(&sixteen).flags.len(), 16);
    }

    #[test]
    fn payload_limits() {
        let padding = " ".repeat(crate::MAX_PAYLOAD_BYTES);
        let big = format!(r#"{{"sensorId": "a", "timestamp": 1, "value": 1}}{padding}"#);
        assert_eq!(err(&big), is("$", TooLarge));
        let mut bad = br#"{"sensorId": "a", "timestamp": 1, "value": 1, "note": "x"}"#.to_vec();
        let at = bad.iter().rposition(|&b| b == b'x').unwrap_or_default();
        bad[at] = 0xff;
        let e = decode_json(&bad).err();
        assert_eq!(
            e.as_ref().map(|e| (e.field(), e.reason())),
            Some(("$", InvalidUtf8))
        );
        let detail = format!("invalid UTF-8 at byte {at}");
        assert_eq!(
            e.as_ref().and_then(DecodeError::detail),
            Some(detail.as_str())
        );
    }

    #[test]
    fn timestamp_ranges() {
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": -1, "value": 1}"#),
            is("timestamp", OutOfRange)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 4102444800000, "value": 1}"#),
            is("timestamp", OutOfRange)
        );
        assert_eq!(
            ok(r#"{"sensorId": "a", "timestamp": 4102444799999, "value": 1}"#).ts_ms,
            4_102_444_799_999
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 18446744073709551615, "value": 1}"#),
            is("timestamp", OutOfRange)
        );
        assert_eq!(
            err(r#"{"sensorId": "a", "timestamp": 99999999999999999999999, "value": 1}"#),
            is("timestamp", OutOfRange)
        );
        assert_eq!(
            err(
                r#"{"schemaVersion": 2, "sensorId": "a", "ts": "2100-01-01T00:00:00Z", "value": 1}"#
            ),
            is("ts", OutOfRange)
        );
        assert_eq!(
            err(
                r#"{"schemaVersion": 2, "sensorId": "a", "ts": "1969-12-31T23:59:59.999Z", "value": 1}"#
            ),
            is("ts", OutOfRange)
        );
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "ts": "yesterday", "value": 1}"#),
            is("ts", InvalidTimestamp)
        );
        assert_eq!(
            err(
                r#"{"schemaVersion": 2, "sensorId": "a", "ts": "2025-11-24T16:00:00", "value": 1}"#
            ),
            is("ts", InvalidTimestamp)
        );
    }

    #[test]
    fn battery_range() {
        let with = |b: &str| {
            format!(
                r#"{{"schemaVersion": 2, "sensorId": "a", "ts": 1, "value": 1, "battery": {b}}}"#
            )
        };
        assert_eq!(err(with("101")), is("battery", OutOfRange));
        assert_eq!(err(with("-0.5")), is("battery", OutOfRange));
        assert_eq!(err(with("1e999")), is("battery", NotFinite));
        assert_eq!(ok(&with("0")).battery, Some(0.0));
        assert_eq!(ok(&with("100")).battery, Some(100.0));
        // Every f32 in 0..=100 survives JSON exactly (checked exhaustively once); this one
        // would not if the decimal were rounded to f64 first.
        let tricky: f32 = "7.038531e-26".parse().unwrap_or_default();
        let via_f64 = "7.038531e-26".parse::<f64>().unwrap_or_default() as f32;
        assert_ne!(tricky, via_f64);
        let text = String::from_utf8(serde_json::to_vec(&tricky).unwrap_or_default());
        assert_eq!(text.as_deref(), Ok("7.038531e-26"));
        assert_eq!(ok(&with("7.038531e-26")).battery, Some(tricky));
    }

    #[test]
    fn schema_versions() {
        for v in ["0", "3", "-1", "18446744073709551615"] {
            let payload =
                format!(r#"{{"schemaVersion": {v}, "sensorId": "a", "ts": 1, "value": 1}}"#);
            assert_eq!(
                err(&payload),
                is("schemaVersion", UnknownSchemaVersion),
                "{v}"
            );
        }
        for v in ["\"2\"", "2.0", "true", "[2]"] {
            let payload =
                format!(r#"{{"schemaVersion": {v}, "sensorId": "a", "ts": 1, "value": 1}}"#);
            assert_eq!(err(&payload), is("schemaVersion", WrongType), "{v}");
        }
    }

    #[test]
    fn conflicting_sensor_ids() {
        assert_eq!(
            err(r#"{"schemaVersion": 2, "sensorId": "a", "sensor_id": "b", "ts": 1, "value": 1}"#),
            is("sensorId", Conflicting)
        );
    }

    #[test]
    fn encodings_have_the_documented_shape() {
        let mut r = Reading::new(id("tv-0042"), 1_764_000_000_123, 21.5, Format::JsonV1);
        assert_eq!(
            String::from_utf8_lossy(&encode_json_v1(&r)),
            r#"{"sensorId":"tv-0042","timestamp":1764000000123,"value":21.5}"#
        );
        r.unit = Some("°C".to_owned());
        r.battery = Some(87.5);
        r.flags = vec!["maintenance".to_owned()];
        assert_eq!(
            String::from_utf8_lossy(&encode_json_v2(&r)),
            r#"{"schemaVersion":2,"sensorId":"tv-0042","ts":1764000000123,"value":21.5,"unit":"°C","battery":87.5,"flags":["maintenance"]}"#
        );
        assert_eq!(
            String::from_utf8_lossy(&encode_json_v2_rfc3339(&r)),
            r#"{"schemaVersion":2,"sensorId":"tv-0042","ts":"2025-11-24T16:00:00.123Z","value":21.5,"unit":"°C","battery":87.5,"flags":["maintenance"]}"#
        );
        assert_eq!(rfc3339_ms(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
    }
}
