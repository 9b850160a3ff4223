//! `[dataflow]` in weir.toml: the rules of the graph, each with its unit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::SensorKind;
use crate::records::Severity;

/// Settings of the dataflow graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataflowConfig {
    /// A reading older than its sensor's watermark minus this is too late.
    pub allowed_lateness_ms: i64,
    /// A reading whose `ts` is this far behind its record timestamp is flagged `stale_timestamp`.
    pub stale_after_ms: i64,
    /// A reading whose `ts` is this far ahead of its record timestamp is flagged `future_timestamp`.
    pub future_after_ms: i64,
    /// Rolling statistics cover readings within this much event time before the scored one.
    pub stats_horizon_ms: i64,
    /// A z-score is computed only from at least this many readings.
    pub min_samples: u64,
    /// |z| above this is a warning anomaly.
    pub z_warning: f64,
    /// |z| above this is a critical anomaly.
    pub z_critical: f64,
    /// Anomalies of one zone within this much event time of each other correlate.
    pub zone_window_ms: i64,
    /// Distinct anomalous sensors in a zone window that make a zone incident.
    pub zone_threshold: usize,
    /// Granularity of timely time (ms): record times are rounded down to it.
    pub tick_ms: u64,
    /// A partition with nothing to read advances its clock to wall time minus this
    /// (the one rule driven by absent data; see docs/ARCHITECTURE.md).
    pub idle_grace_ms: u64,
    /// A change to reference data (the sensor registry, alert silences and
    /// acknowledgements) applies to readings whose partition clock is at
    /// least this much record time after the change's own clock. Keep it
    /// above `idle_grace_ms + tick_ms`: readings then never wait for idle
    /// reference partitions to catch up with them (see docs/ARCHITECTURE.md).
    pub reference_delay_ms: i64,
    /// A sensor whose last reading is this much record time (partition
    /// clock) behind is forgotten: statistics, windows, lateness watermark
    /// and latest state leave memory unless an alert of it is open. A later
    /// reading starts afresh (see docs/ARCHITECTURE.md, "Bounded state").
    pub forget_after_ms: i64,
    /// A record timestamp further ahead of the time weir read it than this
    /// is clamped to the read time plus this, and the reading flagged
    /// `clock_skew`: one producer with a fast clock must not hold the
    /// partition's clock, and so every result, in the future.
    pub max_clock_skew_ms: i64,
}

impl Default for DataflowConfig {
    fn default() -> Self {
        DataflowConfig {
            allowed_lateness_ms: 3_600_000,
            stale_after_ms: 300_000,
            future_after_ms: 60_000,
            stats_horizon_ms: 3_600_000,
            min_samples: 30,
            z_warning: 3.0,
            z_critical: 5.0,
            zone_window_ms: 60_000,
            zone_threshold: 5,
            tick_ms: 10,
            idle_grace_ms: 200,
            reference_delay_ms: 1_000,
            forget_after_ms: 6 * 3_600_000,
            max_clock_skew_ms: 2_000,
        }
    }
}

impl DataflowConfig {
    /// How far back (record time) a restart replays before the durable
    /// offsets: enough to rebuild every sensor's statistics, its lateness
    /// watermark and a window of every size (the longest, and one of each
    /// shorter size that may straddle its start).
    pub fn rewind_ms(&self) -> i64 {
        self.stats_horizon_ms
            + self.allowed_lateness_ms
            + crate::records::WindowSize::ALL
                .iter()
                .map(|w| w.millis())
                .sum::<i64>()
    }

    /// Checks ranges, naming the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("allowed_lateness_ms", self.allowed_lateness_ms),
            ("stale_after_ms", self.stale_after_ms),
            ("future_after_ms", self.future_after_ms),
            ("stats_horizon_ms", self.stats_horizon_ms),
            ("zone_window_ms", self.zone_window_ms),
            ("forget_after_ms", self.forget_after_ms),
        ];
        for (name, value) in positive {
            if value <= 0 {
                return Err(format!("dataflow.{name} = {value}: must be > 0"));
            }
        }
        if self.max_clock_skew_ms < 0 {
            return Err(format!(
                "dataflow.max_clock_skew_ms = {}: must be >= 0",
                self.max_clock_skew_ms
            ));
        }
        if self.reference_delay_ms < 0 {
            return Err(format!(
                "dataflow.reference_delay_ms = {}: must be >= 0",
                self.reference_delay_ms
            ));
        }
        if self.tick_ms == 0 {
            return Err("dataflow.tick_ms must be > 0".into());
        }
        if self.zone_threshold == 0 {
            return Err("dataflow.zone_threshold must be > 0".into());
        }
        if !(self.z_warning > 0.0 && self.z_critical >= self.z_warning) {
            return Err(format!(
                "dataflow.z_warning ({}) must be > 0 and <= dataflow.z_critical ({})",
                self.z_warning, self.z_critical
            ));
        }
        Ok(())
    }

    /// How far back from a sensor's watermark state must be kept: no reading
    /// that is not too late can reach further back than this.
    pub fn retention_ms(&self) -> i64 {
        self.allowed_lateness_ms
    }
}

