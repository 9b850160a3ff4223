//! The Kafka source: one worker's partitions of a topic, read by explicit
//! assignment, with the record-time clocks that drive timely progress.
//!
//! ```text
//!  broker ─► BaseConsumer (assigned p % peers == worker) ─► RawRecord (+ partition clock)
//!                 │ partition EOF ─► clock advances to wall time − grace (idle rule)
//!                 └ bounded run: a partition is finished at the end offset seen at start
//! ```
//!
//! Offsets are checked for continuity: on a non-compacted topic a record
//! whose offset jumps past the next expected one is a broker fault (Tansu's
//! memory engine does this); it is counted and logged at ERROR, never
//! passed over silently.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{error, info, warn};
use weir_dataflow::clock::PartitionClocks;
use weir_dataflow::records::Time;

use super::KafkaConfig;
use super::metadata::require_topic;
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};

/// One record as read, with its partition's clock at that point.
#[derive(Clone, Debug)]
pub struct RawRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp (ms).
    pub record_ts_ms: i64,
    /// The partition's clock after this record.
    pub clock_ms: i64,
    /// Key bytes (empty when absent).
    pub key: Vec<u8>,
    /// Payload; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// The `content-type` header.
    pub content_type: Option<String>,
    /// The record timestamp was clamped (it was ahead of the read time by
    /// more than the allowed skew, or before 1970): `record_ts_ms` is the
    /// clamped time.
    pub clock_skewed: bool,
}

/// Next offset and partition clock, per partition.
pub type Checkpoint = BTreeMap<i32, (i64, i64)>;

/// How a source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Follow the topic for ever.
    Live,
    /// Stop at the end offsets seen when the source opened.
    AtEnd,
}

/// One worker's partitions of one topic.
pub struct PartitionSource {
    consumer: BaseConsumer,
    topic: String,
    clocks: PartitionClocks,
    next_offsets: BTreeMap<i32, i64>,
    ends: Option<BTreeMap<i32, i64>>,
    idle_grace_ms: u64,
    max_clock_skew_ms: i64,
    gaps: u64,
    /// Records whose timestamp was clamped, since the last `take_clamped`.
    clamped: u64,
    /// When a clamp was last logged (one line a minute at most).
    clamp_logged: Option<std::time::Instant>,
    /// Partitions at their end since their last record (the idle rule applies).
    idle: std::collections::BTreeSet<i32>,
    /// (input time, (next offset, clock) per partition) at each input advance, oldest first.
    epochs: std::collections::VecDeque<(Time, Checkpoint)>,
    /// The last poll saw the broker unreachable (logged once per change).
    broker_down: bool,
}

impl PartitionSource {
    /// The partition ids of `topic`.
    pub fn partitions(kafka: &KafkaConfig, topic: &str) -> Result<Vec<i32>, ConnectorError> {
        let consumer = consumer(kafka, false)?;
        require_topic(
            consumer.client(),
            topic,
            Duration::from_millis(kafka.request_timeout_ms),
        )
    }

