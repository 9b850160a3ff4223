//! The hot tier: the latest state of every sensor, recent anomalies, zone
//! incidents and the last hours of points per sensor, kept in memory from
//! the pipeline's events; and the coalesced deltas pushed to WebSocket
//! clients.
//!
//! ```text
//!  events ─► State::apply (state.rs) ─► RwLock<State> ──► snapshots, REST reads, hot history (points.rs)
//!              └ Pacing (pacing.rs): changed sensors ready now, or held until coalesce_ms after their last push
//!  as changes arrive, at most every flush_ms ─► flush ─► Delta, encoded once per zone (encode.rs) ─► broadcast ─► sessions
//! ```
//!
//! Pushes are throttled per sensor, not batched per tick: a sensor's first
//! change after a quiet spell goes out with the next flush (at most
//! `flush_ms` away), later ones wait until `coalesce_ms` after its last
//! push and then carry its latest state. Anomalies and incidents are never
//! held.
//!
//! Time here is event time: an incident is open while the largest event
//! time seen has not passed its end; the hot tier's retention counts back
//! from each sensor's latest point. Wall time only paces the flushes.

mod encode;
mod pacing;
mod points;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};
use weir_dataflow::records::{Alert, AlertEvent, Severity};

pub use self::encode::{Delta, Encoded, Parts};
use self::points::POINT_BYTES;
use self::state::State;
use crate::config::ServerConfig;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::views::{AnomalyView, IncidentView, SensorView, ZoneSummary};
pub(crate) use weir_dataflow::clock::now_ms;

/// Everything a new subscriber needs, for some zones.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Sensors in the zones.
    pub sensors: Vec<SensorView>,
    /// Recent anomalies in the zones, newest first.
    pub anomalies: Vec<AnomalyView>,
    /// Incidents in the zones.
    pub incidents: Vec<IncidentView>,
    /// Open alerts in the zones.
    pub alerts: Vec<Alert>,
}

/// The hot tier, shared by the hub task, the WebSocket sessions and the REST API.
pub struct Hub {
    config: ServerConfig,
    metrics: Arc<Metrics>,
    state: RwLock<State>,
    deltas: broadcast::Sender<Arc<Delta>>,
}

fn in_zones(zone: &str, zones: Option<&BTreeSet<String>>) -> bool {
    zones.is_none_or(|z| z.contains(zone))
}

