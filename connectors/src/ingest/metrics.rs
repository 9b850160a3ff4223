//! The gateways' counters, rendered as Prometheus text (`weir_ingest_…`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the drainer keeps (for metrics).
#[derive(Debug, Default)]
pub struct DrainStats {
    /// Records delivered to Kafka.
    pub drained: AtomicU64,
    /// Delivery failures (each retried).
    pub failures: AtomicU64,
    /// Records Kafka refused for good, sent as `kafka_refused` dead letters instead.
    pub refused: AtomicU64,
    /// Dead letters Kafka refused for good: dropped (logged at ERROR).
    pub dropped: AtomicU64,
}

/// Counters by gateway and reason.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    accepted: Mutex<BTreeMap<&'static str, u64>>,
    rejected: Mutex<BTreeMap<(&'static str, String), u64>>,
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl IngestMetrics {
    /// `n` readings accepted by `gateway`.
    pub fn accepted(&self, gateway: &'static str, n: usize) {
        if let Ok(mut map) = self.accepted.lock() {
            *map.entry(gateway).or_default() += n as u64;
        }
    }

    /// One reading rejected for `reason`.
    pub fn rejected(&self, gateway: &'static str, reason: &str) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry((gateway, reason.to_string())).or_default() += 1;
        }
    }

    /// `n` readings refused (rate limit, full buffer): the sender was told to retry.
    pub fn refused(&self, gateway: &'static str, why: &'static str, n: usize) {
        if let Ok(mut map) = self.refused.lock() {
            *map.entry((gateway, why)).or_default() += n as u64;
        }
    }

    /// Prometheus text, with the buffer's state and the drainer's counters.
    pub fn render(&self, pending: (u64, u64), corrupt: u64, drain: &DrainStats) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP weir_ingest_accepted_total Readings accepted (in the disk buffer), by gateway.\n# TYPE weir_ingest_accepted_total counter"
        );
        if let Ok(map) = self.accepted.lock() {
            for (gateway, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "weir_ingest_accepted_total{{gateway=\"{gateway}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP weir_ingest_rejected_total Readings rejected as invalid, by gateway and reason.\n# TYPE weir_ingest_rejected_total counter"
        );
        if let Ok(map) = self.rejected.lock() {
            for ((gateway, reason), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "weir_ingest_rejected_total{{gateway=\"{gateway}\",reason=\"{reason}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP weir_ingest_refused_total Readings refused with a retry (rate limit, full buffer), by gateway and cause.\n# TYPE weir_ingest_refused_total counter"
        );
        if let Ok(map) = self.refused.lock() {
            for ((gateway, why), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "weir_ingest_refused_total{{gateway=\"{gateway}\",cause=\"{why}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP weir_ingest_buffered_bytes Bytes in the disk buffer not yet in Kafka.\n# TYPE weir_ingest_buffered_bytes gauge\nweir_ingest_buffered_bytes {}",
            pending.0
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_buffered_records Records in the disk buffer not yet in Kafka.\n# TYPE weir_ingest_buffered_records gauge\nweir_ingest_buffered_records {}",
            pending.1
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_buffer_corrupt_total Buffered records lost to corruption on disk (each stretch sent as a buffer_corrupt dead letter).\n# TYPE weir_ingest_buffer_corrupt_total counter\nweir_ingest_buffer_corrupt_total {corrupt}"
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_drained_total Records delivered from the disk buffer to Kafka.\n# TYPE weir_ingest_drained_total counter\nweir_ingest_drained_total {}",
            drain.drained.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_drain_failures_total Kafka delivery failures of buffered records (each retried).\n# TYPE weir_ingest_drain_failures_total counter\nweir_ingest_drain_failures_total {}",
            drain.failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_kafka_refused_total Buffered records Kafka will never take (too large, invalid), sent as kafka_refused dead letters instead.\n# TYPE weir_ingest_kafka_refused_total counter\nweir_ingest_kafka_refused_total {}",
            drain.refused.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP weir_ingest_dropped_total Dead letters Kafka refused for good, dropped (logged at ERROR).\n# TYPE weir_ingest_dropped_total counter\nweir_ingest_dropped_total {}",
            drain.dropped.load(Ordering::Relaxed)
        );
        out
    }
}
