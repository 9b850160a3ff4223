//! One sensor's alerts: deduplication, cooldown, escalation and resolution
//! per alert key (sensor, kind), decided on the sensor's readings in
//! partition order and on their event times only.
//!
//! ```text
//!  reading (not too late) + its anomaly, if any
//!     │ for each kind (zscore, threshold_high, threshold_low):
//!     ├─ anomalous, no open alert, past cooldown ─► Fired      (cooldown until ts + cooldown)
//!     ├─ anomalous, no open alert, in cooldown   ─► Suppressed (once per cooldown)
//!     ├─ anomalous, open ─► occurrences + 1; persisted escalate_after or K occurrences ─► Escalated (once)
//!     └─ normal, open, ts ≥ last anomalous ts + resolve_after ─► Resolved (cooldown until ts + cooldown)
//! ```
//!
//! A sensor that falls silent keeps its alert open: only readings can say
//! a condition cleared. Silence itself is a key of its own (`silent`):
//!
//! ```text
//!  no reading with a clock in (last clock, last clock + silent_after]
//!     ├─ past cooldown ─► Fired (at the deadline)   ├─ in cooldown ─► Suppressed
//!     └─ still silent escalate_after later ─► Escalated
//!  any reading (not too late) while it is open ─► Resolved
//! ```
//!
//! The operator decides "no reading came" once its input frontier (every
//! partition's clock) has passed the deadline: see `TrackSensors`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::AlertPolicy;
use crate::records::{
    Alert, AlertChange, AlertKind, AlertState, AlertTransition, Anomaly, Level, Origin, Severity,
    ThresholdKind,
};

/// What a restart hands the graph: where each partition's replay starts
/// (in record time), where the replay of already alerted readings ends,
/// and the alert state the store holds.
#[derive(Clone, Debug, Default)]
pub struct AlertSeed {
    /// Per partition, the first offset not durable: readings before it
    /// were alerted on before the restart (their events are stored), so
    /// the replay rebuilds statistics from them but runs no alert rule.
    pub durable_offsets: BTreeMap<i32, i64>,
    /// Per partition rewound mid-stream, the clock of the point it was
    /// rewound to: a sensor's state rebuilt from there cannot vouch for
    /// windows that began before it (they are marked partial).
    pub rewind_clocks: BTreeMap<i32, i64>,
    /// Each sensor's keys.
    pub sensors: HashMap<String, Vec<SeededKey>>,
    /// Open alerts, for the zones' books.
    pub open: Vec<Alert>,
}

impl AlertSeed {
    /// The seed from the alerts the store holds (the latest of each key;
    /// see `alerts_to_seed`) and the durable offsets of every partition.
    pub fn from_store(
        alerts: Vec<Alert>,
        durable_offsets: BTreeMap<i32, i64>,
        policy: &AlertPolicy,
    ) -> AlertSeed {
        let mut sensors: HashMap<String, Vec<SeededKey>> = HashMap::new();
        for alert in &alerts {
            let Some(sensor) = &alert.sensor_id else {
                continue;
            };
            let open = alert.state == AlertState::Open;
            let cooldown = policy.cooldown_ms(&alert.zone);
            let cooldown_until_ms = alert.fired_ms.saturating_add(cooldown).max(
                alert
                    .resolved_ms
                    .map_or(i64::MIN, |r| r.saturating_add(cooldown)),
            );
            sensors.entry(sensor.clone()).or_default().push(SeededKey {
                kind: alert.kind,
                open,
                fired_ms: alert.fired_ms,
                last_anomalous_ms: alert.updated_ms,
                occurrences: alert.occurrences,
                severity: alert.severity,
                escalated: alert.level == Level::Page,
                cooldown_until_ms,
            });
        }
        AlertSeed {
            durable_offsets,
            rewind_clocks: BTreeMap::new(),
            sensors,
            open: alerts
                .into_iter()
                .filter(|a| a.state == AlertState::Open)
                .collect(),
        }
    }

    /// Whether a reading at `partition`/`offset` was alerted on before the restart.
    pub fn replayed(&self, partition: i32, offset: i64) -> bool {
        self.durable_offsets
            .get(&partition)
            .is_some_and(|durable| offset < *durable)
    }
}

