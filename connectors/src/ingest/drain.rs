//! Drains the disk buffer to Kafka in order, on a thread of its own.
//!
//! ```text
//!  BufferReader (seq order) ─► idempotent producer (key = sensor id, infinite message timeout)
//!                                   │ delivery reports (any order across partitions)
//!  cursor ◄─ contiguous prefix of delivered seqs ◄┘
//! ```
//!
//! The producer never gives up on a record (`message.timeout.ms = 0`):
//! while the broker is away, records wait in librdkafka's queue (at most
//! `buffer.in_flight`) and then in the buffer, and go out in order when it
//! returns; with idempotence nothing is written twice and one sensor's
//! records (one key, one partition) stay in order. Exactly once into Kafka
//! within a run; a crash of weir re-sends what was delivered after the
//! last cursor write (at most ~100 ms of records), so across weir crashes
//! it is at least once.
//!
//! A record Kafka will never take (too large, invalid: an error that is
//! not about the broker being away) is not retried for ever, holding every
//! record behind it: it is replaced by a dead letter (reason
//! `kafka_refused`, payload cut to 64 KiB, size and error in headers) in
//! its place in the order; a dead letter refused for good is dropped with
//! an ERROR log and counted (`weir_ingest_dropped_total`). The gateways
//! already refuse payloads over 64 KiB at the edge, so this is defence in
//! depth (a broker with a smaller `message.max.bytes`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{error, info, warn};

use super::buffer::{Buffer, Record, Topic};
pub use super::metrics::DrainStats;
use super::rejection::{Rejection, dead_letter};
use crate::ConnectorError;
use crate::kafka::KafkaConfig;

/// Delivery reports, by seq.
struct Reports {
    tx: Sender<(u64, Result<(), Refused>)>,
}

/// Why Kafka did not take a record.
#[derive(Clone, Debug)]
struct Refused {
    /// The error, for logs and the dead letter.
    reason: String,
    /// Kafka will never take this record as it is.
    permanent: bool,
}

impl Refused {
    fn of(error: &KafkaError) -> Refused {
        Refused {
            reason: error.to_string(),
            permanent: error.rdkafka_error_code().is_some_and(never_taken),
        }
    }
}

/// Whether Kafka refuses a record with `code` however often it is sent.
fn never_taken(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTimestamp
            | RDKafkaErrorCode::BadMessage
    )
}

/// The `x-weir-source` of the dead letters the drainer writes in place of
/// records Kafka refused.
const DRAIN_SOURCE: &str = "ingest-drain";

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    /// The record's seq (a `usize` opaque costs no allocation; seqs are
    /// u64 and targets are 64-bit).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(Refused::of(e)),
        };
        let _ = self.tx.send((seq as u64, outcome));
    }
}

