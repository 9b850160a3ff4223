//! Everything weir keeps about one sensor, and what one reading does to it.
//!
//! For each reading, in partition (offset) order:
//!
//! ```text
//!  registry version in force at ts ─► range check ─► lateness ─► windows ─► score ─► stats ─► latest
//!   (as-of lookup)                    (dead letter)  (too late:   (5m, 1h)  (against
//!                                                     stored,               earlier
//!                                                     dead-lettered)        readings only)
//! ```
//!
//! Scoring happens *before* the reading joins the statistics, against the
//! readings that precede it in partition order, are not too late, and lie in
//! `[ts − horizon, ts)`: later readings never re-score it.

use super::alerts::{Heard, Observation, SeededKey, SensorAlerts};
use super::{RollingStats, SensorWindows};
use crate::config::{AlertPolicy, DataflowConfig};
use crate::records::{
    AlertTransition, Anomaly, DeadLetter, DeadReason, Flag, LatestState, RegistryRecord, Severity,
    StoredReading, ThresholdKind, Validated, WindowAggregate, zone_of,
};
use crate::{Sensor, SensorKind, Thresholds};

/// Why a reading did not count: it repeated one already accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duplicate {
    /// Same sensor, `ts` and value as an accepted reading: dropped and counted.
    Exact,
    /// Same sensor and `ts`, another value: dead-lettered (`duplicate_conflict`).
    Conflict,
}

impl Duplicate {
    /// The label used in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Duplicate::Exact => "exact",
            Duplicate::Conflict => "conflict",
        }
    }
}

/// What processing one reading produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// The reading as stored (absent when rejected).
    pub stored: Option<StoredReading>,
    /// Window changes: (before, after).
    pub windows: Vec<(Option<WindowAggregate>, WindowAggregate)>,
    /// Latest-state change: (before, after).
    pub latest: Option<(Option<LatestState>, LatestState)>,
    /// The anomaly, if the reading is one.
    pub anomaly: Option<Anomaly>,
    /// The dead letter, if the reading was rejected or too late.
    pub dead_letter: Option<DeadLetter>,
    /// The reading repeated an accepted one (see the contract's
    /// "one reading per (sensor_id, ts)").
    pub duplicate: Option<Duplicate>,
    /// The kind of the registry version in force and the interval it
    /// states (for the silent-sensor rule); `None` when unregistered.
    pub kind: Option<(SensorKind, Option<i64>)>,
}

/// A sensor's registry versions, and how far back they are kept.
#[derive(Clone, Debug, Default)]
struct Versions {
    /// (valid from, registry clock, arrival seq, version; `None` = removed).
    list: Vec<(i64, i64, u64, Option<Sensor>)>,
    next_seq: u64,
    /// Lookups before this event time are made at it: the history before
    /// it is pruned (no reading that is not too late can reach back there).
    floor: Option<i64>,
}

impl Versions {
    fn push(&mut self, valid_from: i64, clock: i64, sensor: Option<Sensor>) {
        self.list.push((valid_from, clock, self.next_seq, sensor));
        self.next_seq += 1;
    }

    /// The version in force at `ts` (at the floor if `ts` is before it) for a
    /// reading read at `clock`: the latest `valid_from` among versions with
    /// registry clock `<= clock - delay` (the last-read one wins a tie).
    fn at(&self, ts: i64, clock: i64, delay: i64) -> Option<&Sensor> {
        let ts = self.floor.map_or(ts, |f| ts.max(f));
        let visible = clock.saturating_sub(delay);
        self.list
            .iter()
            .filter(|(from, at, _, _)| *from <= ts && *at <= visible)
            .max_by_key(|(from, at, seq, _)| (*from, *at, *seq))
            .and_then(|(_, _, _, sensor)| sensor.as_ref())
    }

