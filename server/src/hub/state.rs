//! The hot tier's state, and how the pipeline's events change it: the
//! latest view of every sensor with its recent points, recent anomalies,
//! zone incidents and open alerts, and what changed since the last flush.
//! Time here is event time; wall time only paces pushes ([`Pacing`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weir_dataflow::records::{Alert, AlertEvent, AlertState, WindowSize, ZoneIncident};

use super::pacing::Pacing;
use super::points::{self, Keep, POINT_BYTES, Points};
use crate::config::ServerConfig;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::views::{AnomalyView, SensorView, WindowView};

/// One sensor in the hot tier.
pub(super) struct SensorEntry {
    pub(super) view: SensorView,
    pub(super) points: Points,
}

/// The hot tier (see the module).
#[derive(Default)]
pub(super) struct State {
    pub(super) sensors: BTreeMap<String, SensorEntry>,
    pub(super) anomalies: VecDeque<AnomalyView>,
    pub(super) incidents: BTreeMap<(String, i64), ZoneIncident>,
    /// The largest event time seen.
    pub(super) clock_ms: i64,
    /// Which changed sensors the next flush pushes.
    pub(super) pacing: Pacing,
    pub(super) new_anomalies: Vec<AnomalyView>,
    /// Open alerts by id.
    pub(super) alerts: BTreeMap<String, Alert>,
    /// Alert events since the last flush.
    pub(super) new_alerts: Vec<AlertEvent>,
    pub(super) changed_incidents: BTreeSet<(String, i64)>,
    /// The event time silent sensors were last looked for.
    swept_ms: i64,
}

impl State {
    /// How a sensor's points are kept with `sensors` sensors in the tier.
    pub(super) fn keep(config: &ServerConfig, sensors: usize) -> Keep {
        Keep {
            resolution: config.hot_resolution_ms.max(1),
            retention: config.hot_retention_ms,
            cap: (config.hot_max_bytes / POINT_BYTES / sensors.max(1)).max(2),
        }
    }

