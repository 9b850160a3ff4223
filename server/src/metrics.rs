//! Prometheus metrics, kept in atomics and rendered as text at `/metrics`.

use std::collections::BTreeMap;

use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Latency buckets (seconds) shared by the histograms.
/// Fine below 100 ms, where the latency targets are.
const BUCKETS: [f64; 22] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15,
    0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A cumulative histogram of seconds.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

/// One channel's waiting alert events.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backlog {
    /// Events not yet delivered (nor parked).
    pub waiting: i64,
    /// Seconds the oldest has waited.
    pub oldest_seconds: f64,
}

/// What the pipeline reports of its progress (wall ms, 0 = never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// When the pipeline started.
    pub started_ms: i64,
    /// The last record read.
    pub read_ms: i64,
    /// The last durable commit of offsets.
    pub durable_ms: i64,
}

/// Every metric weir exports.
#[derive(Default)]
pub struct Metrics {
    /// Records read from the readings topic.
    pub records_read: AtomicU64,
    /// Readings written to PostgreSQL (new or replayed).
    pub readings_stored: AtomicU64,
    /// Anomalies detected.
    pub anomalies: AtomicU64,
    dead_letters: Mutex<BTreeMap<String, u64>>,
    /// Wall time minus the dataflow's input frontier (record time), ms.
    pub epoch_lag_ms: AtomicI64,
    /// Wall ms: when the pipeline started, read its last record, and made
    /// offsets durable last (0: never); `/health` and the commit age gauge.
    pub started_ms: AtomicI64,
    /// See `started_ms`.
    pub read_ms: AtomicI64,
    /// See `started_ms`.
    pub durable_ms: AtomicI64,
    /// Waiting alert events per channel (refreshed by `monitor`).
    outbox: Mutex<BTreeMap<String, Backlog>>,
    /// Records past the group's committed offsets, per readings partition (refreshed by `monitor`).
    lag: Mutex<Option<BTreeMap<i32, i64>>>,
    /// Each worker's state size.
    state: Mutex<BTreeMap<usize, weir_dataflow::state::Footprint>>,
    /// Time to commit one batch to PostgreSQL.
    pub sink_seconds: Histogram,
    /// Record timestamp (entry into Kafka) to the hub's receipt.
    pub end_to_end_seconds: Histogram,
    /// Record timestamp to the source reading the record: the broker's share.
    pub source_delay_seconds: Histogram,
    /// Connected WebSocket clients.
    pub ws_clients: AtomicI64,
    /// WebSocket messages sent.
    pub ws_messages: AtomicU64,
    /// WebSocket clients disconnected for falling behind.
    pub ws_slow_disconnects: AtomicU64,
    /// WebSocket upgrades refused because `max_ws_clients` were connected.
    pub ws_refused: AtomicU64,
    /// Alert delivery attempts by (channel, outcome).
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// From an alert event's storage to its delivery.
    pub alert_delivery_seconds: Histogram,
    /// The graph's own counts (duplicates, forgotten sensors), shared by its workers.
    pub graph: std::sync::Arc<weir_dataflow::state::GraphCounters>,
    /// Records whose timestamp the source clamped (ahead of the read time by more than the skew).
    pub clock_clamped: AtomicU64,
    /// Rows PostgreSQL refused, quarantined into `dead_letters` (`store_rejected`).
    pub store_quarantined: std::sync::Arc<AtomicU64>,
    /// Registry records refused (not decodable, or not storable).
    pub registry_rejected: AtomicU64,
    /// Gaps in the readings' offsets recorded (`kafka.on_gap = "record"`).
    pub source_gaps: AtomicU64,
    /// Readings partitions held back by watermark alignment (this process).
    pub partitions_paused: AtomicI64,
    /// Sensors that left the hot tier (silent past its retention, or past `hot_max_sensors`).
    pub hot_evicted: AtomicU64,
    /// Workers of this process whose sources are asleep (all partitions idle, watched).
    pub sources_asleep: AtomicI64,
    /// More text appended to the exposition (the ingest gateways').
    extra: Mutex<Option<std::sync::Arc<dyn Fn() -> String + Send + Sync>>>,
}

impl Metrics {
    /// Sets the outbox backlog per channel.
    pub fn set_outbox(&self, outbox: BTreeMap<String, Backlog>) {
        if let Ok(mut slot) = self.outbox.lock() {
            *slot = outbox;
        }
    }

    /// Sets the consumer lag per partition.
    pub fn set_lag(&self, lag: BTreeMap<i32, i64>) {
        if let Ok(mut slot) = self.lag.lock() {
            *slot = Some(lag);
        }
    }

    /// The consumer lag over all partitions, once known.
    pub fn consumer_lag_total(&self) -> Option<i64> {
        self.lag.lock().ok()?.as_ref().map(|lag| lag.values().sum())
    }

    /// Sets one worker's state size.
    pub fn set_state(&self, worker: usize, footprint: weir_dataflow::state::Footprint) {
        if let Ok(mut slot) = self.state.lock() {
            slot.insert(worker, footprint);
        }
    }