    /// Raises the floor to `cut` and drops the versions no lookup at or
    /// after it can choose any more: those below a version that is visible
    /// to every later reading (registry clock `<= visible`) and in force
    /// from the floor on.
    fn prune(&mut self, cut: i64, visible: i64) {
        let floor = self.floor.map_or(cut, |f| f.max(cut));
        self.floor = Some(floor);
        if self.list.len() < 2 {
            return;
        }
        let best = self
            .list
            .iter()
            .filter(|(from, at, _, _)| *from <= floor && *at <= visible)
            .map(|(from, at, seq, _)| (*from, *at, *seq))
            .max();
        if let Some(best) = best {
            self.list
                .retain(|(from, at, seq, _)| (*from, *at, *seq) >= best);
        }
    }
}

/// One sensor's state.
#[derive(Clone, Debug, Default)]
pub struct SensorState {
    versions: Versions,
    /// Largest `ts` among its accepted readings, clamped to record time + `future_after_ms`.
    watermark: Option<i64>,
    windows: SensorWindows,
    stats: RollingStats,
    latest: Option<LatestState>,
    alerts: SensorAlerts,
    /// Windows starting before this event time may lack readings this
    /// state never saw (it began at a restart's rewind point, or after a
    /// silence that made it forget): they are marked partial.
    complete_from: Option<i64>,
    /// The partition clock of the last reading processed.
    last_clock: Option<i64>,
    /// Its latest reading, when it can fall silent (see [`SensorState::hear`]).
    heard: Option<Heard>,
    /// The clock at which the operator's queue of silences holds this
    /// sensor, if it does (one entry per sensor).
    pub queued_at: Option<i64>,
}

impl SensorState {
    /// Records a registry change. It applies from its `valid_from` on, to
    /// readings whose partition clock has reached the registry clock it was
    /// read at plus `reference_delay_ms`: so which version a reading sees
    /// depends on the records' clocks, never on which topic happened to be
    /// read first.
    pub fn apply_registry(&mut self, record: &RegistryRecord) {
        self.versions.push(
            record.valid_from_ms(),
            record.clock_ms,
            record.sensor.clone(),
        );
    }

    /// The registry version in force at event time `ts` for a reading read at `clock`:
    /// the latest `valid_from <= ts` among versions with registry clock
    /// `<= clock - delay` (the last-read one wins a tie). Before the pruned
    /// history's floor, the version in force at the floor.
    pub fn version_at(&self, ts: i64, clock: i64, delay: i64) -> Option<&Sensor> {
        self.versions.at(ts, clock, delay)
    }

    /// Runs the alert rules on a processed reading (one that is stored and
    /// not too late); returns the transitions.
    pub fn alert(&mut self, effects: &Effects, policy: &AlertPolicy) -> Vec<AlertTransition> {
        let Some(stored) = &effects.stored else {
            return Vec::new();
        };
        if stored.flags.contains(&Flag::TooLate) {
            return Vec::new();
        }
        self.alerts.observe(
            &Observation {
                sensor_id: &stored.sensor_id,
                zone: &stored.zone,
                ts_ms: stored.ts_ms,
                value: stored.value,
                origin: &stored.origin,
                anomaly: effects.anomaly.as_ref(),
            },
            policy,
        )
    }

    /// Remembers a processed reading for the silent-sensor rule (every
    /// stored reading that is not too late, replayed ones included: a
    /// restart rebuilds the deadline from them). Returns the clock by which
    /// the next reading is due, if the sensor can fall silent.
    pub fn hear(&mut self, effects: &Effects, policy: &AlertPolicy) -> Option<i64> {
        let stored = effects.stored.as_ref()?;
        if stored.flags.contains(&Flag::TooLate) {
            return self.heard.as_ref().map(Heard::deadline);
        }
        let silent_after = effects
            .kind
            .and_then(|(kind, interval)| policy.silent_after(kind, &stored.zone, interval));
        self.heard = silent_after.map(|silent_after_ms| Heard {
            sensor_id: stored.sensor_id.clone(),
            zone: stored.zone.clone(),
            ts_ms: stored.ts_ms,
            value: stored.value,
            origin: stored.origin.clone(),
            silent_after_ms,
        });
        self.heard.as_ref().map(Heard::deadline)
    }

    /// The silent-sensor rule once no reading can come with a clock before
    /// `due` (see [`SensorAlerts::silence`]).
    pub fn silence(
        &mut self,
        due: i64,
        policy: &AlertPolicy,
    ) -> (Vec<AlertTransition>, Option<i64>) {
        match &self.heard {
            Some(heard) => self.alerts.silence(heard, due, policy),
            None => (Vec::new(), None),
        }
    }

