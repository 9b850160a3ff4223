//! What the source reads ([`RawRecord`]), by which rules ([`SourceRules`],
//! [`Bound`]), and what reading changes, per topic and partition: the next
//! offsets (checked for continuity), the partition clocks (record times
//! clamped to what the source can vouch for), bounded runs' ends, and what
//! alignment holds back. `Sources` owns the consumer; this is its state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{error, info, warn};
use weir_dataflow::clock::{PartitionClocks, now_ms};
use weir_dataflow::driver::Role;

use super::config::GapPolicy;
use super::context::BaseConsumer;
use super::gaps::{Gap, gap_error};
use crate::ConnectorError;

/// One record as read, with its partition's clock at that point.
#[derive(Clone, Debug)]
pub struct RawRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp (ms), clamped to what the source can vouch for.
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

/// The rules a source reads by.
#[derive(Clone, Copy, Debug)]
pub struct SourceRules {
    /// Follow the topics, or stop at their ends.
    pub bound: Bound,
    /// An idle partition's clock follows wall time minus this.
    pub idle_grace_ms: u64,
    /// A record timestamp further ahead of the read time is clamped.
    pub max_clock_skew_ms: i64,
    /// A readings partition whose clock runs more than this ahead of the
    /// least partition, with more than `align_max_records` read past it, is
    /// paused (watermark alignment); `0` turns alignment off.
    pub align_lead_ms: i64,
    /// See `align_lead_ms`.
    pub align_max_records: u64,
}

/// One topic's partitions as this worker reads them.
pub(super) struct TopicState {
    pub(super) role: Role,
    pub(super) topic: String,
    pub(super) partitions: Vec<i32>,
    pub(super) clocks: PartitionClocks,
    pub(super) next_offsets: BTreeMap<i32, i64>,
    pub(super) ends: Option<BTreeMap<i32, i64>>,
    /// Partitions at their end since their last record (the idle rule applies).
    pub(super) idle: BTreeSet<i32>,
    /// Partitions held back by alignment: their queues are left unread
    /// (librdkafka stops fetching a partition once its queue is full).
    pub(super) paused: BTreeSet<i32>,
    /// Records a readings partition may still read before the next
    /// alignment (absent: no limit). Set by `align` (the budget left past
    /// the frontier), and to the whole budget at the start, so that no
    /// partition reads far ahead within one poll, before alignment looks.
    pub(super) allowance: BTreeMap<i32, u64>,
    /// Records read per partition, and (clock, records read) marks at each
    /// poll, to tell how many were read past the frontier.
    pub(super) read: BTreeMap<i32, u64>,
    pub(super) marks: BTreeMap<i32, VecDeque<(i64, u64)>>,
    /// Records read at or below the frontier, per partition.
    pub(super) passed: BTreeMap<i32, u64>,
    pub(super) gaps: u64,
    /// Compacted topics skip offsets by design.
    pub(super) compacted: bool,
}

/// What reading records changes (apart from the consumer and its queues).
pub(super) struct Reader {
    pub(super) topics: Vec<TopicState>,
    pub(super) rules: SourceRules,
    pub(super) policy: GapPolicy,
    /// Records whose timestamp was clamped, since the last `take_clamped`.
    pub(super) clamped: u64,
    pub(super) clamp_logged: Option<Instant>,
    /// The last poll saw the broker unreachable (logged once per change).
    pub(super) broker_down: bool,
    /// Gaps to record (with `on_gap = "record"`), since the last `take_gaps`.
    pub(super) found: Vec<Gap>,
}

