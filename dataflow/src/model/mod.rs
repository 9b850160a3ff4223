//! The domain model: readings and their wire formats, and the sensor registry.

mod decode;
mod json;
mod proto;
mod reading;
mod sensor;

pub use decode::{CONTENT_TYPE_HEADER, decode, encode};
pub use json::{decode_json, encode_json_v1, encode_json_v2, encode_json_v2_rfc3339};
pub use proto::{ReadingProto, decode_protobuf, encode_protobuf};
pub use reading::{
    Format, MAX_FLAG_BYTES, MAX_FLAGS, MAX_PAYLOAD_BYTES, MAX_SENSOR_ID_BYTES, MAX_TS_MS,
    MAX_UNIT_BYTES, Reading, SensorId,
};
pub use sensor::{
    MAX_EXPECTED_INTERVAL_MS, MAX_KIND_BYTES, MAX_KINDS, MAX_ZONE_BYTES, Sensor, SensorKind,
    Thresholds, ValidRange, check_kind_name,
};
