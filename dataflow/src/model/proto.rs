//! The protobuf wire format (`SensorReading` in `dataflow/proto/reading.proto`): a hand-written prost message and its conversion to and from `Reading`.
//!
//! String fields are declared as `bytes` on the Rust side. The two are the same on the wire, but
//! prost would reject invalid UTF-8 in a `string` with a message-level error; as `bytes` we check
//! UTF-8 ourselves and name the field (`sensor_id`, `flags[2]`, `unit`). Errors use the proto
//! field names.

use prost::Message;

use super::reading::{
    MAX_FLAG_BYTES, MAX_UNIT_BYTES, check_battery, check_flag_count, check_len, check_payload_size,
    check_ts_ms, check_value,
};
use super::{Format, Reading, SensorId};
use crate::error::{DecodeError, DecodeReason};

/// The protobuf message `SensorReading` (proto3), wire-compatible with `reading.proto`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadingProto {
    /// `string sensor_id = 1`, kept as bytes so invalid UTF-8 is reported by field.
    #[prost(bytes = "vec", tag = "1")]
    pub sensor_id: Vec<u8>,
    /// `optional int64 ts_ms = 2`: event time, epoch milliseconds UTC. Required.
    #[prost(int64, optional, tag = "2")]
    pub ts_ms: Option<i64>,
    /// `optional double value = 3`. Required, finite.
    #[prost(double, optional, tag = "3")]
    pub value: Option<f64>,
    /// `repeated string flags = 4`, kept as bytes.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub flags: Vec<Vec<u8>>,
    /// `optional string unit = 5`, kept as bytes.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub unit: Option<Vec<u8>>,
    /// `optional float battery = 6`: percent, `0..=100`.
    #[prost(float, optional, tag = "6")]
    pub battery: Option<f32>,
}

impl ReadingProto {
    /// Validates the message into a [`Reading`] with format [`Format::Protobuf`], applying the
    /// same rules as JSON.
    pub fn into_reading(self) -> Result<Reading, DecodeError> {
        let sensor_id = utf8("sensor_id", self.sensor_id)?;
        let sensor_id = SensorId::new(sensor_id).map_err(|e| e.in_field("sensor_id"))?;
        let ts_ms = self
            .ts_ms
            .ok_or_else(|| DecodeError::new("ts_ms", DecodeReason::Missing))?;
        let ts_ms = check_ts_ms("ts_ms", ts_ms)?;
        let value = self
            .value
            .ok_or_else(|| DecodeError::new("value", DecodeReason::Missing))?;
        let value = check_value("value", value)?;
        check_flag_count("flags", self.flags.len())?;
        let flags = self
            .flags
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                let field = format!("flags[{i}]");
                let flag = utf8(&field, bytes)?;
                check_len(&field, &flag, MAX_FLAG_BYTES)?;
                Ok(flag)
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let unit = self
            .unit
            .map(|bytes| {
                let unit = utf8("unit", bytes)?;
                check_len("unit", &unit, MAX_UNIT_BYTES)?;
                Ok::<_, DecodeError>(unit)
            })
            .transpose()?;
        let battery = self
            .battery
            .map(|b| check_battery("battery", f64::from(b)))
            .transpose()?;
        Ok(Reading {
            sensor_id,
            ts_ms,
            value,
            flags,
            unit,
            battery,
            format: Format::Protobuf,
        })
    }
}

impl From<&Reading> for ReadingProto {
    fn from(r: &Reading) -> Self {
        ReadingProto {
            sensor_id: r.sensor_id.as_str().as_bytes().to_vec(),
            ts_ms: Some(r.ts_ms),
            value: Some(r.value),
            flags: r.flags.iter().map(|f| f.as_bytes().to_vec()).collect(),
            unit: r.unit.as_ref().map(|u| u.as_bytes().to_vec()),
            battery: r.battery,
        }
    }
}

/// Decodes a protobuf `SensorReading`.
pub fn decode_protobuf(payload: &[u8]) -> Result<Reading, DecodeError> {
    check_payload_size(payload)?;
    let message = ReadingProto::decode(payload).map_err(|e| {
        DecodeError::new("$", DecodeReason::MalformedProtobuf).with_detail(e.to_string())
    })?;
    message.into_reading()
}

/// Encodes as a protobuf `SensorReading` (whatever the reading's own format).
pub fn encode_protobuf(r: &Reading) -> Vec<u8> {
    ReadingProto::from(r).encode_to_vec()
}

