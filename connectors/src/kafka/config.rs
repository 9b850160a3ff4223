//! `[kafka]` in weir.toml and the librdkafka settings derived from it.

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// `[kafka]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port`.
    pub brokers: String,
    /// Topic of sensor readings, keyed by sensor id.
    pub readings_topic: String,
    /// Compacted topic of sensor reference data, keyed by sensor id.
    pub registry_topic: String,
    /// Topic alerts are published to.
    pub alerts_topic: String,
    /// Topic rejected readings are dead-lettered to.
    pub dlq_topic: String,
    /// Compacted topic of alert silences and acknowledgements (written by the API).
    pub control_topic: String,
    /// Partitions of every topic weir creates (the readings topic's parallelism).
    pub partitions: i32,
    /// Retention of the readings, alerts and dead-letter topics.
    pub retention_ms: u64,
    /// How long a TCP connect to a broker may take before it counts as unreachable.
    pub connect_timeout_ms: u64,
    /// How long an admin or metadata request may take.
    pub request_timeout_ms: u64,
    /// Consumer group the durable offsets are also committed under, for lag
    /// monitoring (`kafka-consumer-groups --describe`). Recovery never reads them.
    pub group_id: String,
    /// Longest wait of a consumer fetch for data (`fetch.wait.max.ms`). Tansu
    /// does not answer a waiting fetch early when data arrives, so this bounds
    /// the latency it adds.
    pub fetch_wait_max_ms: u64,
    /// Most bytes one fetch request may return (`fetch.max.bytes`; at least
    /// 1,000). Tansu ignores the per-partition limit and fills the first
    /// partition of a request up to this, and each of its fetches scans the
    /// partition from the fetch offset to its end: with a deep backlog, a
    /// large value serves partitions one after another (the least clock,
    /// and with it every commit, waits for the last), a small one serves
    /// them in turn at the cost of more scans.
    pub fetch_max_bytes: u64,
    /// How weir's producers compress record batches (`none`, `gzip`,
    /// `snappy`, `lz4`, `zstd`); topics weir creates keep what producers
    /// send (`none`) or use this codec. `none` by default, for Tansu: its
    /// sqlite engine stores every record uncompressed whatever arrives, and
    /// answers a fetch of compressed records by scanning the partition to
    /// its end again and again (its byte budget is charged the compressed
    /// size, the scan the uncompressed one): measured on one partition
    /// 424,500 records deep, an lz4 topic served 27,000 records per 5 s
    /// fetch, an uncompressed one all 424,500 in under 20 s. On Kafka, use
    /// `lz4` or `zstd`.
    pub compression: Compression,
    /// A readings partition whose clock (record time) runs more than this
    /// ahead of the least partition clock over every worker, with more than
    /// `align_max_records` read past it, is paused until that one catches
    /// up (watermark alignment: a backlog is committed progressively, in
    /// bounded memory). `0` turns it off.
    pub align_lead_ms: i64,
    /// See `align_lead_ms`: records a partition may read past the least
    /// partition's clock before it waits.
    pub align_max_records: u64,
    /// What a gap in the readings is (records deleted by retention before
    /// weir stored them, a topic recreated, a broker skipping offsets):
    /// `fail` stops the run with the partition, the offsets and what to do;
    /// `record` writes a `source_gaps` row, counts it and goes on.
    pub on_gap: GapPolicy,
    /// How long an idle worker parks between looks at its sources (a
    /// record arriving wakes it at once): what an idle pipeline costs.
    pub idle_park_ms: u64,
    /// A worker whose partitions (every topic) have all been at their end
    /// this long hands them to a watcher consumer whose fetches wait
    /// `watch_wait_ms`, and takes them back at the first record it sees: on
    /// Tansu, whose every fetch costs the broker work per partition, an idle
    /// pipeline then costs it little. `0`: never.
    pub idle_after_ms: u64,
    /// The watcher's `fetch.wait.max.ms`. While asleep, idle partitions'
    /// clocks stay this much (plus the idle grace) behind wall time; on
    /// waking, each partition's clock waits for its own next report.
    pub watch_wait_ms: u64,
    /// librdkafka properties for every client weir makes (the pipeline, the
    /// API's control producer, the gateways' drainer, the simulator, the
    /// heartbeat), by librdkafka's own names: `security.protocol`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`,
    /// … Applied after weir's common settings (so they may change them) and
    /// before the producer's own. Keep secrets out of the file:
    /// `WEIR_KAFKA__PROPERTIES__SASL.PASSWORD_FILE=/run/secrets/kafka`.
    pub properties: std::collections::BTreeMap<String, String>,
}