/// The alert kind an anomaly raises, with its severity: a registry
/// threshold crossed makes it a threshold anomaly (the thresholds are the
/// operators' own definition of abnormal; its z-score is reported with
/// it), otherwise a z-score anomaly. One reading never opens two alerts.
pub fn kind_of(anomaly: &Anomaly) -> Option<(AlertKind, Severity)> {
    match (anomaly.threshold, anomaly.z_severity) {
        (Some((threshold, _)), _) => Some(match threshold {
            ThresholdKind::CritHigh => (AlertKind::ThresholdHigh, Severity::Critical),
            ThresholdKind::WarnHigh => (AlertKind::ThresholdHigh, Severity::Warning),
            ThresholdKind::CritLow => (AlertKind::ThresholdLow, Severity::Critical),
            ThresholdKind::WarnLow => (AlertKind::ThresholdLow, Severity::Warning),
        }),
        (None, Some(severity)) => Some((AlertKind::ZScore, severity)),
        (None, None) => None,
    }
}

/// An open alert of one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Open {
    fired_ms: i64,
    last_anomalous_ms: i64,
    occurrences: u64,
    severity: Severity,
    escalated: bool,
}

/// One key's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct KeyState {
    open: Option<Open>,
    /// Repeats before this event time are suppressed.
    cooldown_until_ms: i64,
    /// A suppression was already recorded for the current cooldown.
    suppressed: bool,
    /// When its latest alert fired (also as the store holds it after a
    /// restart): a silence with a deadline up to it is already decided.
    last_fired_ms: Option<i64>,
}

/// A sensor's alert keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SensorAlerts {
    keys: BTreeMap<AlertKind, KeyState>,
}

/// One key's state as recovered from the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeededKey {
    /// Kind.
    pub kind: AlertKind,
    /// Whether an alert is open.
    pub open: bool,
    /// When the open alert fired.
    pub fired_ms: i64,
    /// Its latest anomalous reading (the alert's last update).
    pub last_anomalous_ms: i64,
    /// Its anomalous readings.
    pub occurrences: u64,
    /// Its worst severity.
    pub severity: Severity,
    /// Whether it escalated.
    pub escalated: bool,
    /// Repeats before this are suppressed.
    pub cooldown_until_ms: i64,
}

/// The latest reading of a sensor that can fall silent: what a `silent`
/// alert reports, and from when.
#[derive(Clone, Debug, PartialEq)]
pub struct Heard {
    /// Sensor id.
    pub sensor_id: String,
    /// Zone of the registry version in force at the reading.
    pub zone: String,
    /// Its event time.
    pub ts_ms: i64,
    /// Its value.
    pub value: f64,
    /// Where it came from (its clock is the partition clock at the reading).
    pub origin: Origin,
    /// How long the sensor may then send nothing.
    pub silent_after_ms: i64,
}

impl Heard {
    /// The clock by which the next reading is due: the sensor is silent if
    /// none comes with a clock up to it.
    pub fn deadline(&self) -> i64 {
        self.origin.clock_ms.saturating_add(self.silent_after_ms)
    }
}

/// What one reading is, for the alert rules.
pub struct Observation<'a> {
    /// Sensor id.
    pub sensor_id: &'a str,
    /// Zone of the registry version in force.
    pub zone: &'a str,
    /// Event time.
    pub ts_ms: i64,
    /// Value.
    pub value: f64,
    /// Where it came from.
    pub origin: &'a Origin,
    /// Its anomaly, if it is one.
    pub anomaly: Option<&'a Anomaly>,
}

