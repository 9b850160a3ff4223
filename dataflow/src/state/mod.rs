//! Per-key state machines, free of timely: one sensor's state and one zone's.
//!
//! The operators in `crate::operators` own a map of these and feed them in
//! a deterministic order; everything that decides a result lives here, where
//! it can be tested directly and against naive recomputation.

mod alert_zone;
mod alerts;
mod sensor;
mod stats;
mod windows;
mod zone;

pub use alert_zone::AlertBook;
pub use alerts::{AlertSeed, Observation, SeededKey, SensorAlerts, alert_id, kind_of};
pub use sensor::{Duplicate, Effects, Score, SensorState, score};
pub use stats::{Moments, RollingStats};
pub use windows::SensorWindows;
pub use zone::{ZoneState, incidents_of};

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the graph keeps for metrics, shared by the workers of a process.
#[derive(Debug, Default)]
pub struct GraphCounters {
    /// Exact repeats of an accepted reading, dropped.
    pub duplicates_exact: AtomicU64,
    /// Repeats of an accepted reading's (sensor, ts) with another value, dead-lettered.
    pub duplicates_conflict: AtomicU64,
    /// Sensors whose state was forgotten after a silence.
    pub forgotten: AtomicU64,
}

impl GraphCounters {
    /// Counts one duplicate.
    pub fn duplicate(&self, kind: Duplicate) {
        match kind {
            Duplicate::Exact => &self.duplicates_exact,
            Duplicate::Conflict => &self.duplicates_conflict,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// The size of one worker's sensor state, in entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Footprint {
    /// Sensors with state.
    pub sensors: usize,
    /// Readings held for rolling statistics.
    pub samples: usize,
    /// Open windows.
    pub windows: usize,
    /// Registry versions held.
    pub versions: usize,
}

/// A live view of a worker's [`Footprint`], kept current by `TrackSensors`
/// (for memory checks and metrics).
#[derive(Clone, Debug, Default)]
pub struct StateGauge(Rc<Cell<Footprint>>);

impl StateGauge {
    /// The current footprint.
    pub fn get(&self) -> Footprint {
        self.0.get()
    }

    pub(crate) fn adjust(
        &self,
        sensors: usize,
        before: (usize, usize, usize),
        after: (usize, usize, usize),
    ) {
        let mut f = self.0.get();
        let (s0, w0, v0) = before;
        f.sensors = sensors;
        f.samples = f.samples + after.0 - s0;
        f.windows = f.windows + after.1 - w0;
        f.versions = f.versions + after.2 - v0;
        self.0.set(f);
    }
}
