//! The Kafka source: one worker's partitions of the readings, registry and
//! alert-control topics, read by explicit assignment through one consumer,
//! with the record-time clocks that drive timely progress.
//!
//! ```text
//!  broker ─► one BaseConsumer per worker (one fetch for every partition it owns)
//!              └ a queue per partition ─► RawRecord (+ partition clock, clamped record time)
//!                  │ at its end (EOF) ─► clock advances to wall time − grace (idle rule)
//!                  │ ahead of the least partition by align_lead_ms and align_max_records ─► held back
//!                  │   (its queue left unread until the least partition catches up)
//!                  └ bounded run: a partition is finished at the end offset seen at start
//! ```
//!
//! One consumer for the three topics (rather than one each) means one fetch
//! request per `fetch.wait.max.ms` for all of them: on Tansu, which answers
//! a waiting fetch only when the wait is over, the request rate is what an
//! idle pipeline costs the broker. Each partition gets a queue of its own,
//! so the end-of-partition event names its topic; a queue that fills wakes
//! the worker (`set_wakeup`), so it can park while nothing arrives.
//!
//! Offsets are checked for continuity: on a non-compacted topic a record
//! whose offset jumps past the next expected one is a gap (Tansu's memory
//! engine does this; so does retention deleting records weir had not read
//! yet). A gap fails the run, or with `kafka.on_gap = "record"` is handed to
//! the store as a `source_gaps` row and counted; never passed over silently.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};
use weir_dataflow::clock::PartitionClocks;
use weir_dataflow::driver::Role;
use weir_dataflow::records::Time;

use super::context::{BaseConsumer, SourceContext};

use super::KafkaConfig;
use super::gaps::Gap;
use super::metadata::require_topic;
use super::partitions::{
    Bound, Checkpoint, RawRecord, Reader, SourceRules, TopicState, broker_answered, is_transient,
};
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};
use weir_dataflow::clock::now_ms;

/// One topic to read: its role, name, the partitions this worker owns, and
/// where to start each (the beginning where absent).
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    /// Which input it is.
    pub role: Role,
    /// The topic.
    pub topic: &'a str,
    /// The partitions this worker reads.
    pub partitions: &'a [i32],
    /// Start offsets.
    pub start: &'a BTreeMap<i32, i64>,
}

/// A worker's sources: every partition it owns of the three input topics.
pub struct Sources {
    pub(super) consumer: Arc<BaseConsumer>,
    pub(super) queues: Vec<(usize, i32, PartitionQueue<SourceContext>)>,
    pub(super) reader: Reader,
    /// (input time, (next offset, clock) per partition) of the readings at each input advance.
    pub(super) epochs: VecDeque<(Time, Checkpoint)>,
    /// Registry records that could not be decoded, since the last `take_registry_rejected`.
    pub(super) registry_rejected: u64,
    /// Where the next poll starts among the queues (round robin).
    pub(super) next_queue: usize,
    /// A consumer with a long fetch wait that watches every partition while
    /// this worker is idle (see [`Sources::poll`]); live runs only.
    pub(super) watcher: Option<BaseConsumer>,
    /// Whether every partition is handed to the watcher.
    pub(super) asleep: bool,
    /// When the last record (of any topic) was read.
    pub(super) last_record: Instant,
    pub(super) idle_after: Duration,
    /// How far behind wall time idle partitions' clocks stay while asleep:
    /// the grace plus the watcher's fetch wait (what it can vouch for).
    pub(super) asleep_lag_ms: i64,
}

impl Sources {
    /// The partition ids of `topic`.
    pub fn partitions(kafka: &KafkaConfig, topic: &str) -> Result<Vec<i32>, ConnectorError> {
        let consumer = consumer(kafka)?;
        require_topic(
            consumer.client(),
            topic,
            Duration::from_millis(kafka.request_timeout_ms),
        )
    }