impl SensorAlerts {
    /// Applies one reading; returns the transitions it causes, in kind order.
    pub fn observe(
        &mut self,
        seen: &Observation<'_>,
        policy: &AlertPolicy,
    ) -> Vec<AlertTransition> {
        let raised = seen.anomaly.and_then(kind_of);
        let cooldown = || policy.cooldown_ms(seen.zone);
        let mut out = Vec::new();
        for kind in AlertKind::ALL {
            let severity = raised.filter(|(k, _)| *k == kind).map(|(_, s)| s);
            if severity.is_none() && !self.keys.contains_key(&kind) {
                continue; // a normal reading of a key with no state: nothing to do
            }
            let state = self.keys.entry(kind).or_default();
            let mut emit = |change, open: &Open| {
                out.push(AlertTransition {
                    alert_id: alert_id(seen.sensor_id, kind, open.fired_ms),
                    sensor_id: seen.sensor_id.to_string(),
                    zone: seen.zone.to_string(),
                    kind,
                    change,
                    ts_ms: seen.ts_ms,
                    fired_ms: open.fired_ms,
                    severity: open.severity,
                    occurrences: open.occurrences,
                    value: seen.value,
                    origin: seen.origin.clone(),
                });
            };
            match (severity, &mut state.open) {
                (Some(severity), Some(open)) => {
                    open.occurrences += 1;
                    open.last_anomalous_ms = open.last_anomalous_ms.max(seen.ts_ms);
                    open.severity = open.severity.max(severity);
                    let persisted = seen.ts_ms - open.fired_ms >= policy.escalate_after_ms;
                    let repeated = policy.escalate_after_occurrences > 0
                        && open.occurrences >= policy.escalate_after_occurrences;
                    if !open.escalated && (persisted || repeated) {
                        open.escalated = true;
                        emit(AlertChange::Escalated, open);
                    }
                }
                (Some(severity), None) if seen.ts_ms < state.cooldown_until_ms => {
                    if !state.suppressed {
                        state.suppressed = true;
                        let would = Open {
                            fired_ms: seen.ts_ms,
                            last_anomalous_ms: seen.ts_ms,
                            occurrences: 1,
                            severity,
                            escalated: false,
                        };
                        emit(AlertChange::Suppressed, &would);
                    }
                }
                (Some(severity), None) => {
                    let open = Open {
                        fired_ms: seen.ts_ms,
                        last_anomalous_ms: seen.ts_ms,
                        occurrences: 1,
                        severity,
                        escalated: false,
                    };
                    state.cooldown_until_ms = seen.ts_ms.saturating_add(cooldown());
                    state.suppressed = false;
                    emit(AlertChange::Fired, &open);
                    state.open = Some(open);
                }
                (None, Some(open))
                    if seen.ts_ms
                        >= open
                            .last_anomalous_ms
                            .saturating_add(policy.resolve_after_ms) =>
                {
                    emit(AlertChange::Resolved, open);
                    state.cooldown_until_ms = state
                        .cooldown_until_ms
                        .max(seen.ts_ms.saturating_add(cooldown()));
                    state.suppressed = false;
                    state.open = None;
                }
                (None, _) => {}
            }
        }
        // Any reading ends a silence.
        if let Some(state) = self.keys.get_mut(&AlertKind::Silent)
            && let Some(open) = state.open.take()
        {
            out.push(AlertTransition {
                alert_id: alert_id(seen.sensor_id, AlertKind::Silent, open.fired_ms),
                sensor_id: seen.sensor_id.to_string(),
                zone: seen.zone.to_string(),
                kind: AlertKind::Silent,
                change: AlertChange::Resolved,
                ts_ms: seen.ts_ms,
                fired_ms: open.fired_ms,
                severity: open.severity,
                occurrences: open.occurrences,
                value: seen.value,
                origin: seen.origin.clone(),
            });
            state.cooldown_until_ms = state
                .cooldown_until_ms
                .max(seen.ts_ms.saturating_add(cooldown()));
            state.suppressed = false;
        }
        // Keys with nothing open and no cooldown left hold nothing worth keeping.
        self.keys
            .retain(|_, k| k.open.is_some() || k.cooldown_until_ms > seen.ts_ms);
        out
    }