    /// Opens `partitions` of `topic` at `start` offsets (the beginning where absent).
    pub fn open(
        kafka: &KafkaConfig,
        topic: &str,
        partitions: &[i32],
        start: &BTreeMap<i32, i64>,
        bound: Bound,
        idle_grace_ms: u64,
        max_clock_skew_ms: i64,
    ) -> Result<Self, ConnectorError> {
        let consumer = consumer(kafka, true)?;
        let timeout = Duration::from_millis(kafka.request_timeout_ms);
        let mut assignment = TopicPartitionList::new();
        let mut next_offsets = BTreeMap::new();
        let mut ends = BTreeMap::new();
        let mut clocks = PartitionClocks::new(partitions.iter().copied());
        for &p in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| ConnectorError::kafka(format!("watermarks of `{topic}`/{p}"), e))?;
            let from = start.get(&p).copied().unwrap_or(low).clamp(low, high);
            assignment
                .add_partition_offset(topic, p, Offset::Offset(from))
                .map_err(|e| ConnectorError::kafka(format!("assign `{topic}`/{p}"), e))?;
            next_offsets.insert(p, from);
            ends.insert(p, high);
            if bound == Bound::AtEnd && high <= from {
                clocks.finish(p);
            }
        }
        consumer
            .assign(&assignment)
            .map_err(|e| ConnectorError::kafka(format!("assign `{topic}`"), e))?;
        info!(topic, partitions = ?partitions, ?bound, "partitions assigned");
        Ok(PartitionSource {
            consumer,
            topic: topic.to_string(),
            clocks,
            next_offsets,
            ends: (bound == Bound::AtEnd).then_some(ends),
            idle_grace_ms,
            max_clock_skew_ms,
            gaps: 0,
            clamped: 0,
            clamp_logged: None,
            idle: Default::default(),
            epochs: Default::default(),
            broker_down: false,
        })
    }

    /// Reads up to `max` records (waiting at most `wait` for the first), handing each to `sink`.
    pub fn poll(
        &mut self,
        max: usize,
        wait: Duration,
        mut sink: impl FnMut(RawRecord),
    ) -> Result<usize, ConnectorError> {
        let mut read = 0;
        let mut timeout = wait;
        while read < max {
            let Some(result) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(p)) => {
                    broker_answered(&mut self.broker_down, &self.topic);
                    if self.ends.is_none() {
                        self.idle.insert(p);
                    }
                    continue;
                }
                Err(e) if is_transient(&e) => {
                    // librdkafka reconnects by itself and resumes at its fetch position.
                    if !self.broker_down {
                        warn!(topic = %self.topic, error = %e, "broker unreachable: consumption paused until it returns");
                        self.broker_down = true;
                    }
                    break;
                }
                Err(e) => {
                    return Err(ConnectorError::kafka(
                        format!("consume `{}`", self.topic),
                        e,
                    ));
                }
            };
            broker_answered(&mut self.broker_down, &self.topic);
            let partition = message.partition();
            let offset = message.offset();
            self.idle.remove(&partition);
            if let Some(end) = self.ends.as_ref().and_then(|e| e.get(&partition))
                && offset >= *end
            {
                self.clocks.finish(partition);
                continue;
            }
            let expected = self.next_offsets.get(&partition).copied().unwrap_or(offset);
            if offset > expected {
                self.gaps += 1;
                error!(topic = %self.topic, partition, expected, got = offset, "offset gap: the broker skipped records");
            }
            self.next_offsets.insert(partition, offset + 1);
            // The clock of record is what the source can vouch for: a
            // timestamp further ahead of the read time than the allowed
            // skew (a fast producer clock, µs taken for ms) would hold the
            // partition's clock in the future; one before 1970 is no time.
            let read_ms = now_ms();
            let stamped = message.timestamp().to_millis().unwrap_or(read_ms);
            let latest = read_ms.saturating_add(self.max_clock_skew_ms);
            let record_ts = stamped.clamp(0, latest);
            let clock_skewed = record_ts != stamped;
            if clock_skewed {
                self.clamped += 1;
                if self
                    .clamp_logged
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
                {
                    self.clamp_logged = Some(std::time::Instant::now());
                    warn!(topic = %self.topic, partition, offset, stamped, clamped_to = record_ts,
                          "record timestamp is not credible (ahead of the read time by more than dataflow.max_clock_skew_ms, or before 1970): clamped and flagged clock_skew (one line a minute)");
                }
            }
            let clock_ms = self.clocks.observe(partition, record_ts);
            let content_type = message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| {
                        h.key
                            .eq_ignore_ascii_case(weir_dataflow::CONTENT_TYPE_HEADER)
                    })
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            });
            sink(RawRecord {
                partition,
                offset,
                record_ts_ms: record_ts,
                clock_ms,
                key: message.key().unwrap_or_default().to_vec(),
                payload: message.payload().map(<[u8]>::to_vec),
                content_type,
                clock_skewed,
            });
            read += 1;
            if let Some(end) = self.ends.as_ref().and_then(|e| e.get(&partition))
                && offset + 1 >= *end
            {
                self.clocks.finish(partition);
            }
        }
        // librdkafka reports the end of a partition once; the partition
        // stays idle, and its clock follows wall time, until a record arrives.
        let idle_clock = now_ms() - i64::try_from(self.idle_grace_ms).unwrap_or(0);
        for p in &self.idle {
            self.clocks.idle(*p, idle_clock);
        }
        Ok(read)
    }

    /// The time this worker's input may advance to (see [`PartitionClocks::input_time`]).
    pub fn input_time(&self, tick_ms: u64) -> Option<Time> {
        self.clocks.input_time(tick_ms)
    }

    /// Whether a bounded source has read every partition to its end.
    pub fn finished(&self) -> bool {
        self.ends.is_some() && self.clocks.all_finished()
    }

    /// Next offset to read per partition (what a sink commits once the data before it is durable).
    pub fn next_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.next_offsets
    }

    /// Notes that the worker's input advanced to `time`: every record sent
    /// so far is at a time before it, so the current next offsets cover
    /// exactly the epochs below `time`.
    pub fn checkpoint(&mut self, time: Time) {
        // A partition read nothing from yet has no record clock: it is left
        // out (its offset has not moved; a made-up clock would mislead the
        // next restart's rewind).
        let checkpoint = self
            .next_offsets
            .iter()
            .filter_map(|(p, next)| Some((*p, (*next, self.clocks.record_clock(*p)?))))
            .collect();
        self.epochs.push_back((time, checkpoint));
    }

    /// The offsets that are complete once the outputs' frontier reached
    /// `frontier` (`None`: the outputs are done): the latest checkpoint at or
    /// below it, dropping older ones. This is what a sink commits together
    /// with the data (issue #4).
    pub fn completed(&mut self, frontier: Option<Time>) -> Option<(Time, Checkpoint)> {
        let mut latest = None;
        while let Some((time, _)) = self.epochs.front() {
            if frontier.is_some_and(|f| *time > f) {
                break;
            }
            latest = self.epochs.pop_front();
        }
        latest
    }

    /// Commits `checkpoint`'s offsets to the broker's group offsets, without
    /// waiting: they serve lag monitoring only (recovery reads PostgreSQL).
    /// A failure is logged, never fatal.
    pub fn commit_group(&self, checkpoint: &Checkpoint) {
        let mut list = TopicPartitionList::new();
        for (p, (next, _)) in checkpoint {
            if let Err(e) = list.add_partition_offset(&self.topic, *p, Offset::Offset(*next)) {
                warn!(topic = %self.topic, partition = p, error = %e, "group offset not committed");
                return;
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            warn!(topic = %self.topic, error = %e, "group offsets not committed");
        }
    }

    /// Offset gaps seen (broker faults).
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Records whose timestamp was clamped since the last call.
    pub fn take_clamped(&mut self) -> u64 {
        std::mem::take(&mut self.clamped)
    }
}

