//! `[dataflow]` in weir.toml: the rules of the graph, each with its unit.

use serde::{Deserialize, Serialize};

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
        }
    }
}

impl DataflowConfig {
    /// Checks ranges, naming the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("allowed_lateness_ms", self.allowed_lateness_ms),
            ("stale_after_ms", self.stale_after_ms),
            ("future_after_ms", self.future_after_ms),
            ("stats_horizon_ms", self.stats_horizon_ms),
            ("zone_window_ms", self.zone_window_ms),
        ];
        for (name, value) in positive {
            if value <= 0 {
                return Err(format!("dataflow.{name} = {value}: must be > 0"));
            }
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
