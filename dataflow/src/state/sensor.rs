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

use super::alerts::{Observation, SeededKey, SensorAlerts};
use super::{RollingStats, SensorWindows};
use crate::config::{AlertPolicy, DataflowConfig};
use crate::records::{
    AlertTransition, Anomaly, DeadLetter, Flag, LatestState, RegistryRecord, Severity,
    StoredReading, ThresholdKind, Validated, WindowAggregate, zone_of,
};
use crate::{Sensor, Thresholds};

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
}

/// One sensor's state.
#[derive(Clone, Debug, Default)]
pub struct SensorState {
    /// Registry versions in arrival order: (valid from, registry clock, version; `None` = removed).
    versions: Vec<(i64, i64, Option<Sensor>)>,
    /// Largest `ts` among its accepted readings, clamped to record time + `future_after_ms`.
    watermark: Option<i64>,
    windows: SensorWindows,
    stats: RollingStats,
    latest: Option<LatestState>,
    alerts: SensorAlerts,
}

impl SensorState {
    /// Records a registry change. It applies from its `valid_from` on, to
    /// readings whose partition clock has reached the registry clock it was
    /// read at plus `reference_delay_ms`: so which version a reading sees
    /// depends on the records' clocks, never on which topic happened to be
    /// read first.
    pub fn apply_registry(&mut self, record: &RegistryRecord) {
        self.versions.push((
            record.valid_from_ms(),
            record.clock_ms,
            record.sensor.clone(),
        ));
    }

    /// The registry version in force at event time `ts` for a reading read at `clock`:
    /// the latest `valid_from <= ts` among versions with registry clock
    /// `<= clock - delay` (the last-read one wins a tie).
    pub fn version_at(&self, ts: i64, clock: i64, delay: i64) -> Option<&Sensor> {
        let visible = clock.saturating_sub(delay);
        self.versions
            .iter()
            .enumerate()
            .filter(|(_, (from, at, _))| *from <= ts && *at <= visible)
            .max_by_key(|(seq, (from, at, _))| (*from, *at, *seq))
            .and_then(|(_, (_, _, sensor))| sensor.as_ref())
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

    /// Seeds the alert rules' state (recovery: what the store holds).
    pub fn seed_alerts(&mut self, keys: &[SeededKey]) {
        self.alerts.seed(keys);
    }

    /// Readings and windows held in memory (for the memory-bound checks).
    pub fn footprint(&self) -> (usize, usize, usize) {
        (self.stats.len(), self.windows.len(), self.versions.len())
    }

    /// Processes one reading.
    pub fn process(&mut self, input: Validated, config: &DataflowConfig) -> Effects {
        let mut effects = Effects::default();
        let Validated {
            reading,
            origin,
            mut flags,
            payload,
        } = input;
        let sensor_id = reading.sensor_id.as_str().to_string();
        let ts = reading.ts_ms;
        let value = reading.value;
        let version = self
            .version_at(ts, origin.clock_ms, config.reference_delay_ms)
            .cloned();
        let dead = |reason: &str, detail: String| DeadLetter {
            origin: origin.clone(),
            key: sensor_id.clone(),
            payload: payload.clone(),
            reason: reason.to_string(),
            detail,
        };

        if let Some(sensor) = &version {
            let physical = sensor.kind.physical_range();
            for (what, range) in [("physical", physical), ("valid", sensor.valid_range)] {
                if !range.contains(value) {
                    effects.dead_letter = Some(dead(
                        "out_of_range",
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

        let too_late = self
            .watermark
            .is_some_and(|w| ts < w.saturating_sub(config.allowed_lateness_ms));
        if too_late {
            flags.push(Flag::TooLate);
        }
        flags.sort();
        flags.dedup();
        let zone = zone_of(version.as_ref());
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
                "too_late",
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
            .add(&sensor_id, ts, value)
            .into_iter()
            .collect();

        let moments = self.stats.query(ts, config.stats_horizon_ms);
        let thresholds = version.as_ref().map(|s| s.thresholds).unwrap_or_default();
        let anomaly = score(
            value,
            moments.count,
            moments.mean(),
            moments.stddev(),
            &thresholds,
            config,
        )
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