/// Logs the broker's return once, after it was logged unreachable.
fn broker_answered(down: &mut bool, topic: &str) {
    if *down {
        info!(topic, "broker reachable again: consuming");
        *down = false;
    }
}

/// Errors librdkafka recovers from by itself (the broker restarts, a
/// connection drops): the source waits instead of failing the run.
fn is_transient(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::Resolve
                | Code::OperationTimedOut
                | Code::RequestTimedOut
                | Code::NetworkException
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
        )
    )
}

fn consumer(kafka: &KafkaConfig, eof: bool) -> Result<BaseConsumer, ConnectorError> {
    check_reachable(
        KAFKA,
        &kafka.brokers,
        Duration::from_millis(kafka.connect_timeout_ms),
    )?;
    let mut config = kafka.client_config();
    config
        // Required by librdkafka even without group membership (never
        // rebalanced: partitions are assigned); durable offsets are committed
        // under it for lag monitoring.
        .set("group.id", &kafka.group_id)
        // Offsets are weir's to record with the data, not the broker's.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Tansu does not answer a waiting fetch early when data arrives.
        .set("fetch.wait.max.ms", kafka.fetch_wait_max_ms.to_string())
        // End-of-partition events drive the idle rule of the clock.
        .set("enable.partition.eof", if eof { "true" } else { "false" });
    config
        .create()
        .map_err(|e| ConnectorError::kafka("create consumer", e))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
