//! weir's edge: every protocol the pipeline speaks to the outside world.
//!
//! Kafka (topic administration, the producer, the source and the decoding
//! of its records), PostgreSQL (schema, the sink, its writer thread and the
//! store operator), ingest (HTTP, gRPC, MQTT, the disk buffer and its
//! drainer), alert delivery (webhooks), and the reachability checks that
//! turn "connection refused" into one clear line. There is no cold tier
//! yet. Pipeline semantics live in `weir-dataflow`.
#![warn(missing_docs)]

pub mod delivery;
pub mod error;
pub mod file;
pub mod ingest;
pub mod kafka;
pub mod postgres;
pub mod preflight;
pub mod tls;

pub use error::ConnectorError;