    /// The silent-sensor rule, `due` being a clock no reading of the sensor
    /// can still come before: the transitions it decides, and the clock at
    /// which to look again (an escalation to come), if any.
    pub fn silence(
        &mut self,
        heard: &Heard,
        due: i64,
        policy: &AlertPolicy,
    ) -> (Vec<AlertTransition>, Option<i64>) {
        // Decided on clocks, reported in event time: the event time of a
        // clock is the last reading's, moved on by as much.
        let deadline = heard.deadline();
        let shift = heard.ts_ms.saturating_sub(heard.origin.clock_ms);
        let event_time = |clock: i64| clock.saturating_add(shift);
        let clock_of = |ts: i64| ts.saturating_sub(shift);
        let state = self.keys.entry(AlertKind::Silent).or_default();
        let emit = |change, open: &Open, clock: i64| AlertTransition {
            alert_id: alert_id(&heard.sensor_id, AlertKind::Silent, open.fired_ms),
            sensor_id: heard.sensor_id.clone(),
            zone: heard.zone.clone(),
            kind: AlertKind::Silent,
            change,
            ts_ms: event_time(clock),
            fired_ms: open.fired_ms,
            severity: open.severity,
            occurrences: open.occurrences,
            value: heard.value,
            // Decided at `clock`: no transition may carry a clock before
            // the timely time it is sent at.
            origin: Origin {
                clock_ms: clock,
                ..heard.origin.clone()
            },
        };
        let opened = |at: i64| Open {
            fired_ms: at,
            last_anomalous_ms: at,
            occurrences: 1,
            severity: policy.silent_severity,
            escalated: false,
        };
        match &mut state.open {
            Some(open) if !open.escalated => {
                let escalate_at = clock_of(open.fired_ms).saturating_add(policy.escalate_after_ms);
                if due < escalate_at {
                    return (Vec::new(), Some(escalate_at));
                }
                open.escalated = true;
                (vec![emit(AlertChange::Escalated, open, escalate_at)], None)
            }
            Some(_) => (Vec::new(), None),
            None if due < deadline => (Vec::new(), Some(deadline)),
            // Decided before a restart (the store holds its alert).
            None if state
                .last_fired_ms
                .is_some_and(|f| event_time(deadline) <= f) =>
            {
                (Vec::new(), None)
            }
            None if event_time(deadline) < state.cooldown_until_ms => {
                let mut out = Vec::new();
                if !state.suppressed {
                    state.suppressed = true;
                    let would = opened(event_time(deadline));
                    out.push(emit(AlertChange::Suppressed, &would, deadline));
                }
                (out, None)
            }
            None => {
                let open = opened(event_time(deadline));
                state.cooldown_until_ms = open
                    .fired_ms
                    .saturating_add(policy.cooldown_ms(&heard.zone));
                state.suppressed = false;
                state.last_fired_ms = Some(open.fired_ms);
                let fired = emit(AlertChange::Fired, &open, deadline);
                state.open = Some(open);
                let escalate_at = deadline.saturating_add(policy.escalate_after_ms);
                (vec![fired], Some(escalate_at))
            }
        }
    }

    /// Sets keys' state from what the store holds (recovery).
    pub fn seed(&mut self, keys: &[SeededKey]) {
        for key in keys {
            let open = key.open.then_some(Open {
                fired_ms: key.fired_ms,
                last_anomalous_ms: key.last_anomalous_ms,
                occurrences: key.occurrences,
                severity: key.severity,
                escalated: key.escalated,
            });
            self.keys.insert(
                key.kind,
                KeyState {
                    open,
                    cooldown_until_ms: key.cooldown_until_ms,
                    suppressed: false,
                    last_fired_ms: Some(key.fired_ms),
                },
            );
        }
    }

    /// Whether an alert of any key is open.
    pub fn any_open(&self) -> bool {
        self.keys.values().any(|k| k.open.is_some())
    }

