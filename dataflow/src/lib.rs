//! weir's domain model and dataflow: sensor readings and their wire formats, the sensor
//! registry, the capacity planner, and the timely graph built from them (differential-dataflow
//! is not used yet: docs/ARCHITECTURE.md says why). This
//! crate does no I/O: connectors feed the graph's inputs and consume its outputs.
//!
//! Decoding never panics on input: every rejected record yields a [`DecodeError`] naming the
//! field and a bounded [`DecodeReason`], which callers count and send to the dead-letter queue.

#![warn(missing_docs)]

pub mod capacity;
pub mod clock;
pub mod config;
pub mod driver;
pub mod error;
pub mod graph;
pub mod harness;
pub mod model;
pub mod operators;
#[cfg(test)]
mod pinned;
pub mod records;
pub mod reference;
pub mod state;

pub use capacity::{
    CapacityInput, CapacityPlan, format_bytes, format_count, format_si, parse_duration_ms, plan,
};
pub use config::DataflowConfig;
pub use error::{CapacityError, DecodeError, DecodeReason};
pub use model::{
    CONTENT_TYPE_HEADER, Format, MAX_PAYLOAD_BYTES, Reading, ReadingProto, Sensor, SensorId,
    SensorKind, Thresholds, ValidRange, decode, decode_json, decode_protobuf, encode,
    encode_json_v1, encode_json_v2, encode_json_v2_rfc3339, encode_protobuf,
};
