//! The record producer: idempotent, compressed as configured, keyed, with delivery accounting.
//!
//! `send` never drops a record: when librdkafka's local queue is full it
//! waits for room and tries again. Delivery reports are counted, and
//! `finish` fails loudly if any record was not acknowledged by the broker.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header as RdHeader, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::KafkaConfig;
use super::metadata::require_topic;
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};

/// A record header: name and value.
pub type Header<'a> = (&'a str, &'a [u8]);

/// One record to produce.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Record key (the sensor id for readings and registry records).
    pub key: &'a [u8],
    /// Record value; `None` is a tombstone.
    pub payload: Option<&'a [u8]>,
    /// Record headers, e.g. `content-type`.
    pub headers: &'a [Header<'a>],
    /// Record timestamp (ms); `None` lets the client stamp the send time.
    pub timestamp_ms: Option<i64>,
}

/// Counts delivery reports from librdkafka's background thread.
#[derive(Default)]
pub struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(error.to_string());
                }
            }
        }
    }
}

/// A producer shared by everything in one process that writes to Kafka.
pub struct KafkaProducer {
    inner: ThreadedProducer<DeliveryCounter>,
}

impl KafkaProducer {
    /// Connects (after a reachability check) with the producer settings of `config`.
    pub fn connect(config: &KafkaConfig) -> Result<Self, ConnectorError> {
        check_reachable(
            KAFKA,
            &config.brokers,
            Duration::from_millis(config.connect_timeout_ms),
        )?;
        let inner = config
            .producer_config()
            .create_with_context(DeliveryCounter::default())
            .map_err(|e| ConnectorError::kafka("create producer", e))?;
        Ok(KafkaProducer { inner })
    }

    /// Queues one record, waiting while the local queue is full.
    pub fn send(&self, record: OutgoingRecord<'_>) -> Result<(), ConnectorError> {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(RdHeader {
                    key,
                    value: Some(*value),
                })
            });
        let mut base = BaseRecord::<[u8], [u8]>::to(record.topic)
            .key(record.key)
            .headers(headers);
        if let Some(payload) = record.payload {
            base = base.payload(payload);
        }
        if let Some(ts) = record.timestamp_ms {
            base = base.timestamp(ts);
        }
        loop {
            match self.inner.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // Backpressure: wait for deliveries to make room, then retry.
                    std::thread::sleep(Duration::from_millis(5));
                    base = back;
                }
                Err((error, _)) => {
                    return Err(ConnectorError::kafka(
                        format!("produce to `{}`", record.topic),
                        error,
                    ));
                }
            }
        }
    }

    /// The partition ids of `topic`; an error naming `weir topics` when it does not exist.
    pub fn require_topic(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Vec<i32>, ConnectorError> {
        require_topic(self.inner.client(), topic, timeout)
    }

    /// Records acknowledged by the broker so far.
    pub fn delivered(&self) -> u64 {
        self.inner.context().delivered.load(Ordering::Relaxed)
    }

    /// Records the broker did not acknowledge so far.
    pub fn failed(&self) -> u64 {
        self.inner.context().failed.load(Ordering::Relaxed)
    }

    /// Waits until every queued record is acknowledged (or `timeout` passes),
    /// and fails if any record was not delivered.
    pub fn finish(&self, topic: &str, timeout: Duration) -> Result<u64, ConnectorError> {
        self.inner
            .flush(timeout)
            .map_err(|e| ConnectorError::kafka(format!("flush to `{topic}`"), e))?;
        let failed = self.failed();
        if failed > 0 {
            let last_error = self
                .inner
                .context()
                .last_error
                .lock()
                .ok()
                .and_then(|last| last.clone())
                .unwrap_or_default();
            return Err(ConnectorError::Undelivered {
                topic: topic.to_string(),
                failed,
                last_error,
            });
        }
        Ok(self.delivered())
    }
}