/// `[alerts]` in weir.toml: when anomalies become alerts, and what happens
/// to them. Every duration is event time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// After an alert of a key fires or resolves, repeats are suppressed this long.
    pub cooldown_ms: i64,
    /// An alert whose condition persists this long escalates from notify to page.
    pub escalate_after_ms: i64,
    /// …or after this many anomalous readings (0 = only by time).
    pub escalate_after_occurrences: u64,
    /// An alert resolves once its condition has been clear this long.
    pub resolve_after_ms: i64,
    /// Distinct sensors of one zone alerting within `group_window_ms` that
    /// make one grouped zone alert.
    pub group_threshold: usize,
    /// The window of zone grouping.
    pub group_window_ms: i64,
    /// A registered sensor that sends nothing for this long raises a
    /// `silent` alert (0 = only where the registry states an expected
    /// interval, or a kind or zone sets its own).
    pub silent_after_ms: i64,
    /// Where the registry states a sensor's `expected_interval_ms`, its
    /// `silent_after` is this many intervals (unless its zone or kind sets one).
    pub silent_after_intervals: u32,
    /// The severity of a `silent` alert.
    pub silent_severity: Severity,
    /// Per-zone overrides, by zone name.
    pub zones: BTreeMap<String, ZoneAlertPolicy>,
    /// Per-kind overrides, by kind name (`temperature`, `carbon_monoxide`, …).
    pub kinds: BTreeMap<String, KindAlertPolicy>,
}

/// `[alerts.zones."<zone>"]`: overrides for one zone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoneAlertPolicy {
    /// The zone's cooldown.
    pub cooldown_ms: Option<i64>,
    /// The zone's `silent_after_ms` (0 = no silent alerts in it).
    pub silent_after_ms: Option<i64>,
}

/// `[alerts.kinds."<kind>"]`: overrides for one sensor kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindAlertPolicy {
    /// The kind's `silent_after_ms` (0 = no silent alerts for it).
    pub silent_after_ms: Option<i64>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            cooldown_ms: 300_000,
            escalate_after_ms: 600_000,
            escalate_after_occurrences: 0,
            resolve_after_ms: 300_000,
            group_threshold: 5,
            group_window_ms: 60_000,
            silent_after_ms: 0,
            silent_after_intervals: 5,
            silent_severity: Severity::Warning,
            zones: BTreeMap::new(),
            kinds: BTreeMap::new(),
        }
    }
}

impl AlertPolicy {
    /// The cooldown in `zone`.
    pub fn cooldown_ms(&self, zone: &str) -> i64 {
        self.zones
            .get(zone)
            .and_then(|z| z.cooldown_ms)
            .unwrap_or(self.cooldown_ms)
    }

    /// How long a sensor of `kind` in `zone` may send nothing before it is
    /// `silent`, if it can be: the zone's setting, else the kind's, else
    /// `silent_after_intervals` times the interval its registry record
    /// states, else `silent_after_ms`.
    /// `None` for a sensor that is never silent (0, or a heartbeat sensor).
    pub fn silent_after(
        &self,
        kind: SensorKind,
        zone: &str,
        expected_interval_ms: Option<i64>,
    ) -> Option<i64> {
        if !kind.scored() {
            return None;
        }
        let after = self
            .zones
            .get(zone)
            .and_then(|z| z.silent_after_ms)
            .or_else(|| self.kinds.get(kind.name()).and_then(|k| k.silent_after_ms))
            .or_else(|| {
                expected_interval_ms
                    .map(|i| i.saturating_mul(i64::from(self.silent_after_intervals)))
            })
            .unwrap_or(self.silent_after_ms);
        (after > 0).then_some(after)
    }

    /// Checks ranges, naming the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        let durations = [
            ("silent_after_ms", self.silent_after_ms),
            ("cooldown_ms", self.cooldown_ms),
            ("escalate_after_ms", self.escalate_after_ms),
            ("resolve_after_ms", self.resolve_after_ms),
            ("group_window_ms", self.group_window_ms),
        ];
        for (name, value) in durations {
            if value < 0 {
                return Err(format!("alerts.{name} = {value}: must be >= 0"));
            }
        }
        if self.group_threshold < 2 {
            return Err(format!(
                "alerts.group_threshold = {}: must be >= 2",
                self.group_threshold
            ));
        }
        for (zone, policy) in &self.zones {
            if let Some(c) = policy.cooldown_ms
                && c < 0
            {
                return Err(format!(
                    "alerts.zones.\"{zone}\".cooldown_ms = {c}: must be >= 0"
                ));
            }
            if let Some(c) = policy.silent_after_ms
                && c < 0
            {
                return Err(format!(
                    "alerts.zones.\"{zone}\".silent_after_ms = {c}: must be >= 0"
                ));
            }
        }
        for (kind, policy) in &self.kinds {
            if let Err(e) = SensorKind::new(kind) {
                return Err(format!("alerts.kinds.\"{kind}\": not a kind name: {e}"));
            }
            if kind == SensorKind::HEARTBEAT.name() {
                return Err(format!(
                    "alerts.kinds.\"{kind}\": heartbeat sensors raise no alerts"
                ));
            }
            if let Some(c) = policy.silent_after_ms
                && c < 0
            {
                return Err(format!(
                    "alerts.kinds.\"{kind}\".silent_after_ms = {c}: must be >= 0"
                ));
            }
        }
        if self.silent_after_intervals == 0 {
            return Err("alerts.silent_after_intervals must be > 0".into());
        }
        Ok(())
    }
}