    /// Applies a batch of events (see [`crate::Publisher::publish`]),
    /// received at `received_ms` (wall time) and `now`.
    pub(super) fn apply(
        &mut self,
        events: Vec<Event>,
        config: &ServerConfig,
        metrics: &Metrics,
        (received_ms, now): (i64, Instant),
    ) {
        let coalesce = Duration::from_millis(config.coalesce_ms);
        for event in events {
            match event {
                Event::Registry(record) => {
                    let entry = self.entry(&record.sensor_id);
                    if let Some(sensor) = &record.sensor {
                        entry.view.kind = Some(sensor.kind.name().to_string());
                        entry.view.unit = Some(sensor.unit.clone());
                        if entry.view.ts.is_none() {
                            entry.view.zone = sensor.zone.clone();
                        }
                    }
                    self.pacing.changed(&record.sensor_id, now, coalesce);
                }
                Event::Point {
                    sensor_id,
                    ts_ms,
                    value,
                } => {
                    self.clock_ms = self.clock_ms.max(ts_ms);
                    let keep = State::keep(config, self.sensors.len() + 1);
                    points::add(&mut self.entry(&sensor_id).points, ts_ms, value, keep);
                }
                Event::Latest(latest, ingest) => {
                    self.clock_ms = self.clock_ms.max(latest.ts_ms);
                    if let Some(ingest) = ingest {
                        metrics
                            .end_to_end_seconds
                            .observe((received_ms - ingest) as f64 / 1e3);
                    }
                    let view = &mut self.entry(&latest.sensor_id).view;
                    if view.ts.is_none_or(|ts| latest.ts_ms >= ts) {
                        view.zone = latest.zone.clone();
                        view.ts = Some(latest.ts_ms);
                        view.value = Some(latest.value);
                        view.mean = latest.mean;
                        view.stddev = latest.stddev;
                        view.severity = latest.severity;
                        view.ingest_ts = ingest.or(view.ingest_ts);
                        self.pacing.changed(&latest.sensor_id, now, coalesce);
                    }
                }
                Event::Window(window) => {
                    let view = &mut self.entry(&window.sensor_id).view;
                    let slot = match window.size {
                        WindowSize::FiveMinutes => &mut view.window_5m,
                        WindowSize::OneHour => &mut view.window_1h,
                    };
                    if slot.as_ref().is_none_or(|w| window.start_ms >= w.start) {
                        *slot = Some(WindowView::from(&window));
                        self.pacing.changed(&window.sensor_id, now, coalesce);
                    }
                }
                Event::Anomaly(anomaly) => {
                    metrics.anomalies.fetch_add(1, Ordering::Relaxed);
                    let view = AnomalyView::from(&anomaly);
                    self.anomalies.push_front(view.clone());
                    self.anomalies.truncate(config.recent_anomalies.max(1));
                    self.new_anomalies.push(view);
                }
                Event::Alert(event) => {
                    let event = *event;
                    match event.alert.state {
                        AlertState::Open => {
                            self.alerts
                                .insert(event.alert.alert_id.clone(), event.alert.clone());
                        }
                        AlertState::Resolved => {
                            self.alerts.remove(&event.alert.alert_id);
                        }
                    }
                    self.new_alerts.push(event);
                }
                Event::Incident(incident, present) => {
                    let key = (incident.zone.clone(), incident.start_ms);
                    if present {
                        self.incidents.insert(key.clone(), incident);
                    } else {
                        self.incidents.remove(&key);
                    }
                    self.changed_incidents.insert(key);
                }
            }
        }
        // Closed incidents older than the hot retention are forgotten.
        let horizon = self.clock_ms - config.hot_retention_ms;
        self.incidents.retain(|_, i| i.end_ms >= horizon);
        let evicted = self.bound_sensors(config);
        metrics.hot_evicted.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Keeps the hot tier bounded: sensors whose latest reading left the hot
    /// retention (looked for once a minute of event time) leave, unless the
    /// registry knows them; past `hot_max_sensors`, the least recently
    /// updated leave (unregistered first) down to nine tenths of it.
    /// Returns how many left.
    fn bound_sensors(&mut self, config: &ServerConfig) -> u64 {
        let horizon = self.clock_ms - config.hot_retention_ms;
        let mut gone: Vec<String> = Vec::new();
        if self.clock_ms - self.swept_ms >= 60_000 {
            self.swept_ms = self.clock_ms;
            gone.extend(
                self.sensors
                    .iter()
                    .filter(|(_, e)| {
                        e.view.kind.is_none() && e.view.ts.is_some_and(|ts| ts < horizon)
                    })
                    .map(|(id, _)| id.clone()),
            );
        }
        let max = config.hot_max_sensors.max(1);
        if self.sensors.len() > max {
            let mut by_age: Vec<(bool, i64, &String)> = self
                .sensors
                .iter()
                .map(|(id, e)| (e.view.kind.is_some(), e.view.ts.unwrap_or(i64::MIN), id))
                .collect();
            by_age.sort_unstable();
            let excess = self.sensors.len() - max * 9 / 10;
            gone.extend(by_age.into_iter().take(excess).map(|(_, _, id)| id.clone()));
        }
        gone.sort_unstable();
        gone.dedup();
        for id in &gone {
            self.sensors.remove(id);
        }
        self.pacing.forget(&gone);
        gone.len() as u64
    }

    fn entry(&mut self, id: &str) -> &mut SensorEntry {
        self.sensors
            .entry(id.to_string())
            .or_insert_with(|| SensorEntry {
                view: SensorView::empty(id),
                points: VecDeque::new(),
            })
    }

    /// Whether a flush at this point would send something now.
    pub(super) fn anything_ready(&self) -> bool {
        self.pacing.any_ready()
            || !self.new_anomalies.is_empty()
            || !self.new_alerts.is_empty()
            || !self.changed_incidents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_dataflow::Sensor;
    use weir_dataflow::records::{LatestState, RegistryRecord, WindowAggregate};

    fn config() -> ServerConfig {
        ServerConfig {
            hot_max_sensors: 10,
            ..ServerConfig::default()
        }
    }

    fn latest(id: &str, zone: &str, ts_ms: i64, value: f64) -> Event {
        Event::Latest(
            LatestState {
                sensor_id: id.to_string(),
                zone: zone.to_string(),
                ts_ms,
                value,
                mean: None,
                stddev: None,
                severity: None,
            },
            None,
        )
    }

    fn apply(state: &mut State, events: Vec<Event>) {
        let metrics = Metrics::default();
        state.apply(events, &config(), &metrics, (0, Instant::now()));
    }

    #[test]
    fn latest_state_never_moves_back_and_the_registry_names_the_kind() {
        let mut state = State::default();
        let sensor = Sensor::decode(
            br#"{"sensor_id":"t-1","kind":"temperature","location":"l","zone":"z1","unit":"C"}"#,
        );
        let Ok(sensor) = sensor else {
            panic!("test sensor: {sensor:?}");
        };
        apply(
            &mut state,
            vec![
                Event::Registry(RegistryRecord {
                    sensor_id: "t-1".into(),
                    sensor: Some(sensor),
                    record_ts_ms: 0,
                    clock_ms: 0,
                }),
                latest("t-1", "z1", 2_000, 20.0),
                latest("t-1", "z1", 1_000, 99.0),
            ],
        );
        let view = &state.sensors["t-1"].view;
        assert_eq!((view.ts, view.value), (Some(2_000), Some(20.0)));
        assert_eq!(view.kind.as_deref(), Some("temperature"));
        assert_eq!(state.clock_ms, 2_000);
        assert_eq!(state.pacing.take(Instant::now()).len(), 1);
    }

    #[test]
    fn a_window_replaces_only_an_older_one_of_its_size() {
        let mut state = State::default();
        let window = |start_ms: i64, count: u64| {
            Event::Window(WindowAggregate {
                sensor_id: "s".into(),
                size: WindowSize::FiveMinutes,
                start_ms,
                count,
                sum: 1.0,
                min: 1.0,
                max: 1.0,
                partial: false,
            })
        };
        apply(&mut state, vec![window(300_000, 3), window(0, 9)]);
        let view = &state.sensors["s"].view;
        assert_eq!(view.window_5m.as_ref().map(|w| w.start), Some(300_000));
        assert!(view.window_1h.is_none());
    }

    #[test]
    fn past_the_sensor_bound_the_oldest_unregistered_leave_first() {
        let mut state = State::default();
        let events = (0..11)
            .map(|i| latest(&format!("s-{i:02}"), "z", 1_000 + i, 1.0))
            .collect();
        apply(&mut state, events);
        // 11 > 10: down to 9, the two oldest gone.
        assert_eq!(state.sensors.len(), 9);
        assert!(!state.sensors.contains_key("s-00") && !state.sensors.contains_key("s-01"));
        assert!(state.sensors.contains_key("s-10"));
        let pushed = state.pacing.take(Instant::now());
        assert!(!pushed.contains("s-00"), "an evicted sensor is not pushed");
        assert_eq!(pushed.len(), 9);
    }
}
