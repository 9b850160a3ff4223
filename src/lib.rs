//! The `weir` binary's library half: command line, configuration, the
//! subcommands and the sensor simulator. `main.rs` only parses and dispatches;
//! pipeline logic lives in `weir-dataflow` and `weir-connectors`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod heartbeat;
pub mod pipeline;
pub mod publish;
pub mod simulate;
