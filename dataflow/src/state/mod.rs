//! Per-key state machines, free of timely: one sensor's state and one zone's.
//!
//! The operators in `crate::operators` own a map of these and feed them in
//! a deterministic order; everything that decides a result lives here, where
//! it can be tested directly and against naive recomputation.

mod sensor;
mod stats;
mod windows;
mod zone;

pub use sensor::{Effects, Score, SensorState, score};
pub use stats::{Moments, RollingStats};
pub use windows::SensorWindows;
pub use zone::{ZoneState, incidents_of};
