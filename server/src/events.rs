//! What the pipeline hands the server: its changes, through an in-process
//! channel (a sensor's own changes as they arrive, zone incidents and alert
//! events once their epoch is complete: see `src/publish.rs`).
//!
//! ```text
//!  timely worker ─ Publish operator ─► Publisher (bounded mpsc) ─► Hub task ─► hot tier + deltas
//! ```

use tokio::sync::mpsc;
use weir_dataflow::records::{
    AlertEvent, Anomaly, LatestState, RegistryRecord, WindowAggregate, ZoneIncident,
};

/// One change for the hot tier.
#[derive(Clone, Debug)]
pub enum Event {
    /// A registry record (kind, unit, zone of a sensor).
    Registry(RegistryRecord),
    /// A stored reading: a point for the hot tier.
    Point {
        /// Sensor id.
        sensor_id: String,
        /// Event time (ms).
        ts_ms: i64,
        /// Value.
        value: f64,
    },
    /// A sensor's new latest state, with its reading's Kafka record timestamp.
    Latest(LatestState, Option<i64>),
    /// A window's new value.
    Window(WindowAggregate),
    /// A new anomaly.
    Anomaly(Anomaly),
    /// A zone incident's new value (`present`), or its removal (merged into another).
    Incident(ZoneIncident, bool),
    /// An alert lifecycle event (with the alert after it).
    Alert(Box<AlertEvent>),
}

/// The sending side, cloned into every local timely worker.
#[derive(Clone, Debug)]
pub struct Publisher {
    tx: mpsc::Sender<Vec<Event>>,
}

impl Publisher {
    /// A publisher and the receiver the hub task drains; `bound` batches may wait.
    pub fn channel(bound: usize) -> (Publisher, mpsc::Receiver<Vec<Event>>) {
        let (tx, rx) = mpsc::channel(bound.max(1));
        (Publisher { tx }, rx)
    }

    /// Hands over a batch of events, waiting while the hub is behind (the
    /// worker slows down rather than the hot tier dropping changes). Returns
    /// false once the server is gone.
    pub fn publish(&self, events: Vec<Event>) -> bool {
        if events.is_empty() {
            return true;
        }
        self.tx.blocking_send(events).is_ok()
    }
}