impl Hub {
    /// An empty hub.
    pub fn new(config: ServerConfig, metrics: Arc<Metrics>) -> Arc<Hub> {
        let (deltas, _) = broadcast::channel(64);
        Arc::new(Hub {
            config,
            metrics,
            state: RwLock::new(State::default()),
            deltas,
        })
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A receiver of future deltas.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delta>> {
        self.deltas.subscribe()
    }

    /// Applies events and pushes deltas until the publishers are gone: a
    /// flush follows each batch of changes (at most one per `flush_ms`), and
    /// held sensors are flushed when they fall due.
    pub async fn run(self: Arc<Self>, mut events: mpsc::Receiver<Vec<Event>>) {
        let every = Duration::from_millis(self.config.flush_ms.max(1));
        let mut last_flush = Instant::now();
        let mut due: Option<Instant> = None;
        loop {
            let wait = due.map(|at| tokio::time::sleep_until(at.into()));
            tokio::select! {
                batch = events.recv() => match batch {
                    Some(batch) => {
                        self.apply(batch);
                        if let Some(next) = self.next_flush(Instant::now()) {
                            let at = next.max(last_flush + every);
                            due = Some(due.map_or(at, |d| d.min(at)));
                        }
                    }
                    None => { self.flush(Instant::now()); return; }
                },
                () = async { if let Some(wait) = wait { wait.await } }, if due.is_some() => {
                    let now = Instant::now();
                    self.flush(now);
                    last_flush = now;
                    due = self.next_flush(now).map(|next| next.max(now + every));
                }
            }
        }
    }

    /// When the next flush has something to send: now if anything is ready,
    /// else when the first held sensor falls due.
    fn next_flush(&self, now: Instant) -> Option<Instant> {
        let state = self.state.read().ok()?;
        if state.anything_ready() {
            return Some(now);
        }
        state.pacing.next_due()
    }

    /// Applies a batch of events (see [`crate::Publisher::publish`]) to the state.
    pub fn apply(&self, events: Vec<Event>) {
        let Ok(mut state) = self.state.write() else {
            return;
        };
        let received = (now_ms(), Instant::now());
        state.apply(events, &self.config, &self.metrics, received);
    }

    /// Broadcasts the ready changes (and held sensors due by `now`), if any.
    pub fn flush(&self, now: Instant) {
        let delta = {
            let Ok(mut state) = self.state.write() else {
                return;
            };
            let state = &mut *state;
            let ready = state.pacing.take(now);
            if ready.is_empty() && !state.anything_ready() {
                return;
            }
            let sensors: Vec<SensorView> = ready
                .iter()
                .filter_map(|id| state.sensors.get(id).map(|e| e.view.clone()))
                .collect();
            let clock = state.clock_ms;
            let incidents = std::mem::take(&mut state.changed_incidents)
                .into_iter()
                .filter_map(|key| {
                    state
                        .incidents
                        .get(&key)
                        .map(|i| IncidentView::new(i, clock))
                })
                .collect();
            (
                sensors,
                std::mem::take(&mut state.new_anomalies),
                incidents,
                std::mem::take(&mut state.new_alerts),
            )
        };
        // Serialised outside the lock, once for every subscriber.
        let (sensors, anomalies, incidents, alerts): (
            Vec<SensorView>,
            Vec<AnomalyView>,
            Vec<IncidentView>,
            Vec<AlertEvent>,
        ) = delta;
        let encoded = Encoded::new(&sensors, &anomalies, &incidents, &alerts);
        let delta = Delta {
            sensors,
            anomalies,
            incidents,
            alerts,
            encoded,
        };
        // No receiver is fine: nobody is subscribed.
        let _ = self.deltas.send(Arc::new(delta));
    }

    /// Sensors, anomalies and incidents of `zones` (all when `None`).
    pub fn snapshot(&self, zones: Option<&BTreeSet<String>>) -> Snapshot {
        let Ok(state) = self.state.read() else {
            return Snapshot::default();
        };
        Snapshot {
            sensors: state
                .sensors
                .values()
                .filter(|e| in_zones(&e.view.zone, zones))
                .map(|e| e.view.clone())
                .collect(),
            anomalies: state
                .anomalies
                .iter()
                .filter(|a| in_zones(&a.zone, zones))
                .cloned()
                .collect(),
            incidents: state
                .incidents
                .values()
                .filter(|i| in_zones(&i.zone, zones))
                .map(|i| IncidentView::new(i, state.clock_ms))
                .collect(),
            alerts: state
                .alerts
                .values()
                .filter(|a| in_zones(&a.zone, zones))
                .cloned()
                .collect(),
        }
    }

    /// One sensor's view.
    pub fn sensor(&self, id: &str) -> Option<SensorView> {
        self.state
            .read()
            .ok()?
            .sensors
            .get(id)
            .map(|e| e.view.clone())
    }

    /// Every zone with its summary.
    pub fn zones(&self) -> Vec<ZoneSummary> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let mut zones: BTreeMap<&str, ZoneSummary> = BTreeMap::new();
        for entry in state.sensors.values() {
            let z = zones
                .entry(&entry.view.zone)
                .or_insert_with(|| ZoneSummary {
                    zone: entry.view.zone.clone(),
                    sensors: 0,
                    warning: 0,
                    critical: 0,
                    open_incident: false,
                });
            z.sensors += 1;
            match entry.view.severity {
                Some(Severity::Warning) => z.warning += 1,
                Some(Severity::Critical) => z.critical += 1,
                None => {}
            }
        }
        for incident in state.incidents.values() {
            if let Some(z) = zones.get_mut(incident.zone.as_str())
                && incident.end_ms > state.clock_ms
            {
                z.open_incident = true;
            }
        }
        zones.into_values().collect()
    }

    /// Recent anomalies, newest first, filtered by zone and event time.
    pub fn anomalies(&self, zone: Option<&str>, since_ms: Option<i64>) -> Vec<AnomalyView> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        state
            .anomalies
            .iter()
            .filter(|a| zone.is_none_or(|z| a.zone == z) && since_ms.is_none_or(|s| a.ts >= s))
            .cloned()
            .collect()
    }

    /// The hot points of `id` in `[from, to]`, if the hot tier covers `from`
    /// (its oldest point is at or before it, or it holds the sensor's whole
    /// retention span).
    pub fn hot_points(&self, id: &str, from: i64, to: i64) -> Option<Vec<(i64, f64)>> {
        let state = self.state.read().ok()?;
        let points = &state.sensors.get(id)?.points;
        points::covering(points, from, to, State::keep(&self.config, 1))
    }

    /// Points held over all sensors, and bytes they take.
    pub fn footprint(&self) -> (usize, usize) {
        self.state.read().map_or((0, 0), |s| {
            let n: usize = s.sensors.values().map(|e| e.points.len()).sum();
            (n, n * POINT_BYTES)
        })
    }
}