    /// Seeds the alert rules' state (recovery: what the store holds).
    pub fn seed_alerts(&mut self, keys: &[SeededKey]) {
        self.alerts.seed(keys);
    }

    /// Readings and windows held in memory (for the memory-bound checks).
    pub fn footprint(&self) -> (usize, usize, usize) {
        (
            self.stats.len(),
            self.windows.len(),
            self.versions.list.len(),
        )
    }

    /// Whether every rule is done with this sensor's reading state once
    /// the partitions' clocks have all passed `clock`: it was last touched
    /// more than `forget_after_ms` before, and it has no open alert (a
    /// silent sensor's alert stays open). Its next reading would forget it
    /// anyway (see [`SensorState::process`]), so dropping it now changes
    /// nothing.
    pub fn forgettable(&self, clock: i64, config: &DataflowConfig) -> bool {
        self.last_clock
            .is_some_and(|last| clock.saturating_sub(last) > config.forget_after_ms)
            && !self.alerts.any_open()
            && self.queued_at.is_none()
    }

    /// Whether the state holds registry versions (a forgotten sensor keeps them).
    pub fn registered(&self) -> bool {
        !self.versions.list.is_empty()
    }

    /// Drops everything the readings built (statistics, windows, watermark,
    /// latest state, alert cooldowns); the registry versions stay, and so
    /// does the silence queue's entry (the operator's, checked when due).
    pub fn forget(&mut self) {
        self.watermark = None;
        self.windows = SensorWindows::default();
        self.stats.clear();
        self.latest = None;
        self.alerts = SensorAlerts::default();
        self.last_clock = None;
        self.heard = None;
    }

