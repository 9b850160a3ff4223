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
//! a condition cleared (silence is the heartbeat feature's business).

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
        // Keys with nothing open and no cooldown left hold nothing worth keeping.
        self.keys
            .retain(|_, k| k.open.is_some() || k.cooldown_until_ms > seen.ts_ms);
        out
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