/// Starts the drainer thread; it runs until `stop` is set and everything
/// buffered before that has been delivered (or the broker stays away).
pub fn start(
    buffer: &Buffer,
    kafka: &KafkaConfig,
    in_flight: usize,
    stats: Arc<DrainStats>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, ConnectorError> {
    let (tx, reports) = channel();
    let producer: ThreadedProducer<Reports> = kafka
        .producer_config()
        // Never give up on a record: an outage is waited out, in order.
        .set("message.timeout.ms", "0")
        // Room for the in-flight window.
        .set(
            "queue.buffering.max.messages",
            (in_flight.max(1_000) * 2).to_string(),
        )
        .create_with_context(Reports { tx })
        .map_err(|e| ConnectorError::kafka("create the ingest producer", e))?;
    let mut reader = buffer
        .reader()
        .map_err(|e| ConnectorError::InvalidSetting {
            setting: "ingest.buffer.dir",
            reason: e.to_string(),
        })?;
    let readings = kafka.readings_topic.clone();
    let dlq = kafka.dlq_topic.clone();
    let buffer = buffer.clone();
    std::thread::Builder::new()
        .name("ingest-drain".into())
        .spawn(move || {
            let mut drain = Drain {
                producer,
                reports,
                readings,
                dlq,
                in_flight: BTreeMap::new(),
                held: BTreeMap::new(),
                max_in_flight: in_flight.max(1),
                stats,
                broker_down: false,
            };
            drain.run(&mut reader, &buffer, &stop);
        })
        .map_err(|e| ConnectorError::InvalidSetting {
            setting: "ingest",
            reason: format!("starting the drainer: {e}"),
        })
}

struct Drain {
    producer: ThreadedProducer<Reports>,
    reports: Receiver<(u64, Result<(), Refused>)>,
    readings: String,
    dlq: String,
    /// Records sent and not yet reported, kept for a resend on failure.
    in_flight: BTreeMap<u64, Record>,
    /// Records whose delivery failed, to send again.
    held: BTreeMap<u64, Record>,
    max_in_flight: usize,
    stats: Arc<DrainStats>,
    broker_down: bool,
}

impl Drain {
    fn run(
        &mut self,
        reader: &mut super::buffer::BufferReader,
        buffer: &Buffer,
        stop: &AtomicBool,
    ) {
        let mut stopping_since: Option<std::time::Instant> = None;
        let mut last_report = std::time::Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                let since = *stopping_since.get_or_insert_with(std::time::Instant::now);
                let drained = self.in_flight.is_empty() && buffer.pending().1 == 0;
                // What is not delivered by then stays in the buffer for the next run.
                if drained || since.elapsed() > Duration::from_secs(10) {
                    break;
                }
            }
            // Resend failures first, in seq order.
            while let Some((seq, record)) = self.held.pop_first() {
                if !self.offer(seq, record) {
                    break;
                }
            }
            // Fill the window.
            let mut idle = true;
            while self.in_flight.len() < self.max_in_flight && self.held.is_empty() {
                match reader.next(Duration::from_millis(if idle { 20 } else { 0 })) {
                    Ok(Some((seq, record))) => {
                        idle = false;
                        if self.in_flight.is_empty() {
                            // Waiting for reports starts now, not at the last one.
                            last_report = std::time::Instant::now();
                        }
                        if !self.offer(seq, record) {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error!(error = %e, "ingest buffer: read failed; retrying");
                        std::thread::sleep(Duration::from_millis(500));
                        break;
                    }
                }
            }
            // Delivery reports: advance the cursor over the contiguous prefix.
            let wait = if idle {
                Duration::from_millis(5)
            } else {
                Duration::ZERO
            };
            let mut first = self.reports.recv_timeout(wait).ok();
            let reported = first.is_some();
            let mut failed = false;
            while let Some((seq, outcome)) = first.take().or_else(|| self.reports.try_recv().ok()) {
                let record = self.in_flight.remove(&seq);
                match outcome {
                    Ok(()) => {
                        self.stats.drained.fetch_add(1, Ordering::Relaxed);
                        if self.broker_down {
                            info!("ingest: Kafka takes records again; draining the buffer");
                            self.broker_down = false;
                        }
                    }
                    Err(refused) if refused.permanent => {
                        // Sent again as a dead letter, or dropped: nothing waits behind it.
                        if let Some(replacement) =
                            record.and_then(|r| self.replace(seq, r, &refused.reason))
                        {
                            self.held.insert(seq, replacement);
                        }
                    }
                    Err(refused) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        error!(seq, reason = %refused.reason, "ingest: Kafka refused a buffered record; sending it again");
                        if let Some(record) = record {
                            self.held.insert(seq, record);
                        }
                        failed = true;
                    }
                }
            }
            if failed {
                // Back off once per round of refusals, before resending them.
                std::thread::sleep(Duration::from_millis(200));
            }
            let lowest_open = self
                .in_flight
                .keys()
                .next()
                .copied()
                .into_iter()
                .chain(self.held.keys().next().copied())
                .min();
            let delivered_below = lowest_open.unwrap_or(reader.next_seq());
            if delivered_below > reader.drained_seq()
                && let Err(e) = reader.drained(delivered_below - 1)
            {
                warn!(error = %e, "ingest buffer: cursor not written; retrying");
            }
            if reported {
                last_report = std::time::Instant::now();
            }
            // Records in flight and no report for a while: the broker is away.
            if !self.in_flight.is_empty()
                && !self.broker_down
                && last_report.elapsed() > Duration::from_secs(5)
            {
                warn!(
                    waiting = self.in_flight.len(),
                    "ingest: Kafka is not acknowledging; readings wait in the disk buffer"
                );
                self.broker_down = true;
            }
        }
        let _ = reader.persist();
        info!("ingest drainer stopped");
    }

    /// Sends `record`: in flight when the producer took it, else held for
    /// a resend (or replaced, when Kafka will never take it). Whether the
    /// window may take more.
    fn offer(&mut self, seq: u64, record: Record) -> bool {
        let mut record = record;
        loop {
            match self.send(seq, &record) {
                Ok(()) => {
                    self.in_flight.insert(seq, record);
                    return true;
                }
                Err(refused) if refused.permanent => {
                    match self.replace(seq, record, &refused.reason) {
                        Some(replacement) => record = replacement,
                        // Dropped: the cursor may pass it.
                        None => return true,
                    }
                }
                Err(_) => {
                    self.held.insert(seq, record);
                    return false;
                }
            }
        }
    }

    /// What goes in place of `record`, which Kafka will never take: a
    /// bounded dead letter, or nothing if it is one already (dropped,
    /// logged and counted).
    fn replace(&mut self, seq: u64, record: Record, reason: &str) -> Option<Record> {
        let ours = record
            .headers
            .iter()
            .any(|(name, value)| name == "x-weir-source" && value == DRAIN_SOURCE.as_bytes());
        if ours {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            error!(seq, %reason, key = %String::from_utf8_lossy(&record.key), "ingest: Kafka refused even the dead letter of a buffered record; dropped");
            return None;
        }
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        warn!(seq, %reason, size = record.payload.len(), "ingest: Kafka will never take a buffered record; sending it as a dead letter");
        let rejection = Rejection {
            index: 0,
            field: "$".into(),
            reason: "kafka_refused".into(),
            detail: reason.to_string(),
        };
        let key = String::from_utf8_lossy(&record.key).to_string();
        Some(dead_letter(
            &key,
            record.payload,
            DRAIN_SOURCE,
            &rejection,
            record.timestamp_ms,
        ))
    }

    /// Hands one record to the producer; `Err` when it did not take it
    /// (a full queue: not permanent).
    fn send(&self, seq: u64, record: &Record) -> Result<(), Refused> {
        let topic = match record.topic {
            Topic::Readings => &self.readings,
            Topic::DeadLetters => &self.dlq,
        };
        let mut headers = OwnedHeaders::new().insert(Header {
            key: weir_dataflow::CONTENT_TYPE_HEADER,
            value: Some(record.content_type.as_bytes()),
        });
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_slice()),
            });
        }
        let base = BaseRecord::with_opaque_to(topic, seq as usize)
            .key(&record.key)
            .payload(&record.payload)
            .timestamp(record.timestamp_ms)
            .headers(headers);
        match self.producer.send(base) {
            Ok(()) => Ok(()),
            Err((e, _)) => {
                let refused = Refused::of(&e);
                if refused.permanent {
                    return Err(refused);
                }
                if !matches!(
                    e,
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                ) {
                    error!(seq, error = %e, "ingest: producing a buffered record failed; retrying");
                }
                std::thread::sleep(Duration::from_millis(5));
                Err(refused)
            }
        }
    }
}