    /// Processes one reading. `rewind_clock` is the clock of the point its
    /// partition was rewound to at a restart (`None`: replayed from its
    /// beginning, or no restart).
    pub fn process(
        &mut self,
        input: Validated,
        config: &DataflowConfig,
        rewind_clock: Option<i64>,
    ) -> Effects {
        let mut effects = Effects::default();
        let Validated {
            reading,
            origin,
            mut flags,
            payload,
        } = input;
        let clock = origin.clock_ms;
        // The silent-sensor rule, on the data's clock: state last touched
        // more than `forget_after_ms` of record time ago is forgotten (an
        // open alert keeps it). A state that starts afresh (here, or new)
        // cannot vouch for windows that began before it.
        let fresh = self.last_clock.is_none_or(|last| {
            clock.saturating_sub(last) > config.forget_after_ms && !self.alerts.any_open()
        });
        if fresh {
            if self.last_clock.is_some() {
                self.forget();
            }
            let from = clock
                .saturating_sub(config.forget_after_ms)
                .max(rewind_clock.unwrap_or(i64::MIN))
                .saturating_add(config.future_after_ms);
            self.complete_from = Some(self.complete_from.map_or(from, |c| c.max(from)));
        }
        self.last_clock = Some(self.last_clock.map_or(clock, |c| c.max(clock)));

        let sensor_id = reading.sensor_id.as_str().to_string();
        let ts = reading.ts_ms;
        let value = reading.value;
        let too_late = self
            .watermark
            .is_some_and(|w| ts < w.saturating_sub(config.allowed_lateness_ms));
        let version = self
            .version_at(ts, clock, config.reference_delay_ms)
            .cloned();
        let dead = |reason: DeadReason, detail: String| {
            DeadLetter::new(
                origin.clone(),
                sensor_id.as_bytes(),
                payload.clone(),
                reason,
                &detail,
            )
        };

        if let Some(sensor) = &version {
            let physical = sensor.kind.physical_range().map(|r| ("physical", r));
            for (what, range) in physical.into_iter().chain([("valid", sensor.valid_range)]) {
                if !range.contains(value) {
                    effects.dead_letter = Some(dead(
                        DeadReason::OutOfRange,
                        format!(
                            "field `value`: {value} outside the {what} range {}..={} of {}",
                            range.min,
                            range.max,
                            sensor.kind.name()
                        ),
                    ));
                    return effects;
                }
            }
        } else {
            flags.push(Flag::Unregistered);
        }

        // One reading per (sensor, ts): the first accepted wins. Every
        // accepted reading that is not too late is among the samples.
        if !too_late && let Some(first) = self.stats.value_at(ts) {
            if first == value {
                effects.duplicate = Some(Duplicate::Exact);
            } else {
                effects.duplicate = Some(Duplicate::Conflict);
                effects.dead_letter = Some(dead(
                    DeadReason::DuplicateConflict,
                    format!(
                        "field `value`: {value}, but a reading of `{sensor_id}` at ts {ts} was already accepted with {first}"
                    ),
                ));
            }
            return effects;
        }

        if too_late {
            flags.push(Flag::TooLate);
        }
        flags.sort();
        flags.dedup();
        let zone = zone_of(version.as_ref());
        effects.kind = version.as_ref().map(|v| (v.kind, v.expected_interval_ms));
        effects.stored = Some(StoredReading {
            sensor_id: sensor_id.clone(),
            ts_ms: ts,
            value,
            zone: zone.clone(),
            flags,
            format: reading.format,
            origin: origin.clone(),
        });
        if too_late {
            effects.dead_letter = Some(dead(
                DeadReason::TooLate,
                format!(
                    "ts {ts} is more than {} ms behind the sensor's watermark {}",
                    config.allowed_lateness_ms,
                    self.watermark.unwrap_or_default()
                ),
            ));
            return effects;
        }

        let clamped = ts.min(origin.record_ts_ms.saturating_add(config.future_after_ms));
        let watermark = self.watermark.map_or(clamped, |w| w.max(clamped));
        self.watermark = Some(watermark);

        effects.windows = self
            .windows
            .add(&sensor_id, ts, value, self.complete_from)
            .into_iter()
            .collect();

        let moments = self.stats.query(ts, config.stats_horizon_ms);
        let thresholds = version.as_ref().map(|s| s.thresholds).unwrap_or_default();
        let scored = version.as_ref().is_none_or(|s| s.kind.scored());
        let anomaly = score(
            value,
            moments.count,
            moments.mean(),
            moments.stddev(),
            &thresholds,
            config,
        )
        .filter(|_| scored)
        .map(|score| Anomaly {
            sensor_id: sensor_id.clone(),
            zone: zone.clone(),
            ts_ms: ts,
            value,
            mean: moments.mean(),
            stddev: moments.stddev(),
            samples: moments.count,
            z: score.z,
            z_severity: score.z_severity,
            threshold: score.threshold,
            severity: score.severity,
            origin: origin.clone(),
        });
        self.stats.insert(ts, value);

        if self.latest.as_ref().is_none_or(|l| ts >= l.ts_ms) {
            let new = LatestState {
                sensor_id: sensor_id.clone(),
                zone,
                ts_ms: ts,
                value,
                mean: moments.mean(),
                stddev: moments.stddev(),
                severity: anomaly.as_ref().map(|a| a.severity),
            };
            let old = self.latest.replace(new.clone());
            effects.latest = Some((old, new));
        }
        effects.anomaly = anomaly;

        // Bounded state: nothing that is not too late can reach back further.
        let reach = watermark.saturating_sub(config.allowed_lateness_ms);
        self.windows.expire(reach);
        self.stats
            .evict_before(reach.saturating_sub(config.stats_horizon_ms));
        self.versions
            .prune(reach, clock.saturating_sub(config.reference_delay_ms));
        effects
    }
}

/// The verdict on one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// z-score, when defined.
    pub z: Option<f64>,
    /// Severity by z-score.
    pub z_severity: Option<Severity>,
    /// Worst threshold crossed.
    pub threshold: Option<(ThresholdKind, f64)>,
    /// Worse of the two.
    pub severity: Severity,
}

