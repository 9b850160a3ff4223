//! Decoding one record of any format, chosen by its content-type header or by sniffing, and encoding a reading back in its own format.

use super::json::{decode_json, encode_json_v1, encode_json_v2};
use super::proto::{decode_protobuf, encode_protobuf};
use super::reading::check_payload_size;
use super::{Format, Reading};
use crate::error::{DecodeError, DecodeReason};

/// The Kafka record header that carries the payload's content type.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// The two families of wire encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Json,
    Protobuf,
}

/// Decodes one record.
///
/// `content_type` is the record's content-type header, if any. Matching ignores case,
/// surrounding whitespace and parameters (`; charset=utf-8`):
/// - `application/json` or `json`: JSON v1 or v2 (by `schemaVersion`);
/// - `application/x-protobuf`, `application/protobuf`, `application/x-google-protobuf`,
///   `application/vnd.google.protobuf` or `protobuf`: protobuf;
/// - anything else: error on field `"content-type"`, reason
///   [`UnknownContentType`](DecodeReason::UnknownContentType).
///
/// `None`, or an empty header, sniffs: a payload whose first non-whitespace byte (after an
/// optional UTF-8 byte-order mark) is `{` and whose next non-whitespace byte is `"` or `}` (or
/// nothing) is JSON, anything else protobuf. The second byte matters: a protobuf whose
/// `sensor_id` is 123 bytes long starts with `\n{` (tag 1, then length 123), followed by the id.
///
/// A Kafka tombstone (empty payload) is the caller's to handle; here it fails as a record
/// missing its sensor id.
pub fn decode(payload: &[u8], content_type: Option<&str>) -> Result<Reading, DecodeError> {
    check_payload_size(payload)?;
    let wire = match content_type
        .map(wire_for_content_type)
        .transpose()?
        .flatten()
    {
        Some(wire) => wire,
        None => sniff(payload),
    };
    match wire {
        Wire::Json => decode_json(payload),
        Wire::Protobuf => decode_protobuf(payload),
    }
}

/// Encodes in the reading's own `format`, so `decode(&encode(&r), None) == Ok(r)` for any valid
/// reading (JSON v2 writes `ts` as epoch milliseconds).
pub fn encode(reading: &Reading) -> Vec<u8> {
    match reading.format {
        Format::JsonV1 => encode_json_v1(reading),
        Format::JsonV2 => encode_json_v2(reading),
        Format::Protobuf => encode_protobuf(reading),
    }
}

/// The wire a content type names; `None` for an empty header (sniff instead).
fn wire_for_content_type(content_type: &str) -> Result<Option<Wire>, DecodeError> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let known = [
        ("", None),
        ("application/json", Some(Wire::Json)),
        ("json", Some(Wire::Json)),
        ("application/x-protobuf", Some(Wire::Protobuf)),
        ("application/protobuf", Some(Wire::Protobuf)),
        ("application/x-google-protobuf", Some(Wire::Protobuf)),
        ("application/vnd.google.protobuf", Some(Wire::Protobuf)),
        ("protobuf", Some(Wire::Protobuf)),
    ];
    known
        .iter()
        .find(|(name, _)| essence.eq_ignore_ascii_case(name))
        .map(|&(_, wire)| wire)
        .ok_or_else(|| {
            let shown: String = content_type.chars().take(64).collect();
            DecodeError::new("content-type", DecodeReason::UnknownContentType).with_detail(format!(
                "{shown:?}; known: application/json, application/x-protobuf"
            ))
        })
}

/// Guesses the wire of a payload without a content type, see [`decode`].
fn sniff(payload: &[u8]) -> Wire {
    let body = payload.strip_prefix(b"\xef\xbb\xbf").unwrap_or(payload);
    let mut rest = body.iter().copied().filter(|b| !is_json_whitespace(*b));
    match (rest.next(), rest.next()) {
        (Some(b'{'), Some(b'"' | b'}') | None) => Wire::Json,
        _ => Wire::Protobuf,
    }
}

fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeReason::*;
    use crate::model::{MAX_PAYLOAD_BYTES, ReadingProto, SensorId, encode_json_v2_rfc3339};

    const V1: &str = r#"{"sensorId": "tv-0042", "timestamp": 1764000000000, "value": 21.5}"#;

    fn err(payload: &[u8], content_type: Option<&str>) -> (String, DecodeReason) {
        match decode(payload, content_type) {
            Ok(r) => panic!("should not decode, got {r:?}"),
            Err(e) => (e.field().to_owned(), e.reason()),
        }
    }

    fn is(field: &str, reason: DecodeReason) -> (String, DecodeReason) {
        (field.to_owned(), reason)
    }

    fn formats(payload: &[u8], content_type: Option<&str>) -> Result<Format, String> {
        decode(payload, content_type)
            .map(|r| r.format)
            .map_err(|e| e.to_string())
    }

    fn proto_bytes() -> Vec<u8> {
        use prost::Message;
        ReadingProto {
            sensor_id: b"tv-0042".to_vec(),
            ts_ms: Some(1),
            value: Some(2.0),
            ..ReadingProto::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn content_types_select_the_decoder() {
        let json = V1.as_bytes();
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "json",
            " JSON ",
            "",
        ] {
            assert_eq!(formats(json, Some(ct)), Ok(Format::JsonV1), "{ct}");
        }
        let proto = proto_bytes();
        for ct in [
            "application/x-protobuf",
            "application/protobuf",
            "PROTOBUF",
            "",
        ] {
            assert_eq!(formats(&proto, Some(ct)), Ok(Format::Protobuf), "{ct}");
        }
        assert_eq!(formats(json, None), Ok(Format::JsonV1));
        assert_eq!(formats(&proto, None), Ok(Format::Protobuf));
        // The header wins over sniffing.
        assert_eq!(
            err(json, Some("application/x-protobuf")).1,
            MalformedProtobuf
        );
        assert_eq!(
            err(&proto, Some("application/json")),
            is("$", MalformedJson)
        );
    }

    #[test]
    fn unknown_content_type() {
        assert_eq!(
            err(V1.as_bytes(), Some("text/plain")),
            is("content-type", UnknownContentType)
        );
        assert_eq!(
            err(V1.as_bytes(), Some("application/avro")),
            is("content-type", UnknownContentType)
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"  \n\t{\"a\": 1}"), Wire::Json);
        assert_eq!(sniff(b"\xef\xbb\xbf{\"a\": 1}"), Wire::Json);
        assert_eq!(sniff(b"{ }"), Wire::Json);
        assert_eq!(sniff(b"{"), Wire::Json);
        assert_eq!(sniff(b"[1]"), Wire::Protobuf);
        assert_eq!(sniff(b""), Wire::Protobuf);
        // A protobuf whose sensor_id is 123 bytes long: tag 0x0a ('\n'), length 0x7b ('{').
        let r = Reading::new(
            SensorId::new("x".repeat(123)).unwrap_or_else(|e| panic!("{e}")),
            1,
            2.0,
            Format::Protobuf,
        );
        let bytes = encode(&r);
        assert_eq!(&bytes[..2], b"\n{");
        assert_eq!(decode(&bytes, None).map_err(|e| e.to_string()), Ok(r));
    }

    #[test]
    fn too_large_before_anything_else() {
        let big = vec![b'{'; MAX_PAYLOAD_BYTES + 1];
        for ct in [
            None,
            Some("application/json"),
            Some("application/x-protobuf"),
            Some("text/plain"),
        ] {
            assert_eq!(err(&big, ct), is("$", TooLarge));
        }
        // At the limit it is parsed (and fails as the garbage it is).
        assert_eq!(
            err(&big[..MAX_PAYLOAD_BYTES], Some("json")).1,
            MalformedJson
        );
    }

    /// One input per reason, each asserted by field and reason; the last check makes sure the
    /// table covers every reason.
    #[test]
    fn every_reason_is_reachable() {
        let json = Some("application/json");
        let long_id = format!(
            r#"{{"sensorId": "{}", "timestamp": 1, "value": 1}}"#,
            "x".repeat(10_000)
        );
        let many_flags = format!(
            r#"{{"sensorId": "a", "timestamp": 1, "value": 1, "flags": [{}]}}"#,
            vec!["\"f\""; 17].join(",")
        );
        let too_large = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        let mut bad_utf8_proto = proto_bytes();
        bad_utf8_proto[3] = 0xff; // inside "tv-0042"
        let cases: Vec<(Vec<u8>, Option<&str>, &str, DecodeReason)> = vec![
            (br#"{"timestamp": 1, "value": 1}"#.to_vec(), json, "sensorId", Missing),
            (br#"{"sensorId": "a", "timestamp": 1, "value": "21.5"}"#.to_vec(), json, "value", WrongType),
            (br#"{"sensorId": "a", "timestamp": 1.5, "value": 1}"#.to_vec(), None, "timestamp", WrongType),
            (br#"{"sensorId": 7, "timestamp": 1, "value": 1}"#.to_vec(), None, "sensorId", WrongType),
            (br#"{"sensorId": "a", "timestamp": 1, "value": NaN}"#.to_vec(), json, "value", NotFinite),
            (br#"{"sensorId": "a", "timestamp": 1, "value": Infinity}"#.to_vec(), None, "value", NotFinite),
            (br#"{"sensorId": "a", "timestamp": 1, "value": -Infinity}"#.to_vec(), None, "value", NotFinite),
            (br#"{"sensorId": "a", "timestamp": 1, "value": 1e999}"#.to_vec(), None, "value", NotFinite),
            (br#"{"sensorId": "a", "timestamp": -5, "value": 1}"#.to_vec(), None, "timestamp", OutOfRange),
            (br#"{"schemaVersion": 2, "sensorId": "a", "ts": 1, "value": 1, "battery": 101}"#.to_vec(), None, "battery", OutOfRange),
            (long_id.into_bytes(), json, "sensorId", TooLong),
            (many_flags.into_bytes(), json, "flags", TooMany),
            (too_large, None, "$", TooLarge),
            (br#"{"sensorId": "tv/42", "timestamp": 1, "value": 1}"#.to_vec(), None, "sensorId", InvalidChars),
            (b"{\"sensorId\": \"a\xff\", \"timestamp\": 1, \"value\": 1}".to_vec(), json, "$", InvalidUtf8),
            (bad_utf8_proto, Some("application/x-protobuf"), "sensor_id", InvalidUtf8),
            (br#"{"schemaVersion": 2, "sensorId": "a", "ts": "2025-13-01T00:00:00Z", "value": 1}"#.to_vec(), None, "ts", InvalidTimestamp),
            (br#"{"schemaVersion": 3, "sensorId": "a", "ts": 1, "value": 1}"#.to_vec(), None, "schemaVersion", UnknownSchemaVersion),
            (V1.as_bytes().to_vec(), Some("text/csv"), "content-type", UnknownContentType),
            (br#"{"schemaVersion": 2, "sensorId": "a", "sensor_id": "b", "ts": 1, "value": 1}"#.to_vec(), None, "sensorId", Conflicting),
            (br#"{"sensorId": "a", "timestamp": 1, "value": 1"#.to_vec(), json, "$", MalformedJson),
            (vec![0xff, 0xff, 0xff], None, "$", MalformedProtobuf),
        ];
        let mut seen = std::collections::HashSet::new();
        for (payload, ct, field, reason) in &cases {
            let got = err(payload, *ct);
            assert_eq!(
                got,
                is(field, *reason),
                "{}",
                String::from_utf8_lossy(payload)
            );
            seen.insert(*reason);
        }
        for reason in DecodeReason::ALL {
            assert!(seen.contains(&reason), "no test input reaches {reason:?}");
        }
    }

    /// A sensor id drawn from the allowed charset.
    fn sensor_id() -> impl Strategy<Value = SensorId> {
        "[A-Za-z0-9._:-]{1,128}".prop_filter_map("valid id", |s| SensorId::new(s).ok())
    }

    /// Finite values across magnitudes: ordinary, negative, tiny, subnormal and huge.
    fn finite_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1.0e4..1.0e4f64,
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(-0.0),
        ]
    }

    fn flags() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            any::<String>().prop_map(|s| {
                let mut s = s;
                while s.len() > crate::model::MAX_FLAG_BYTES {
                    s.pop();
                }
                s
            }),
            0..=crate::model::MAX_FLAGS,
        )
    }

    fn unit() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[ -~°µΩ]{0,10}")
    }

    /// Battery levels, uniform in value and uniform over the bit patterns of `0.0..=100.0`
    /// (which reaches tiny and subnormal levels).
    fn battery() -> impl Strategy<Value = f32> {
        prop_oneof![
            0.0..=100.0f32,
            (0..=100.0f32.to_bits()).prop_map(f32::from_bits),
        ]
    }

    prop_compose! {
        fn reading()(
            format in prop::sample::select(Format::ALL.to_vec()),
            sensor_id in sensor_id(),
            ts_ms in 0..crate::model::MAX_TS_MS,
            value in finite_value(),
            flags in flags(),
            unit in unit(),
            battery in prop::option::of(battery()),
        ) -> Reading {
            let (unit, battery) = if format == Format::JsonV1 { (None, None) } else { (unit, battery) };
            Reading { sensor_id, ts_ms, value, flags, unit, battery, format }
        }
    }

    proptest! {
        #![proptest_config(crate::pinned::config(256))]
        #[test]
        fn round_trip_in_own_format(r in reading()) {
            let bytes = encode(&r);
            prop_assert_eq!(decode(&bytes, Some(r.format.content_type())), Ok(r.clone()));
            prop_assert_eq!(decode(&bytes, None), Ok(r));
        }

        #[test]
        fn round_trip_rfc3339(r in reading()) {
            let r = Reading { format: Format::JsonV2, ..r };
            let bytes = encode_json_v2_rfc3339(&r);
            prop_assert_eq!(decode(&bytes, Some("application/json")), Ok(r.clone()));
            prop_assert_eq!(decode(&bytes, None), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            for ct in [None, Some("application/json"), Some("application/x-protobuf"), Some("x")] {
                let _ = decode(&bytes, ct);
            }
        }

        #[test]
        fn arbitrary_brace_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut payload = vec![b'{'];
            payload.extend(bytes);
            for ct in [None, Some("application/json"), Some("application/x-protobuf")] {
                let _ = decode(&payload, ct);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>(), t in r#"\{"[a-zA-Z_]{0,12}": ?[-+0-9.eEaNInfity:,\[\] ]{0,24}\}?"#) {
            for payload in [s.as_bytes(), t.as_bytes()] {
                for ct in [None, Some("application/json"), Some("application/x-protobuf")] {
                    let _ = decode(payload, ct);
                }
            }
        }
    }
}