    /// The pipeline's progress, for `/health`.
    pub fn progress(&self) -> Progress {
        Progress {
            started_ms: self.started_ms.load(Ordering::Relaxed),
            read_ms: self.read_ms.load(Ordering::Relaxed),
            durable_ms: self.durable_ms.load(Ordering::Relaxed),
        }
    }

    /// Appends another component's metrics to `/metrics`.
    pub fn set_extra(&self, render: std::sync::Arc<dyn Fn() -> String + Send + Sync>) {
        if let Ok(mut slot) = self.extra.lock() {
            *slot = Some(render);
        }
    }

    /// Counts one alert delivery attempt.
    pub fn alert_delivery(
        &self,
        channel: &str,
        outcome: weir_connectors::delivery::Outcome,
        seconds: f64,
    ) {
        let outcome = match outcome {
            weir_connectors::delivery::Outcome::Delivered => {
                self.alert_delivery_seconds.observe(seconds);
                "delivered"
            }
            weir_connectors::delivery::Outcome::Failed => "failed",
            weir_connectors::delivery::Outcome::Parked => "parked",
        };
        if let Ok(mut map) = self.deliveries.lock() {
            *map.entry((channel.to_string(), outcome)).or_default() += 1;
        }
    }

    /// Counts one dead letter with `reason`.
    pub fn dead_letter(&self, reason: &str) {
        if let Ok(mut map) = self.dead_letters.lock() {
            *map.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "weir_records_read_total",
            "Records read from the readings topic.",
            load(&self.records_read),
        );
        counter(
            &mut out,
            "weir_readings_stored_total",
            "Readings written to PostgreSQL (replays included).",
            load(&self.readings_stored),
        );
        counter(
            &mut out,
            "weir_anomalies_total",
            "Anomalies detected.",
            load(&self.anomalies),
        );
        let _ = writeln!(
            out,
            "# HELP weir_dead_letters_total Records dead-lettered, by reason.\n# TYPE weir_dead_letters_total counter"
        );
        if let Ok(map) = self.dead_letters.lock() {
            for (reason, n) in map.iter() {
                let _ = writeln!(out, "weir_dead_letters_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP weir_duplicates_total Readings repeating an accepted one's sensor and ts: exact repeats dropped, conflicting values dead-lettered.\n# TYPE weir_duplicates_total counter\nweir_duplicates_total{{kind=\"exact\"}} {}\nweir_duplicates_total{{kind=\"conflict\"}} {}",
            load(&self.graph.duplicates_exact),
            load(&self.graph.duplicates_conflict),
        );
        counter(
            &mut out,
            "weir_sensors_forgotten_total",
            "Sensors whose state left memory after a silence of dataflow.forget_after_ms.",
            load(&self.graph.forgotten),
        );
        counter(
            &mut out,
            "weir_clock_clamped_total",
            "Records stamped further ahead of their read time than dataflow.max_clock_skew_ms (clamped, flagged clock_skew).",
            load(&self.clock_clamped),
        );
        counter(
            &mut out,
            "weir_store_quarantined_total",
            "Rows PostgreSQL refused for their data, quarantined into dead_letters with reason store_rejected.",
            load(&self.store_quarantined),
        );
        counter(
            &mut out,
            "weir_source_gaps_total",
            "Gaps in the readings' offsets (records never read) recorded in source_gaps (kafka.on_gap = record).",
            load(&self.source_gaps),
        );
        gauge(
            &mut out,
            "weir_sources_asleep",
            "Workers whose partitions have all been idle for kafka.idle_after_ms: watched by a consumer with a long fetch wait.",
            self.sources_asleep.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "weir_partitions_paused",
            "Readings partitions held back (left unread) because their clock ran ahead of the least partition clock (watermark alignment).",
            self.partitions_paused.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "weir_hot_evicted_total",
            "Sensors that left the hot tier (silent past server.hot_retention_ms, or past server.hot_max_sensors).",
            load(&self.hot_evicted),
        );
        counter(
            &mut out,
            "weir_registry_rejected_total",
            "Registry records refused (not a sensor, or a field the store cannot hold); see the log.",
            load(&self.registry_rejected),
        );
        let _ = writeln!(
            out,
            "# HELP weir_alert_deliveries_total Alert delivery attempts, by channel and outcome.\n# TYPE weir_alert_deliveries_total counter"
        );
        if let Ok(map) = self.deliveries.lock() {
            for ((channel, outcome), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "weir_alert_deliveries_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        self.alert_delivery_seconds.render(
            &mut out,
            "weir_alert_delivery_seconds",
            "From an alert event's commit to PostgreSQL to its delivery on a channel.",
        );
        let durable = self.durable_ms.load(Ordering::Relaxed);
        if durable > 0 {
            gauge(
                &mut out,
                "weir_last_durable_commit_age_seconds",
                "Seconds since offsets last became durable in this process.",
                (weir_dataflow::clock::now_ms() - durable) as f64 / 1e3,
            );
        }
        if let Ok(outbox) = self.outbox.lock() {
            let waiting = outbox
                .iter()
                .map(|(c, b)| (c.to_string(), b.waiting as f64));
            labelled(
                &mut out,
                (
                    "weir_outbox_waiting",
                    "Alert events waiting for delivery, per channel.",
                ),
                "channel",
                waiting,
            );
            let oldest = outbox
                .iter()
                .map(|(c, b)| (c.to_string(), b.oldest_seconds));
            labelled(
                &mut out,
                (
                    "weir_outbox_oldest_seconds",
                    "Age of the oldest alert event waiting, per channel.",
                ),
                "channel",
                oldest,
            );
        }
        if let Ok(lag) = self.lag.lock()
            && let Some(lag) = lag.as_ref()
        {
            labelled(
                &mut out,
                (
                    "weir_consumer_lag",
                    "Records of the readings topic past the group's committed offsets, per partition.",
                ),
                "partition",
                lag.iter().map(|(p, n)| (p.to_string(), *n as f64)),
            );
        }
        if let Ok(state) = self.state.lock() {
            let sum = |f: fn(&weir_dataflow::state::Footprint) -> usize| {
                state.values().map(f).sum::<usize>() as f64
            };
            for (name, help, value) in [
                (
                    "weir_state_sensors",
                    "Sensors with state in this process's workers.",
                    sum(|f| f.sensors),
                ),
                (
                    "weir_state_samples",
                    "Readings held for rolling statistics.",
                    sum(|f| f.samples),
                ),
                ("weir_state_windows", "Open windows.", sum(|f| f.windows)),
                (
                    "weir_state_registry_versions",
                    "Registry versions held.",
                    sum(|f| f.versions),
                ),
            ] {
                gauge(&mut out, name, help, value);
            }
        }
        gauge(
            &mut out,
            "weir_epoch_lag_seconds",
            "Wall time minus the dataflow's input frontier (record time).",
            self.epoch_lag_ms.load(Ordering::Relaxed) as f64 / 1e3,
        );
        self.sink_seconds.render(
            &mut out,
            "weir_sink_commit_seconds",
            "Time from queueing one batch of epochs for PostgreSQL to its commit.",
        );
        self.source_delay_seconds.render(
            &mut out,
            "weir_source_delay_seconds",
            "From a reading's entry into Kafka (record timestamp) to weir reading it: the broker's share of latency.",
        );
        self.end_to_end_seconds.render(
            &mut out,
            "weir_end_to_end_latency_seconds",
            "From a reading's entry into Kafka to its publication to WebSocket clients.",
        );
        gauge(
            &mut out,
            "weir_websocket_clients",
            "Connected WebSocket clients.",
            self.ws_clients.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "weir_websocket_messages_total",
            "WebSocket messages sent.",
            load(&self.ws_messages),
        );
        counter(
            &mut out,
            "weir_websocket_slow_disconnects_total",
            "WebSocket clients disconnected for falling behind.",
            load(&self.ws_slow_disconnects),
        );
        counter(
            &mut out,
            "weir_ws_refused_total",
            "WebSocket upgrades refused because server.max_ws_clients were connected.",
            load(&self.ws_refused),
        );
        if let Ok(extra) = self.extra.lock()
            && let Some(render) = extra.as_ref()
        {
            out.push_str(&render());
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// One gauge with a value per `label` value.
fn labelled(
    out: &mut String,
    (name, help): (&str, &str),
    label: &str,
    values: impl Iterator<Item = (String, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (key, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_lag_and_state_render_per_label_and_summed() {
        let m = Metrics::default();
        assert!(m.consumer_lag_total().is_none(), "unknown until measured");
        m.set_outbox(BTreeMap::from([(
            "webhook:ops".to_string(),
            Backlog {
                waiting: 3,
                oldest_seconds: 12.5,
            },
        )]));
        m.set_lag(BTreeMap::from([(0, 5), (3, 7)]));
        let footprint = |sensors| weir_dataflow::state::Footprint {
            sensors,
            samples: 10,
            windows: 2,
            versions: 1,
        };
        m.set_state(0, footprint(4));
        m.set_state(1, footprint(6));
        m.set_state(1, footprint(5));
        let text = m.render();
        for line in [
            "weir_outbox_waiting{channel=\"webhook:ops\"} 3",
            "weir_outbox_oldest_seconds{channel=\"webhook:ops\"} 12.5",
            "weir_consumer_lag{partition=\"3\"} 7",
            "weir_state_sensors 9",
            "weir_state_samples 20",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        assert_eq!(m.consumer_lag_total(), Some(12));
    }

    #[test]
    fn histograms_are_cumulative_and_render_prometheus_text() {
        let m = Metrics::default();
        m.end_to_end_seconds.observe(0.003);
        m.end_to_end_seconds.observe(0.2);
        m.dead_letter("too_late");
        m.dead_letter("too_late");
        let text = m.render();
        assert!(
            text.contains("weir_end_to_end_latency_seconds_bucket{le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("weir_end_to_end_latency_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("weir_end_to_end_latency_seconds_bucket{le=\"0.25\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("weir_end_to_end_latency_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("weir_end_to_end_latency_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("weir_dead_letters_total{reason=\"too_late\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE weir_websocket_clients gauge"),
            "{text}"
        );
    }
}
