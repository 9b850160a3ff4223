//! Reading a topic back in the tests: every record of every partition, by
//! assignment (no group), until the expected count arrived (then a little
//! longer, to catch extras) or the broker stayed silent for a minute.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::unique;

/// One record as read.
#[derive(Clone, Debug)]
pub struct Read {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers (name, value as text).
    pub headers: Vec<(String, String)>,
}

impl Read {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How often each (key, reading ts) occurs among `records`; a record that
/// does not decode as a reading counts under ts -1.
pub fn reading_counts(records: &[Read]) -> std::collections::BTreeMap<(String, i64), usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in records {
        let ts = weir_dataflow::decode(&r.payload, r.header(weir_dataflow::CONTENT_TYPE_HEADER))
            .map(|reading| reading.ts_ms)
            .unwrap_or(-1);
        *out.entry((r.key.clone(), ts)).or_insert(0) += 1;
    }
    out
}

/// Reads `topic` (all `partitions`) on `brokers` until `expected` records.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Result<Vec<Read>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader")) // required by librdkafka, never joined
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut records = Vec::new();
    let mut last_progress = Instant::now();
    let mut done_at: Option<Instant> = None;
    while last_progress.elapsed() < Duration::from_secs(60) {
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Read {
            partition: message.partition(),
            offset: message.offset(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
        last_progress = Instant::now();
        if records.len() >= expected && done_at.is_none() {
            done_at = Some(Instant::now());
        }
    }
    Ok(records)
}

/// An outside producer: plain librdkafka, records exactly as given (key
/// bytes, payload, record timestamp), none of weir's code in the path.
pub struct Outside {
    producer: rdkafka::producer::BaseProducer<Failures>,
    failures: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Delivery failures, kept for `flush`.
pub struct Failures(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl rdkafka::ClientContext for Failures {}

impl rdkafka::producer::ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && let Ok(mut failures) = self.0.lock()
        {
            failures.push(e.to_string());
        }
    }
}

impl Outside {
    /// A producer on `brokers`.
    pub fn new(brokers: &str) -> Result<Outside, Box<dyn std::error::Error>> {
        let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000")
            .create_with_context(Failures(std::sync::Arc::clone(&failures)))?;
        Ok(Outside { producer, failures })
    }

    /// Sends one record (`payload` `None` is a tombstone; `timestamp` `None`
    /// lets librdkafka stamp it now).
    pub fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        loop {
            let mut record = rdkafka::producer::BaseRecord::to(topic).key(key);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            if let Some(ts) = timestamp {
                record = record.timestamp(ts);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Sends one record to `partition` (whatever its key hashes to).
    pub fn send_to(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: &[u8],
        timestamp: i64,
    ) -> Result<(), Box<dyn std::error::Error>> {
        loop {
            let record = rdkafka::producer::BaseRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload(payload)
                .timestamp(timestamp);
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// (log start, log end) of every partition of `topic`.
    pub fn watermarks(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<(i64, i64)>, Box<dyn std::error::Error>> {
        use rdkafka::producer::Producer as _;
        let client = self.producer.client();
        (0..partitions)
            .map(|p| Ok(client.fetch_watermarks(topic, p, Duration::from_secs(10))?))
            .collect()
    }

    /// Waits until everything sent is acknowledged; fails on any delivery error.
    pub fn flush(&self) -> Result<(), Box<dyn std::error::Error>> {
        use rdkafka::producer::Producer as _;
        self.producer.flush(Duration::from_secs(60))?;
        let failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} deliveries failed: {:?}",
                failures.len(),
                &failures[..failures.len().min(3)]
            )
            .into())
        }
    }
}