impl Reader {
    /// Checks one message and makes it a record (`None`: past a bounded run's end).
    pub(super) fn accept(
        &mut self,
        index: usize,
        message: &BorrowedMessage<'_>,
    ) -> Result<Option<RawRecord>, ConnectorError> {
        broker_answered(&mut self.broker_down);
        let partition = message.partition();
        let offset = message.offset();
        let max_skew = self.rules.max_clock_skew_ms;
        let state = &mut self.topics[index];
        state.idle.remove(&partition);
        if let Some(end) = state.ends.as_ref().and_then(|e| e.get(&partition))
            && offset >= *end
        {
            state.clocks.finish(partition);
            return Ok(None);
        }
        let expected = state
            .next_offsets
            .get(&partition)
            .copied()
            .unwrap_or(offset);
        if offset > expected && !state.compacted {
            state.gaps += 1;
            let gap = Gap {
                topic: state.topic.clone(),
                partition,
                from: expected,
                to: offset,
                kind: "skipped",
            };
            self.gap(gap)?;
        }
        let state = &mut self.topics[index];
        state.next_offsets.insert(partition, offset + 1);
        *state.read.entry(partition).or_default() += 1;
        // The clock of record is what the source can vouch for: a timestamp
        // further ahead of the read time than the allowed skew (a fast
        // producer clock, µs taken for ms) would hold the partition's clock
        // in the future; one before 1970 is no time.
        let read_ms = now_ms();
        let stamped = message.timestamp().to_millis().unwrap_or(read_ms);
        let latest = read_ms.saturating_add(max_skew);
        let record_ts = stamped.clamp(0, latest);
        let clock_skewed = record_ts != stamped;
        let clock_ms = state.clocks.observe(partition, record_ts);
        let finished = state
            .ends
            .as_ref()
            .and_then(|e| e.get(&partition))
            .is_some_and(|end| offset + 1 >= *end);
        if finished {
            state.clocks.finish(partition);
        }
        let topic = state.topic.clone();
        if clock_skewed {
            self.clamped += 1;
            if self
                .clamp_logged
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
            {
                self.clamp_logged = Some(Instant::now());
                warn!(%topic, partition, offset, stamped, clamped_to = record_ts,
                      "record timestamp is not credible (ahead of the read time by more than dataflow.max_clock_skew_ms, or before 1970): clamped and flagged clock_skew (one line a minute)");
            }
        }
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
        Ok(Some(RawRecord {
            partition,
            offset,
            record_ts_ms: record_ts,
            clock_ms,
            key: message.key().unwrap_or_default().to_vec(),
            payload: message.payload().map(<[u8]>::to_vec),
            content_type,
            clock_skewed,
        }))
    }

    /// A gap: fatal, or recorded (`on_gap = "record"`).
    pub(super) fn gap(&mut self, gap: Gap) -> Result<(), ConnectorError> {
        error!(topic = %gap.topic, partition = gap.partition, from = gap.from, to = gap.to, kind = gap.kind,
               "offset gap: records {}..{} of `{}`/{} were never read", gap.from, gap.to, gap.topic, gap.partition);
        match self.policy {
            GapPolicy::Fail => Err(gap_error(&gap)),
            GapPolicy::Record => {
                self.found.push(gap);
                Ok(())
            }
        }
    }

    /// An error on one partition's queue.
    pub(super) fn partition_error(
        &mut self,
        consumer: &BaseConsumer,
        index: usize,
        partition: i32,
        e: KafkaError,
    ) -> Result<(), ConnectorError> {
        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) {
            // The next offset is no longer (or not yet) in the log: records
            // deleted before weir read them, or a topic reset.
            let topic = self.topics[index].topic.clone();
            let expected = self.topics[index]
                .next_offsets
                .get(&partition)
                .copied()
                .unwrap_or_default();
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                .map_err(|e| {
                    ConnectorError::kafka(format!("watermarks of `{topic}`/{partition}"), e)
                })?;
            let (to, kind) = if expected < low {
                (low, "deleted")
            } else {
                (low, "beyond_end")
            };
            let _ = high;
            self.gap(Gap {
                topic: topic.clone(),
                partition,
                from: expected,
                to,
                kind,
            })?;
            self.topics[index].next_offsets.insert(partition, to);
            return consumer
                .seek(
                    &topic,
                    partition,
                    Offset::Offset(to),
                    Duration::from_secs(10),
                )
                .map_err(|e| ConnectorError::kafka(format!("seek `{topic}`/{partition}"), e));
        }
        self.consumer_error(e)
    }

    pub(super) fn consumer_error(&mut self, e: KafkaError) -> Result<(), ConnectorError> {
        if is_transient(&e) {
            // librdkafka reconnects by itself and resumes at its fetch position.
            if !self.broker_down {
                warn!(error = %e, "broker unreachable: consumption paused until it returns");
                self.broker_down = true;
            }
            return Ok(());
        }
        Err(ConnectorError::kafka("consume the input topics", e))
    }
}

/// Logs the broker's return once, after it was logged unreachable.
pub(super) fn broker_answered(down: &mut bool) {
    if *down {
        info!("broker reachable again: consuming");
        *down = false;
    }
}

/// Errors librdkafka recovers from by itself (the broker restarts, a
/// connection drops): the source waits instead of failing the run.
pub(super) fn is_transient(e: &KafkaError) -> bool {
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