    /// The (log start, log end) offsets of `partitions` of `topic`.
    pub fn watermarks(
        kafka: &KafkaConfig,
        topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, (i64, i64)>, ConnectorError> {
        let consumer = consumer(kafka)?;
        let timeout = Duration::from_millis(kafka.request_timeout_ms);
        partitions
            .iter()
            .map(|&p| {
                consumer
                    .fetch_watermarks(topic, p, timeout)
                    .map(|w| (p, w))
                    .map_err(|e| ConnectorError::kafka(format!("watermarks of `{topic}`/{p}"), e))
            })
            .collect()
    }

    /// Opens every topic of `specs` on one consumer.
    pub fn open(
        kafka: &KafkaConfig,
        specs: &[Spec<'_>],
        rules: SourceRules,
    ) -> Result<Self, ConnectorError> {
        let consumer = Arc::new(consumer(kafka)?);
        let timeout = Duration::from_millis(kafka.request_timeout_ms);
        let mut assignment = TopicPartitionList::new();
        let mut topics = Vec::new();
        for spec in specs {
            let mut state = TopicState {
                role: spec.role,
                topic: spec.topic.to_string(),
                partitions: spec.partitions.to_vec(),
                clocks: PartitionClocks::new(spec.partitions.iter().copied()),
                next_offsets: BTreeMap::new(),
                ends: None,
                idle: BTreeSet::new(),
                paused: BTreeSet::new(),
                allowance: if spec.role == Role::Readings && rules.align_lead_ms > 0 {
                    spec.partitions
                        .iter()
                        .map(|&p| (p, rules.align_max_records))
                        .collect()
                } else {
                    BTreeMap::new()
                },
                read: BTreeMap::new(),
                marks: BTreeMap::new(),
                passed: BTreeMap::new(),
                gaps: 0,
                compacted: spec.role != Role::Readings,
            };
            let mut ends = BTreeMap::new();
            for &p in spec.partitions {
                let (low, high) =
                    consumer
                        .fetch_watermarks(spec.topic, p, timeout)
                        .map_err(|e| {
                            ConnectorError::kafka(format!("watermarks of `{}`/{p}", spec.topic), e)
                        })?;
                // The resume check (`resume_gaps`) ran before: a start below
                // the log start here is a rewind reaching further back than
                // the data kept, which only rebuilds less state.
                let from = spec.start.get(&p).copied().unwrap_or(low).clamp(low, high);
                assignment
                    .add_partition_offset(spec.topic, p, Offset::Offset(from))
                    .map_err(|e| {
                        ConnectorError::kafka(format!("assign `{}`/{p}", spec.topic), e)
                    })?;
                state.next_offsets.insert(p, from);
                ends.insert(p, high);
                if rules.bound == Bound::AtEnd && high <= from {
                    state.clocks.finish(p);
                }
            }
            if rules.bound == Bound::AtEnd {
                state.ends = Some(ends);
            }
            info!(topic = spec.topic, partitions = ?spec.partitions, bound = ?rules.bound, "partitions assigned");
            topics.push(state);
        }
        consumer
            .assign(&assignment)
            .map_err(|e| ConnectorError::kafka("assign the input topics", e))?;
        let mut queues = Vec::new();
        for (index, state) in topics.iter().enumerate() {
            for &p in &state.partitions {
                let queue = consumer
                    .split_partition_queue(&state.topic, p)
                    .ok_or_else(|| ConnectorError::InvalidSetting {
                        setting: "kafka",
                        reason: format!("no queue for `{}`/{p}", state.topic),
                    })?;
                queues.push((index, p, queue));
            }
        }
        let watcher = match (rules.bound, kafka.idle_after_ms) {
            (Bound::Live, after) if after > 0 && !queues.is_empty() => {
                let mut config = consumer_config(kafka);
                config.set("fetch.wait.max.ms", kafka.watch_wait_ms.to_string());
                config.set("enable.partition.eof", "false");
                Some(
                    config
                        .create_with_context::<_, BaseConsumer>(SourceContext)
                        .map_err(|e| ConnectorError::kafka("create the idle watcher", e))?,
                )
            }
            _ => None,
        };
        let asleep_lag_ms =
            i64::try_from(rules.idle_grace_ms + kafka.watch_wait_ms).unwrap_or(i64::MAX);
        Ok(Sources {
            consumer,
            queues,
            watcher,
            asleep: false,
            last_record: Instant::now(),
            idle_after: Duration::from_millis(kafka.idle_after_ms),
            asleep_lag_ms,
            reader: Reader {
                topics,
                rules,
                policy: kafka.on_gap,
                clamped: 0,
                clamp_logged: None,
                broker_down: false,
                found: Vec::new(),
            },
            epochs: VecDeque::new(),
            registry_rejected: 0,
            next_queue: 0,
        })
    }

    /// Calls `wake` whenever records (or events) arrive in an empty queue:
    /// the worker may park while nothing arrives.
    pub fn set_wakeup(&mut self, wake: impl Fn() + Send + Sync + Clone + 'static) {
        for (_, _, queue) in &mut self.queues {
            queue.set_nonempty_callback(wake.clone());
        }
        if let Some(watcher) = self.watcher.as_mut() {
            watcher.set_nonempty_callback(wake);
        }
    }

    /// Every partition has been at its end for `idle_after`: hand them all
    /// to the watcher (its long fetch wait costs the broker little, where
    /// the main consumer's short one would keep it busy for nothing).
    fn fall_asleep(&mut self) -> Result<(), ConnectorError> {
        let Some(watcher) = self.watcher.as_ref() else {
            return Ok(());
        };
        let mut all = TopicPartitionList::new();
        let mut watch = TopicPartitionList::new();
        for state in &self.reader.topics {
            for &p in &state.partitions {
                all.add_partition(&state.topic, p);
                let next = state.next_offsets.get(&p).copied().unwrap_or(0);
                watch
                    .add_partition_offset(&state.topic, p, Offset::Offset(next))
                    .map_err(|e| ConnectorError::kafka("watch partitions", e))?;
            }
        }
        self.consumer
            .pause(&all)
            .map_err(|e| ConnectorError::kafka("pause idle partitions", e))?;
        watcher
            .assign(&watch)
            .map_err(|e| ConnectorError::kafka("watch idle partitions", e))?;
        self.asleep = true;
        Ok(())
    }

    /// The watcher saw a record: every partition goes back to the main
    /// consumer. Their clocks stay where they are until it reports each
    /// partition again (a record, or its end), so the record that woke the
    /// worker keeps its own timestamp as its clock.
    fn wake_up(&mut self) -> Result<(), ConnectorError> {
        let mut resume = TopicPartitionList::new();
        for state in &mut self.reader.topics {
            for &p in &state.partitions {
                resume.add_partition(&state.topic, p);
            }
            state.idle.clear();
        }
        if let Some(watcher) = self.watcher.as_ref() {
            watcher
                .unassign()
                .map_err(|e| ConnectorError::kafka("stop watching", e))?;
        }
        self.consumer
            .resume(&resume)
            .map_err(|e| ConnectorError::kafka("resume partitions", e))?;
        self.asleep = false;
        self.last_record = Instant::now();
        Ok(())
    }

    pub(super) fn state(&self, role: Role) -> Option<&TopicState> {
        self.reader.topics.iter().find(|t| t.role == role)
    }

    /// Reads up to `max` records over every partition (waiting at most
    /// `wait` for the first), handing each to `sink` with its topic's role;
    /// returns how many were read.
    pub fn poll(
        &mut self,
        max: usize,
        wait: Duration,
        mut sink: impl FnMut(Role, RawRecord),
    ) -> Result<usize, ConnectorError> {
        // Events of the consumer itself (errors, commit results).
        let consumer = Arc::clone(&self.consumer);
        while let Some(event) = consumer.poll(Duration::ZERO) {
            match event {
                Ok(message) => {
                    // Not expected (every partition has its queue): take it all the same.
                    let index = self
                        .reader
                        .topics
                        .iter()
                        .position(|t| t.topic == message.topic());
                    if let Some(index) = index
                        && let Some(record) = self.reader.accept(index, &message)?
                    {
                        sink(self.reader.topics[index].role, record);
                    }
                }
                Err(e) => self.reader.consumer_error(e)?,
            }
        }
        let mut read = 0;
        let started = Instant::now();
        let queues = self.queues.len();
        loop {
            let mut any = false;
            for step in 0..queues {
                let at = (self.next_queue + step) % queues;
                let (index, partition) = (self.queues[at].0, self.queues[at].1);
                // A partition held back by alignment (its allowance is 0)
                // is left unread: its queue fills to librdkafka's bound,
                // which then stops fetching it (no pause, so nothing
                // fetched is thrown away).
                let mut allowed = self.reader.topics[index].allowance.get(&partition).copied();
                if allowed == Some(0) {
                    continue;
                }
                // Up to 500 from one partition before the next one's turn.
                let mut taken = 0;
                while taken < 500 && read < max && allowed != Some(0) {
                    let Some(result) = self.queues[at].2.poll(Duration::ZERO) else {
                        break;
                    };
                    match result {
                        Ok(message) => {
                            if let Some(record) = self.reader.accept(index, &message)? {
                                sink(self.reader.topics[index].role, record);
                                read += 1;
                                taken += 1;
                                allowed = allowed.map(|a| a.saturating_sub(1));
                            }
                        }
                        Err(KafkaError::PartitionEOF(_)) => {
                            broker_answered(&mut self.reader.broker_down);
                            let state = &mut self.reader.topics[index];
                            if state.ends.is_none() {
                                state.idle.insert(partition);
                            }
                        }
                        Err(e) => self
                            .reader
                            .partition_error(&consumer, index, partition, e)?,
                    }
                }
                if let Some(left) = allowed {
                    self.reader.topics[index].allowance.insert(partition, left);
                }
                any |= taken > 0;
                if read >= max {
                    self.next_queue = (at + 1) % queues;
                    break;
                }
            }
            if read >= max || any || started.elapsed() >= wait || queues == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1).min(wait));
        }
        if read > 0 {
            self.last_record = Instant::now();
        }
        // Asleep: anything the watcher hands over is a reason to wake.
        if self.asleep {
            let mut woken = false;
            if let Some(watcher) = self.watcher.as_ref() {
                while let Some(event) = watcher.poll(Duration::ZERO) {
                    match event {
                        Ok(_) => woken = true,
                        Err(e) if is_transient(&e) => {}
                        Err(e) => return Err(ConnectorError::kafka("watch idle partitions", e)),
                    }
                }
            }
            if woken {
                self.wake_up()?;
            }
        } else if self.watcher.is_some()
            && read == 0
            && self.last_record.elapsed() >= self.idle_after
            && self
                .reader
                .topics
                .iter()
                .all(|t| t.paused.is_empty() && t.partitions.iter().all(|p| t.idle.contains(p)))
        {
            self.fall_asleep()?;
        }
        // librdkafka reports the end of a partition once; the partition
        // stays idle, and its clock follows wall time, until a record arrives.
        let lag = if self.asleep {
            self.asleep_lag_ms
        } else {
            i64::try_from(self.reader.rules.idle_grace_ms).unwrap_or(0)
        };
        let idle_clock = now_ms() - lag;
        for state in &mut self.reader.topics {
            for p in &state.idle {
                state.clocks.idle(*p, idle_clock);
            }
            if state.role == Role::Readings && read > 0 {
                for (p, count) in &state.read {
                    let Some(clock) = state.clocks.record_clock(*p) else {
                        continue;
                    };
                    let marks = state.marks.entry(*p).or_default();
                    if marks.back().is_none_or(|(_, c)| c != count) {
                        marks.push_back((clock, *count));
                    }
                }
            }
        }
        Ok(read)
    }
}

