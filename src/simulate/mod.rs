//! The built-in sensor simulator behind `weir simulate`.
//!
//! ```text
//!  SimulatorConfig ─► Fleet (sensors, zones, baselines) ─► Generator ─► SimRecord ─► Kafka
//!                      └─► registry records (Sensor)        (seeded, faults injected)
//! ```
//! Everything here is deterministic given the config (seed, start time):
//! the same config produces the same records, byte for byte.

mod config;
mod fleet;
mod generator;
mod rng;

pub use config::{FormatMix, SimulatorConfig};
pub use fleet::{Fleet, SimSensor};
pub use generator::{Fault, Generator, REGISTRY_LEAD_MS, SimRecord};
pub use rng::Rng;
