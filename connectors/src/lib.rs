//! weir's edge: every protocol the pipeline speaks to the outside world.
//!
//! Today that is Kafka (topic administration and the record producer) and the
//! reachability checks that turn "connection refused" into one clear line.
//! The MQTT bridge, HTTP/gRPC ingest, the PostgreSQL sink and the cold tier
//! join as their issues land. Pipeline semantics live in `weir-dataflow`.
#![warn(missing_docs)]

pub mod delivery;
pub mod error;
pub mod ingest;
pub mod kafka;
pub mod postgres;
pub mod preflight;

pub use error::ConnectorError;