impl Sources {
    /// The readings offsets that are complete once the outputs' frontier
    /// reached `frontier` (`None`: the outputs are done): the latest
    /// checkpoint at or below it, dropping older ones. This is what a sink
    /// commits together with the data.
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

    /// Commits `checkpoint`'s readings offsets to the broker's group offsets,
    /// without waiting: they serve lag monitoring only (recovery reads
    /// PostgreSQL). A failure is logged, never fatal.
    pub fn commit_group(&self, checkpoint: &Checkpoint) {
        let Some(state) = self.state(Role::Readings) else {
            return;
        };
        let mut list = TopicPartitionList::new();
        for (p, (next, _)) in checkpoint {
            if let Err(e) = list.add_partition_offset(&state.topic, *p, Offset::Offset(*next)) {
                warn!(topic = %state.topic, partition = p, error = %e, "group offset not committed");
                return;
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            warn!(topic = %state.topic, error = %e, "group offsets not committed");
        }
    }

    /// Whether every partition is handed to the idle watcher.
    pub fn asleep(&self) -> bool {
        self.asleep
    }

    /// Offset gaps seen (broker faults, records deleted before they were read).
    pub fn gaps(&self) -> u64 {
        self.reader.topics.iter().map(|t| t.gaps).sum()
    }

    /// Records whose timestamp was clamped since the last call.
    pub fn take_clamped(&mut self) -> u64 {
        std::mem::take(&mut self.reader.clamped)
    }

    /// Gaps found since the last call (with `on_gap = "record"`).
    pub fn take_gaps(&mut self) -> Vec<Gap> {
        std::mem::take(&mut self.reader.found)
    }
}

fn consumer(kafka: &KafkaConfig) -> Result<BaseConsumer, ConnectorError> {
    check_reachable(
        KAFKA,
        &kafka.brokers,
        Duration::from_millis(kafka.connect_timeout_ms),
    )?;
    consumer_config(kafka)
        .create_with_context(SourceContext)
        .map_err(|e| ConnectorError::kafka("create consumer", e))
}

fn consumer_config(kafka: &KafkaConfig) -> rdkafka::ClientConfig {
    let mut config = kafka.client_config();
    config
        // Required by librdkafka even without group membership (never
        // rebalanced: partitions are assigned); durable offsets are committed
        // under it for lag monitoring.
        .set("group.id", &kafka.group_id)
        // Offsets are weir's to record with the data, not the broker's.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // An offset no longer in the log is a gap to report, never a silent
        // jump to the end (librdkafka's default).
        .set("auto.offset.reset", "error")
        // Tansu does not answer a waiting fetch early when data arrives: the
        // wait is both the idle request rate and the latency it adds.
        .set("fetch.wait.max.ms", kafka.fetch_wait_max_ms.to_string())
        // Tansu fills the first partition of a fetch up to this (see
        // `KafkaConfig::fetch_max_bytes`); librdkafka refuses a value below
        // `message.max.bytes`, which a consumer does not otherwise use.
        .set("fetch.max.bytes", kafka.fetch_max_bytes.to_string())
        .set(
            "message.max.bytes",
            kafka.fetch_max_bytes.clamp(1_000, 1_000_000).to_string(),
        )
        // Prefetch is bounded: librdkafka stops fetching a partition whose
        // queue holds this many records or bytes, which is how a partition
        // held back by alignment (its queue left unread) stops costing
        // memory or broker work.
        .set("queued.max.messages.kbytes", "4096")
        .set("queued.min.messages", "10000")
        // End-of-partition events drive the idle rule of the clock.
        .set("enable.partition.eof", "true");
    config
}