fn utf8(field: &str, bytes: Vec<u8>) -> Result<String, DecodeError> {
    String::from_utf8(bytes).map_err(|e| {
        DecodeError::new(field, DecodeReason::InvalidUtf8).with_detail(format!(
            "invalid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeReason::*;

    fn valid() -> ReadingProto {
        ReadingProto {
            sensor_id: b"tv-0042".to_vec(),
            ts_ms: Some(1_764_000_000_000),
            value: Some(21.5),
            flags: vec![b"maintenance".to_vec()],
            unit: Some("°C".as_bytes().to_vec()),
            battery: Some(87.5),
        }
    }

    fn err(message: ReadingProto) -> (String, DecodeReason) {
        match decode_protobuf(&message.encode_to_vec()) {
            Ok(r) => panic!("should not decode, got {r:?}"),
            Err(e) => (e.field().to_owned(), e.reason()),
        }
    }

    fn is(field: &str, reason: DecodeReason) -> (String, DecodeReason) {
        (field.to_owned(), reason)
    }

    #[test]
    fn valid_message_decodes() {
        let r = decode_protobuf(&valid().encode_to_vec()).map_err(|e| e.to_string());
        let r = match r {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(r.sensor_id.as_str(), "tv-0042");
        assert_eq!(r.ts_ms, 1_764_000_000_000);
        assert_eq!(r.value, 21.5);
        assert_eq!(r.flags, ["maintenance"]);
        assert_eq!(r.unit.as_deref(), Some("°C"));
        assert_eq!(r.battery, Some(87.5));
        assert_eq!(r.format, Format::Protobuf);
    }

    #[test]
    fn zero_values_are_present_not_missing() {
        let message = ReadingProto {
            ts_ms: Some(0),
            value: Some(0.0),
            battery: Some(0.0),
            unit: Some(Vec::new()),
            ..valid()
        };
        let r = decode_protobuf(&message.encode_to_vec()).map_err(|e| e.to_string());
        assert_eq!(r.as_ref().map(|r| (r.ts_ms, r.battery)), Ok((0, Some(0.0))));
        assert_eq!(r.map(|r| r.unit), Ok(Some(String::new())));
    }

    #[test]
    fn invalid_messages_name_the_proto_field() {
        assert_eq!(
            err(ReadingProto {
                sensor_id: Vec::new(),
                ..valid()
            }),
            is("sensor_id", Missing)
        );
        assert_eq!(
            err(ReadingProto {
                ts_ms: None,
                ..valid()
            }),
            is("ts_ms", Missing)
        );
        assert_eq!(
            err(ReadingProto {
                value: None,
                ..valid()
            }),
            is("value", Missing)
        );
        assert_eq!(
            err(ReadingProto {
                sensor_id: vec![b'a', 0xff],
                ..valid()
            }),
            is("sensor_id", InvalidUtf8)
        );
        assert_eq!(
            err(ReadingProto {
                unit: Some(vec![0xc3]),
                ..valid()
            }),
            is("unit", InvalidUtf8)
        );
        assert_eq!(
            err(ReadingProto {
                flags: vec![b"ok".to_vec(), vec![0x80]],
                ..valid()
            }),
            is("flags[1]", InvalidUtf8)
        );
        assert_eq!(
            err(ReadingProto {
                sensor_id: b"tv 42".to_vec(),
                ..valid()
            }),
            is("sensor_id", InvalidChars)
        );
        assert_eq!(
            err(ReadingProto {
                sensor_id: vec![b'x'; 10_000],
                ..valid()
            }),
            is("sensor_id", TooLong)
        );
        assert_eq!(
            err(ReadingProto {
                value: Some(f64::NAN),
                ..valid()
            }),
            is("value", NotFinite)
        );
        assert_eq!(
            err(ReadingProto {
                value: Some(f64::NEG_INFINITY),
                ..valid()
            }),
            is("value", NotFinite)
        );
        assert_eq!(
            err(ReadingProto {
                ts_ms: Some(-1),
                ..valid()
            }),
            is("ts_ms", OutOfRange)
        );
        assert_eq!(
            err(ReadingProto {
                battery: Some(100.5),
                ..valid()
            }),
            is("battery", OutOfRange)
        );
        assert_eq!(
            err(ReadingProto {
                battery: Some(f32::NAN),
                ..valid()
            }),
            is("battery", NotFinite)
        );
        assert_eq!(
            err(ReadingProto {
                unit: Some(vec![b'u'; 33]),
                ..valid()
            }),
            is("unit", TooLong)
        );
        assert_eq!(
            err(ReadingProto {
                flags: vec![vec![b'f'; 65]],
                ..valid()
            }),
            is("flags[0]", TooLong)
        );
        assert_eq!(
            err(ReadingProto {
                flags: vec![b"f".to_vec(); 17],
                ..valid()
            }),
            is("flags", TooMany)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let e = decode_protobuf(&[0xff, 0xff]).err();
        assert_eq!(
            e.as_ref().map(|e| (e.field(), e.reason())),
            Some(("$", MalformedProtobuf))
        );
        assert!(e.as_ref().and_then(DecodeError::detail).is_some());
        // A length prefix running past the end.
        let e = decode_protobuf(&[0x0a, 0x05, b'a']).err();
        assert_eq!(e.map(|e| e.reason()), Some(MalformedProtobuf));
    }

    #[test]
    fn bytes_fields_are_wire_compatible_with_string() {
        // Hand-encoded: field 1 (LEN) "ab", field 2 (VARINT) 7, field 3 (I64) 1.0, field 6 (I32) 50.0.
        let mut wire = vec![0x0a, 2, b'a', b'b', 0x10, 7, 0x19];
        wire.extend_from_slice(&1.0f64.to_le_bytes());
        wire.push(0x35);
        wire.extend_from_slice(&50.0f32.to_le_bytes());
        let r = decode_protobuf(&wire).map_err(|e| e.to_string());
        assert_eq!(
            r.as_ref().map(|r| (r.sensor_id.as_str(), r.ts_ms, r.value)),
            Ok(("ab", 7, 1.0))
        );
        assert_eq!(r.map(|r| r.battery), Ok(Some(50.0)));
    }
}
