//! One module per subcommand.

pub mod bench;
pub mod bench_alerts;
pub mod bench_ingest;
mod bench_kit;
pub mod bench_latency;
pub mod bench_ws;
pub mod capacity;
pub mod heartbeat;
pub mod ingest;
pub mod lag;
pub mod migrate;
pub mod run;
pub mod simulate;
pub mod token;
pub mod topics;
