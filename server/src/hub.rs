//! The hot tier: the latest state of every sensor, recent anomalies, zone
//! incidents and the last hours of points per sensor, kept in memory from
//! the pipeline's events; and the coalesced deltas pushed to WebSocket
//! clients.
//!
//! ```text
//!  events ─► apply ─► State (RwLock) ──► snapshots, REST reads, hot history
//!                       ├ ready: changed sensors not sent for coalesce_ms, new anomalies, changed incidents
//!                       └ held: changed sensors sent less than coalesce_ms ago (due later)
//!  as changes arrive, at most every flush_ms ─► flush ─► Delta (one entry per sensor) ─► broadcast ─► sessions
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};
use weir_dataflow::records::{Alert, AlertEvent, AlertState, Severity, WindowSize, ZoneIncident};

use crate::config::ServerConfig;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::views::{AnomalyView, IncidentView, SensorView, WindowView, ZoneSummary};
pub(crate) use weir_dataflow::clock::now_ms;

/// Bytes one hot point takes (event time and value).
pub const POINT_BYTES: usize = std::mem::size_of::<(i64, f64)>();

/// Points a sensor's buffer grows by: growing by a fixed step instead of
/// doubling keeps the slack under 8 KiB per sensor (doubling left up to
/// half of a full day's buffer unused).
const POINTS_STEP: usize = 512;

/// Changes since the previous flush.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// Changed sensors, one entry each, in their latest state.
    pub sensors: Vec<SensorView>,
    /// New anomalies.
    pub anomalies: Vec<AnomalyView>,
    /// Changed incidents.
    pub incidents: Vec<IncidentView>,
    /// Alert events.
    pub alerts: Vec<AlertEvent>,
    /// The same, serialised once for every subscriber: per zone, and for all zones.
    pub encoded: Encoded,
}

/// JSON objects of one delta, comma-separated, without brackets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parts {
    /// Sensor views.
    pub sensors: String,
    /// Anomaly views.
    pub anomalies: String,
    /// Incident views.
    pub incidents: String,
    /// Alert events.
    pub alerts: String,
}

impl Parts {
    fn push(list: &mut String, json: &str) {
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str(json);
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
            && self.anomalies.is_empty()
            && self.incidents.is_empty()
            && self.alerts.is_empty()
    }

    /// Appends `other`.
    pub fn extend(&mut self, other: &Parts) {
        for (mine, theirs) in [
            (&mut self.sensors, &other.sensors),
            (&mut self.anomalies, &other.anomalies),
            (&mut self.incidents, &other.incidents),
            (&mut self.alerts, &other.alerts),
        ] {
            if !theirs.is_empty() {
                Parts::push(mine, theirs);
            }
        }
    }
}

/// A delta serialised once (serialising per subscriber does not scale to
/// a thousand clients).
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    /// Per zone.
    pub zones: BTreeMap<String, Parts>,
    /// Every zone.
    pub all: Parts,
}

impl Encoded {
    fn new(
        sensors: &[SensorView],
        anomalies: &[AnomalyView],
        incidents: &[IncidentView],
        alerts: &[AlertEvent],
    ) -> Encoded {
        let mut encoded = Encoded::default();
        let mut add = |zone: &str, json: String, pick: fn(&mut Parts) -> &mut String| {
            Parts::push(
                pick(encoded.zones.entry(zone.to_string()).or_default()),
                &json,
            );
            Parts::push(pick(&mut encoded.all), &json);
        };
        for v in sensors {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.sensors
            });
        }
        for v in anomalies {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.anomalies
            });
        }
        for v in incidents {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.incidents
            });
        }
        for e in alerts {
            add(
                &e.alert.zone,
                serde_json::to_string(e).unwrap_or_default(),
                |p| &mut p.alerts,
            );
        }
        encoded
    }
}

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

struct SensorEntry {
    view: SensorView,
    points: VecDeque<(i64, f64)>,
    /// When this sensor was last pushed (wall time: paces pushes only).
    sent_at: Option<Instant>,
    /// Changed since it was last pushed, and waiting for `coalesce_ms`.
    held: bool,
}