/// Scores `value` against moments and thresholds; `None` when it is normal.
pub fn score(
    value: f64,
    samples: u64,
    mean: Option<f64>,
    stddev: Option<f64>,
    thresholds: &Thresholds,
    config: &DataflowConfig,
) -> Option<Score> {
    // A spread below a millionth of the level is rounding noise in the
    // running sums, not signal: a constant series has no z-score.
    let z = match (mean, stddev) {
        (Some(mean), Some(sd))
            if samples >= config.min_samples && sd > 1e-6 * mean.abs().max(1.0) =>
        {
            Some((value - mean) / sd)
        }
        _ => None,
    };
    let z_severity = z.and_then(|z| {
        if z.abs() > config.z_critical {
            Some(Severity::Critical)
        } else if z.abs() > config.z_warning {
            Some(Severity::Warning)
        } else {
            None
        }
    });
    let above = |limit: Option<f64>| limit.filter(|l| value > *l);
    let below = |limit: Option<f64>| limit.filter(|l| value < *l);
    let threshold = above(thresholds.crit_high)
        .map(|l| (ThresholdKind::CritHigh, l))
        .or_else(|| below(thresholds.crit_low).map(|l| (ThresholdKind::CritLow, l)))
        .or_else(|| above(thresholds.warn_high).map(|l| (ThresholdKind::WarnHigh, l)))
        .or_else(|| below(thresholds.warn_low).map(|l| (ThresholdKind::WarnLow, l)));
    let threshold_severity = threshold.map(|(kind, _)| match kind {
        ThresholdKind::CritHigh | ThresholdKind::CritLow => Severity::Critical,
        ThresholdKind::WarnHigh | ThresholdKind::WarnLow => Severity::Warning,
    });
    let severity = z_severity.max(threshold_severity)?;
    Some(Score {
        z,
        z_severity,
        threshold,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Origin;
    use crate::{Format, Reading, SensorId, SensorKind, ValidRange};

    const T0: i64 = 1_764_000_000_000;
    const MIN: i64 = 60_000;

    fn reading(ts: i64, value: f64, offset: i64, clock: i64) -> Validated {
        let id = SensorId::new("tmp-1").unwrap_or_else(|e| panic!("{e}"));
        Validated {
            reading: Reading::new(id, ts, value, Format::JsonV1),
            origin: Origin {
                partition: 0,
                offset,
                record_ts_ms: clock,
                clock_ms: clock,
            },
            flags: Vec::new(),
            payload: format!("{ts}:{value}").into_bytes(),
        }
    }

    fn version(zone: &str, valid_from: i64, clock: i64) -> RegistryRecord {
        RegistryRecord {
            sensor_id: "tmp-1".into(),
            sensor: Some(Sensor {
                sensor_id: SensorId::new("tmp-1").unwrap_or_else(|e| panic!("{e}")),
                kind: SensorKind::TEMPERATURE,
                location: String::new(),
                zone: zone.into(),
                unit: "°C".into(),
                thresholds: Thresholds::default(),
                valid_range: ValidRange {
                    min: -40.0,
                    max: 125.0,
                },
                valid_from_ms: Some(valid_from),
                expected_interval_ms: None,
            }),
            record_ts_ms: clock,
            clock_ms: clock,
        }
    }

    #[test]
    fn the_first_reading_of_a_timestamp_wins_repeats_are_dropped_or_dead_lettered() {
        let config = DataflowConfig::default();
        let mut state = SensorState::default();
        let first = state.process(reading(T0, 1.5, 0, T0), &config, None);
        assert!(first.stored.is_some() && first.duplicate.is_none());
        let exact = state.process(reading(T0, 1.5, 1, T0 + 1), &config, None);
        assert_eq!(exact.duplicate, Some(Duplicate::Exact));
        assert!(exact.stored.is_none() && exact.windows.is_empty() && exact.dead_letter.is_none());
        let conflict = state.process(reading(T0, 2.5, 2, T0 + 2), &config, None);
        assert_eq!(conflict.duplicate, Some(Duplicate::Conflict));
        assert!(conflict.stored.is_none() && conflict.windows.is_empty());
        let letter = conflict
            .dead_letter
            .unwrap_or_else(|| panic!("no dead letter"));
        assert_eq!(letter.reason, "duplicate_conflict");
        assert_eq!(
            letter.payload,
            format!("{T0}:2.5").into_bytes(),
            "payload kept"
        );
        // A later reading is aggregated with the first only.
        let next = state.process(reading(T0 + 1_000, 3.5, 3, T0 + 1_000), &config, None);
        let five = next.windows.first().map(|(_, w)| (w.count, w.sum));
        assert_eq!(five, Some((2, 5.0)));
    }

    #[test]
    fn a_silent_sensor_is_forgotten_and_its_old_windows_are_partial_afterwards() {
        let config = DataflowConfig {
            forget_after_ms: 30 * MIN,
            ..DataflowConfig::default()
        };
        let mut state = SensorState::default();
        for i in 0..10 {
            state.process(reading(T0 + i * MIN, 1.0, i, T0 + i * MIN), &config, None);
        }
        assert_eq!(state.footprint().0, 10);
        assert!(!state.forgettable(T0 + 30 * MIN, &config));
        assert!(state.forgettable(T0 + 40 * MIN, &config));
        // Forty minutes later a reading of the first window arrives: the
        // state starts afresh (it would have been too late), and its window
        // is partial: only the store holds the rest of it.
        let late = state.process(reading(T0 + MIN / 2, 4.0, 10, T0 + 50 * MIN), &config, None);
        assert!(
            late.stored
                .is_some_and(|r| !r.flags.contains(&Flag::TooLate))
        );
        assert!(
            late.windows
                .iter()
                .all(|(old, new)| old.is_none() && new.partial)
        );
        assert_eq!(state.footprint().0, 1, "only the new sample is held");
        // A window that began after the silence is complete; the hour that
        // began before it is not.
        let now = state.process(
            reading(T0 + 50 * MIN, 4.0, 11, T0 + 50 * MIN),
            &config,
            None,
        );
        let partial: Vec<(i64, bool)> = now
            .windows
            .iter()
            .map(|(_, w)| (w.size.millis(), w.partial))
            .collect();
        assert_eq!(partial, [(300_000, false), (3_600_000, true)]);
    }

    #[test]
    fn windows_before_a_restarts_rewind_point_are_partial() {
        let config = DataflowConfig::default();
        let mut state = SensorState::default();
        let rewound = Some(T0 + 10 * MIN);
        let before = state.process(
            reading(T0 + 9 * MIN, 1.0, 0, T0 + 11 * MIN),
            &config,
            rewound,
        );
        assert!(before.windows.iter().all(|(_, w)| w.partial));
        let after = state.process(
            reading(T0 + 20 * MIN, 1.0, 1, T0 + 20 * MIN),
            &config,
            rewound,
        );
        let five = after
            .windows
            .iter()
            .find(|(_, w)| w.size.millis() == 300_000);
        assert!(five.is_some_and(|(_, w)| !w.partial), "{after:?}");
    }

    #[test]
    fn registry_history_behind_the_lateness_horizon_is_pruned() {
        let config = DataflowConfig::default();
        let mut state = SensorState::default();
        // A version a minute, for an hour.
        for i in 0..60 {
            state.apply_registry(&version(&format!("z{i}"), T0 + i * MIN, T0 + i * MIN));
        }
        assert_eq!(state.footprint().2, 60);
        // Readings three hours on: everything before their lateness horizon goes.
        let at = T0 + 3 * 60 * MIN;
        let r = state.process(reading(at, 1.0, 0, at), &config, None);
        assert_eq!(r.stored.map(|s| s.zone).as_deref(), Some("z59"));
        assert_eq!(state.footprint().2, 1, "one version left");
        // A too-late reading is enriched as of the horizon (the floor).
        let old = state.process(reading(T0 + 5 * MIN, 1.0, 1, at + 1), &config, None);
        let old = old.stored.unwrap_or_else(|| panic!("not stored"));
        assert!(old.flags.contains(&Flag::TooLate));
        assert_eq!(old.zone, "z59");
        // A version read later but valid from earlier is still applied.
        state.apply_registry(&version("late", at - 10 * MIN, at + 2_000));
        let next = state.process(reading(at + 5_000, 1.0, 2, at + 5_000), &config, None);
        assert_eq!(next.stored.map(|s| s.zone).as_deref(), Some("late"));
    }
}