    /// Keys held (for the memory checks).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The id of the alert of `sensor` and `kind` that fired at `fired_ms`
/// (`sensor:kind:fired_ms`):
/// stable across replays, so stores and receivers can deduplicate on it.
pub fn alert_id(sensor: &str, kind: AlertKind, fired_ms: i64) -> String {
    format!("{sensor}:{}:{fired_ms}", kind.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Severity;

    const T0: i64 = 1_764_000_000_000;
    const MIN: i64 = 60_000;

    fn anomaly(ts: i64, critical: bool) -> Anomaly {
        Anomaly {
            sensor_id: "co-1".into(),
            zone: "z".into(),
            ts_ms: ts,
            value: 99.0,
            mean: None,
            stddev: None,
            samples: 0,
            z: None,
            z_severity: None,
            threshold: Some((
                if critical {
                    ThresholdKind::CritHigh
                } else {
                    ThresholdKind::WarnHigh
                },
                50.0,
            )),
            severity: if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            origin: origin(ts),
        }
    }

    fn origin(ts: i64) -> Origin {
        Origin {
            partition: 0,
            offset: (ts - T0) / 1_000,
            record_ts_ms: ts,
            clock_ms: ts,
        }
    }

    /// Feeds one reading every `step` ms over `[from, to)`, anomalous or not.
    fn feed(
        alerts: &mut SensorAlerts,
        policy: &AlertPolicy,
        from: i64,
        to: i64,
        step: i64,
        anomalous: Option<bool>,
    ) -> Vec<AlertTransition> {
        let mut out = Vec::new();
        let mut ts = from;
        while ts < to {
            let a = anomalous.map(|critical| anomaly(ts, critical));
            let o = origin(ts);
            out.extend(alerts.observe(
                &Observation {
                    sensor_id: "co-1",
                    zone: "z",
                    ts_ms: ts,
                    value: 1.0,
                    origin: &o,
                    anomaly: a.as_ref(),
                },
                policy,
            ));
            ts += step;
        }
        out
    }

    fn changes(t: &[AlertTransition]) -> Vec<(AlertChange, i64)> {
        t.iter()
            .map(|t| (t.change, (t.ts_ms - T0) / 1_000))
            .collect()
    }

    fn heard(clock: i64) -> Heard {
        Heard {
            sensor_id: "co-1".into(),
            zone: "z".into(),
            ts_ms: clock,
            value: 1.0,
            origin: origin(clock),
            silent_after_ms: MIN,
        }
    }

    #[test]
    fn a_silence_fires_at_its_deadline_resolves_on_a_reading_and_cools_down() {
        let policy = AlertPolicy {
            silent_after_ms: MIN,
            ..AlertPolicy::default()
        };
        let mut alerts = SensorAlerts::default();
        // Before the deadline: look again at it.
        assert_eq!(
            alerts.silence(&heard(T0), T0 + 30_000, &policy),
            (Vec::new(), Some(T0 + MIN))
        );
        let (fired, next) = alerts.silence(&heard(T0), T0 + MIN, &policy);
        assert_eq!(changes(&fired), vec![(AlertChange::Fired, 60)]);
        assert_eq!(fired[0].kind, AlertKind::Silent);
        assert_eq!(
            fired[0].origin.clock_ms,
            T0 + MIN,
            "decided at the deadline"
        );
        assert_eq!(fired[0].severity, Severity::Warning);
        assert_eq!(next, Some(T0 + MIN + policy.escalate_after_ms));
        assert!(alerts.any_open());
        // Any reading resolves it (no anomaly needed, none raised).
        let resolved = feed(
            &mut alerts,
            &policy,
            T0 + 2 * MIN,
            T0 + 2 * MIN + 1,
            1,
            None,
        );
        assert_eq!(changes(&resolved), vec![(AlertChange::Resolved, 120)]);
        assert!(!alerts.any_open());
        // Silent again within the cooldown: suppressed, once.
        let (again, next) = alerts.silence(&heard(T0 + 2 * MIN), T0 + 3 * MIN, &policy);
        assert_eq!(changes(&again), vec![(AlertChange::Suppressed, 180)]);
        assert_eq!(next, None);
        let (again, _) = alerts.silence(&heard(T0 + 4 * MIN), T0 + 5 * MIN, &policy);
        assert!(again.is_empty());
    }

    #[test]
    fn a_silence_the_store_holds_is_not_decided_again_after_a_restart() {
        let policy = AlertPolicy::default();
        let seeded = |open: bool| SeededKey {
            kind: AlertKind::Silent,
            open,
            fired_ms: T0 + MIN,
            last_anomalous_ms: T0 + MIN,
            occurrences: 1,
            severity: Severity::Warning,
            escalated: false,
            cooldown_until_ms: T0 + MIN + policy.cooldown_ms,
        };
        // Fired and resolved before the restart: the replay decides nothing.
        let mut alerts = SensorAlerts::default();
        alerts.seed(&[seeded(false)]);
        assert_eq!(
            alerts.silence(&heard(T0), T0 + MIN, &policy),
            (Vec::new(), None)
        );
        // Still open: only its escalation is left to come.
        let mut alerts = SensorAlerts::default();
        alerts.seed(&[seeded(true)]);
        let (none, next) = alerts.silence(&heard(T0), T0 + MIN, &policy);
        assert!(none.is_empty());
        assert_eq!(next, Some(T0 + MIN + policy.escalate_after_ms));
        let (escalated, _) =
            alerts.silence(&heard(T0), T0 + MIN + policy.escalate_after_ms, &policy);
        assert_eq!(changes(&escalated), vec![(AlertChange::Escalated, 660)]);
    }

    #[test]
    fn a_stuck_sensor_fires_once_escalates_once_and_resolves() {
        let policy = AlertPolicy {
            escalate_after_occurrences: 0,
            ..AlertPolicy::default()
        };
        let mut alerts = SensorAlerts::default();
        // 100 anomalous readings, one per 10 s (16.5 minutes).
        let t = feed(&mut alerts, &policy, T0, T0 + 1_000_000, 10_000, Some(true));
        assert_eq!(
            changes(&t),
            vec![(AlertChange::Fired, 0), (AlertChange::Escalated, 600)],
            "one alert, escalated once after 10 minutes"
        );
        assert_eq!(t[1].severity, Severity::Critical);
        assert_eq!(t[1].alert_id, t[0].alert_id);
        // Normal again: resolved 5 minutes after the last anomalous reading.
        let t = feed(
            &mut alerts,
            &policy,
            T0 + 1_000_000,
            T0 + 1_400_000,
            10_000,
            None,
        );
        assert_eq!(changes(&t), vec![(AlertChange::Resolved, 1_290)]);
        assert_eq!(t[0].occurrences, 100);
        // Anomalous again within the cooldown (5 min from 1,290 s): suppressed
        // once; from 1,590 s on, a new alert.
        let t = feed(
            &mut alerts,
            &policy,
            T0 + 1_400_000,
            T0 + 1_700_000,
            10_000,
            Some(false),
        );
        assert_eq!(
            changes(&t),
            vec![
                (AlertChange::Suppressed, 1_400),
                (AlertChange::Fired, 1_590)
            ]
        );
        assert_ne!(
            t[1].alert_id,
            alert_id("co-1", AlertKind::ThresholdHigh, T0)
        );
    }

    #[test]
    fn occurrences_escalate_too_and_short_gaps_do_not_resolve() {
        let policy = AlertPolicy {
            escalate_after_occurrences: 5,
            ..AlertPolicy::default()
        };
        let mut alerts = SensorAlerts::default();
        let mut t = feed(&mut alerts, &policy, T0, T0 + 30_000, 10_000, Some(false));
        // Normal for 4 minutes: not long enough to resolve.
        t.extend(feed(
            &mut alerts,
            &policy,
            T0 + 30_000,
            T0 + 270_000,
            10_000,
            None,
        ));
        t.extend(feed(
            &mut alerts,
            &policy,
            T0 + 270_000,
            T0 + 300_000,
            10_000,
            Some(false),
        ));
        assert_eq!(
            changes(&t),
            vec![(AlertChange::Fired, 0), (AlertChange::Escalated, 280)]
        );
        assert_eq!(t[1].occurrences, 5);
        assert_eq!(
            t[1].severity,
            Severity::Warning,
            "no critical anomaly was seen"
        );
    }

    #[test]
    fn zone_cooldown_overrides_the_default() {
        let mut policy = AlertPolicy::default();
        policy.zones.insert(
            "z".into(),
            crate::config::ZoneAlertPolicy {
                cooldown_ms: Some(MIN),
                ..Default::default()
            },
        );
        let mut alerts = SensorAlerts::default();
        let mut t = feed(&mut alerts, &policy, T0, T0 + 10_000, 10_000, Some(false));
        t.extend(feed(
            &mut alerts,
            &policy,
            T0 + 10_000,
            T0 + 320_000,
            10_000,
            None,
        ));
        // Resolved at 300 s; the zone's one-minute cooldown ends at 360 s.
        t.extend(feed(
            &mut alerts,
            &policy,
            T0 + 320_000,
            T0 + 400_000,
            10_000,
            Some(false),
        ));
        assert_eq!(
            changes(&t),
            vec![
                (AlertChange::Fired, 0),
                (AlertChange::Resolved, 300),
                (AlertChange::Suppressed, 320),
                (AlertChange::Fired, 360)
            ]
        );
        assert!(alerts.len() <= 3, "bounded by the kinds");
    }
}