#[derive(Default)]
struct State {
    sensors: BTreeMap<String, SensorEntry>,
    anomalies: VecDeque<AnomalyView>,
    incidents: BTreeMap<(String, i64), ZoneIncident>,
    clock_ms: i64,
    /// Changed sensors that may be pushed at the next flush.
    ready: BTreeSet<String>,
    /// Changed sensors pushed less than `coalesce_ms` ago, by when they are due.
    held: BTreeSet<(Instant, String)>,
    new_anomalies: Vec<AnomalyView>,
    /// Open alerts by id.
    alerts: BTreeMap<String, Alert>,
    /// Alert events since the last flush.
    new_alerts: Vec<AlertEvent>,
    changed_incidents: BTreeSet<(String, i64)>,
    /// The event time silent sensors were last looked for.
    swept_ms: i64,
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
        if !state.ready.is_empty()
            || !state.new_anomalies.is_empty()
            || !state.new_alerts.is_empty()
            || !state.changed_incidents.is_empty()
        {
            return Some(now);
        }
        state.held.first().map(|(at, _)| *at)
    }

    /// Applies a batch of events (see [`crate::Publisher::publish`]) to the state.
    pub fn apply(&self, events: Vec<Event>) {
        let Ok(mut state) = self.state.write() else {
            return;
        };
        let state = &mut *state;
        let received = now_ms();
        for event in events {
            match event {
                Event::Registry(record) => {
                    let entry = entry(state, &record.sensor_id);
                    if let Some(sensor) = &record.sensor {
                        entry.view.kind = Some(sensor.kind.name().to_string());
                        entry.view.unit = Some(sensor.unit.clone());
                        if entry.view.ts.is_none() {
                            entry.view.zone = sensor.zone.clone();
                        }
                    }
                    self.changed(state, &record.sensor_id);
                }
                Event::Point {
                    sensor_id,
                    ts_ms,
                    value,
                } => {
                    state.clock_ms = state.clock_ms.max(ts_ms);
                    let resolution = self.config.hot_resolution_ms.max(1);
                    let retention = self.config.hot_retention_ms;
                    let cap = self.per_sensor_cap(state.sensors.len() + 1);
                    let points = &mut entry(state, &sensor_id).points;
                    if points.len() == points.capacity() {
                        points.reserve_exact(
                            POINTS_STEP.min(cap.saturating_sub(points.len())).max(1),
                        );
                    }
                    match points.back_mut() {
                        // Same bucket: the latest value stands for it.
                        Some(last)
                            if last.0.div_euclid(resolution) == ts_ms.div_euclid(resolution) =>
                        {
                            if ts_ms >= last.0 {
                                *last = (ts_ms, value);
                            }
                        }
                        // Late points are in PostgreSQL; the hot tier only moves forward.
                        Some(last) if ts_ms < last.0 => {}
                        _ => points.push_back((ts_ms, value)),
                    }
                    while points.front().is_some_and(|p| p.0 < ts_ms - retention)
                        || points.len() > cap
                    {
                        points.pop_front();
                    }
                }
                Event::Latest(latest, ingest) => {
                    state.clock_ms = state.clock_ms.max(latest.ts_ms);
                    if let Some(ingest) = ingest {
                        self.metrics
                            .end_to_end_seconds
                            .observe((received - ingest) as f64 / 1e3);
                    }
                    let entry = entry(state, &latest.sensor_id);
                    let view = &mut entry.view;
                    if view.ts.is_none_or(|ts| latest.ts_ms >= ts) {
                        view.zone = latest.zone.clone();
                        view.ts = Some(latest.ts_ms);
                        view.value = Some(latest.value);
                        view.mean = latest.mean;
                        view.stddev = latest.stddev;
                        view.severity = latest.severity;
                        view.ingest_ts = ingest.or(view.ingest_ts);
                        self.changed(state, &latest.sensor_id);
                    }
                }
                Event::Window(window) => {
                    let entry = entry(state, &window.sensor_id);
                    let slot = match window.size {
                        WindowSize::FiveMinutes => &mut entry.view.window_5m,
                        WindowSize::OneHour => &mut entry.view.window_1h,
                    };
                    if slot.as_ref().is_none_or(|w| window.start_ms >= w.start) {
                        *slot = Some(WindowView::from(&window));
                        self.changed(state, &window.sensor_id);
                    }
                }
                Event::Anomaly(anomaly) => {
                    self.metrics
                        .anomalies
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let view = AnomalyView::from(&anomaly);
                    state.anomalies.push_front(view.clone());
                    state
                        .anomalies
                        .truncate(self.config.recent_anomalies.max(1));
                    state.new_anomalies.push(view);
                }
                Event::Alert(event) => {
                    let event = *event;
                    match event.alert.state {
                        AlertState::Open => {
                            state
                                .alerts
                                .insert(event.alert.alert_id.clone(), event.alert.clone());
                        }
                        AlertState::Resolved => {
                            state.alerts.remove(&event.alert.alert_id);
                        }
                    }
                    state.new_alerts.push(event);
                }
                Event::Incident(incident, present) => {
                    let key = (incident.zone.clone(), incident.start_ms);
                    if present {
                        state.incidents.insert(key.clone(), incident);
                    } else {
                        state.incidents.remove(&key);
                    }
                    state.changed_incidents.insert(key);
                }
            }
        }
        // Closed incidents older than the hot retention are forgotten.
        let horizon = state.clock_ms - self.config.hot_retention_ms;
        state.incidents.retain(|_, i| i.end_ms >= horizon);
        self.bound_sensors(state);
    }

    /// Keeps the hot tier bounded: sensors whose latest reading left the hot
    /// retention (looked for once a minute of event time) leave, unless the
    /// registry knows them; past `hot_max_sensors`, the least recently
    /// updated leave (unregistered first) down to nine tenths of it.
    fn bound_sensors(&self, state: &mut State) {
        let horizon = state.clock_ms - self.config.hot_retention_ms;
        let mut gone: Vec<String> = Vec::new();
        if state.clock_ms - state.swept_ms >= 60_000 {
            state.swept_ms = state.clock_ms;
            gone.extend(
                state
                    .sensors
                    .iter()
                    .filter(|(_, e)| {
                        e.view.kind.is_none() && e.view.ts.is_some_and(|ts| ts < horizon)
                    })
                    .map(|(id, _)| id.clone()),
            );
        }
        let max = self.config.hot_max_sensors.max(1);
        if state.sensors.len() > max {
            let mut by_age: Vec<(bool, i64, &String)> = state
                .sensors
                .iter()
                .map(|(id, e)| (e.view.kind.is_some(), e.view.ts.unwrap_or(i64::MIN), id))
                .collect();
            by_age.sort_unstable();
            let excess = state.sensors.len() - max * 9 / 10;
            gone.extend(by_age.into_iter().take(excess).map(|(_, _, id)| id.clone()));
        }
        if gone.is_empty() {
            return;
        }
        for id in &gone {
            state.sensors.remove(id);
            state.ready.remove(id);
        }
        let gone: BTreeSet<&String> = gone.iter().collect();
        state.held.retain(|(_, id)| !gone.contains(id));
        self.metrics
            .hot_evicted
            .fetch_add(gone.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn per_sensor_cap(&self, sensors: usize) -> usize {
        (self.config.hot_max_bytes / POINT_BYTES / sensors.max(1)).max(2)
    }

    /// Notes that a sensor's view changed: ready to push unless it was
    /// pushed less than `coalesce_ms` ago (then held until then).
    fn changed(&self, state: &mut State, id: &str) {
        let coalesce = Duration::from_millis(self.config.coalesce_ms);
        let Some(entry) = state.sensors.get_mut(id) else {
            return;
        };
        if entry.held || state.ready.contains(id) {
            return;
        }
        match entry.sent_at.map(|at| at + coalesce) {
            Some(due) if due > Instant::now() => {
                entry.held = true;
                state.held.insert((due, id.to_string()));
            }
            _ => {
                state.ready.insert(id.to_string());
            }
        }
    }

    /// Broadcasts the ready changes (and held sensors due by `now`), if any.
    pub fn flush(&self, now: Instant) {
        let delta = {
            let Ok(mut state) = self.state.write() else {
                return;
            };
            let state = &mut *state;
            while let Some((at, _)) = state.held.first()
                && *at <= now
            {
                if let Some((_, id)) = state.held.pop_first() {
                    if let Some(entry) = state.sensors.get_mut(&id) {
                        entry.held = false;
                    }
                    state.ready.insert(id);
                }
            }
            if state.ready.is_empty()
                && state.new_anomalies.is_empty()
                && state.new_alerts.is_empty()
                && state.changed_incidents.is_empty()
            {
                return;
            }
            let mut sensors = Vec::with_capacity(state.ready.len());
            for id in std::mem::take(&mut state.ready) {
                if let Some(entry) = state.sensors.get_mut(&id) {
                    entry.sent_at = Some(now);
                    sensors.push(entry.view.clone());
                }
            }
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
        let (first, last) = (points.front()?.0, points.back()?.0);
        let covers = first <= from
            || last - first >= self.config.hot_retention_ms - self.config.hot_resolution_ms;
        covers.then(|| {
            points
                .iter()
                .filter(|p| p.0 >= from && p.0 <= to)
                .copied()
                .collect()
        })
    }

    /// Points held over all sensors, and bytes they take.
    pub fn footprint(&self) -> (usize, usize) {
        self.state.read().map_or((0, 0), |s| {
            let n: usize = s.sensors.values().map(|e| e.points.len()).sum();
            (n, n * POINT_BYTES)
        })
    }
}

fn entry<'a>(state: &'a mut State, id: &str) -> &'a mut SensorEntry {
    state
        .sensors
        .entry(id.to_string())
        .or_insert_with(|| SensorEntry {
            view: SensorView {
                sensor_id: id.to_string(),
                zone: weir_dataflow::records::UNASSIGNED_ZONE.to_string(),
                kind: None,
                unit: None,
                ts: None,
                value: None,
                mean: None,
                stddev: None,
                severity: None,
                window_5m: None,
                window_1h: None,
                ingest_ts: None,
            },
            points: VecDeque::new(),
            sent_at: None,
            held: false,
        })
}