/// A record batch codec (librdkafka's `compression.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The producer's `compression.type`.
    pub fn producer_codec(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The topic's `compression.type`: `producer` keeps what producers send.
    pub fn topic_codec(self) -> &'static str {
        match self {
            Compression::None => "producer",
            other => other.producer_codec(),
        }
    }
}

/// What a gap in a partition's offsets is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapPolicy {
    /// Stop, naming the partition and offsets.
    #[default]
    Fail,
    /// Record the gap (`source_gaps`, `weir_source_gaps_total`) and go on.
    Record,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            readings_topic: "sensor-readings".into(),
            registry_topic: "sensor-registry".into(),
            alerts_topic: "alerts".into(),
            dlq_topic: "sensor-readings-dlq".into(),
            control_topic: "alert-control".into(),
            partitions: 12,
            retention_ms: 7 * 24 * 3600 * 1000,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 30_000,
            group_id: "weir".into(),
            fetch_wait_max_ms: 10,
            fetch_max_bytes: 1 << 20,
            compression: Compression::None,
            align_lead_ms: 1_000,
            align_max_records: 5_000,
            on_gap: GapPolicy::Fail,
            idle_park_ms: 250,
            idle_after_ms: 2_000,
            watch_wait_ms: 2_000,
            properties: std::collections::BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The settings every weir client shares.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            // Only the loopback / configured listeners are used; IPv4 first avoids
            // a wasted attempt on ::1 when a broker listens on 127.0.0.1 only.
            .set("broker.address.family", "v4")
            // librdkafka's errors (a refused login, an untrusted certificate,
            // a broker down) go to weir's log (rdkafka's `tracing` feature);
            // its notices about every reconnect do not.
            .set("log_level", "3")
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Error);
        for (name, value) in &self.properties {
            config.set(name, value);
        }
        config
    }

    /// Producer settings: idempotent, acknowledged by all replicas, compressed as configured, batched.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            // No duplicates or reordering on retry within a partition.
            .set("enable.idempotence", "true")
            // A write counts once every in-sync replica has it.
            .set("acks", "all")
            // See `KafkaConfig::compression` (none by default, for Tansu).
            .set("compression.type", self.compression.producer_codec())
            // Up to 5 ms of batching: throughput without visible latency.
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            // Room for a burst of ~1M records before send() reports a full queue.
            .set("queue.buffering.max.messages", "1000000")
            // Give up on a record after 2 minutes (Tansu's sqlite engine can stall for 25 s).
            .set("message.timeout.ms", "120000");
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;

    /// Properties reach librdkafka by its own names: a misspelt one is
    /// refused by librdkafka itself, naming it; a valid one is taken.
    #[test]
    fn properties_pass_through_to_librdkafka() {
        let mut config = KafkaConfig::default();
        config
            .properties
            .insert("security.protocol".into(), "sasl_plaintext".into());
        config
            .properties
            .insert("sasl.mechanism".into(), "PLAIN".into());
        config
            .properties
            .insert("sasl.username".into(), "weir".into());
        config
            .properties
            .insert("sasl.password".into(), "s3cret".into());
        let client = config.producer_config();
        assert_eq!(client.get("security.protocol"), Some("sasl_plaintext"));
        assert!(client.create::<BaseProducer>().is_ok());
        config
            .properties
            .insert("sasl.pasword".into(), "typo".into());
        let refused = config.producer_config().create::<BaseProducer>().err();
        assert!(
            refused.is_some_and(|e| e.to_string().contains("sasl.pasword")),
            "a misspelt property is refused by name"
        );
    }
}
