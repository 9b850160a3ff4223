//! One driver for every source: it feeds the graph's three inputs from a
//! [`PartitionReader`] and advances each input to the time its reader can
//! vouch for. The Kafka source (`weir_connectors::kafka::Sources`) and the
//! in-memory reader of tests and benchmarks ([`MemoryReader`]) are readers;
//! a file reader would be another.
//!
//! ```text
//!  reader.read ─► Item::Reading / Registry / Control ─► InputHandle.send
//!  reader.input_time(role) ─► InputHandle.advance_to   (readings: reader.advanced(time))
//!  bounded: reader.finished(role) ─► close (the readings after the registry; reader.advanced(MAX))
//! ```
//!
//! The caller owns the loop around [`Driver::round`]: stepping the worker,
//! parking, what happens once an epoch is complete (the Kafka runner makes
//! its offsets durable; the harness collects).

use std::collections::BTreeMap;

use timely::dataflow::{InputHandleVec, Scope};

use crate::clock::PartitionClocks;
use crate::graph::Inputs;
use crate::records::{ControlRecord, RegistryRecord, SourceRecord, Time};

/// Which of weir's inputs a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sensor readings (`kafka.readings_topic`).
    Readings,
    /// The sensor registry (`kafka.registry_topic`).
    Registry,
    /// Alert silences and acknowledgements (`kafka.control_topic`).
    Control,
}

/// One record for one of the graph's inputs.
#[derive(Clone, Debug)]
pub enum Item {
    /// A raw reading (decoded and validated inside the graph).
    Reading(SourceRecord),
    /// A registry change.
    Registry(RegistryRecord),
    /// A silence or an acknowledgement.
    Control(ControlRecord),
}

/// The partitions one worker reads, whatever holds them.
pub trait PartitionReader {
    /// What a failed read is.
    type Error;

    /// Reads what is available now, each record (with its partition clock
    /// set) handed to `feed` in offset order per partition. Returns the
    /// records read (also those rejected while decoding).
    fn read<F: FnMut(Item)>(&mut self, feed: F) -> Result<usize, Self::Error>;

    /// Whether this worker reads any partition of `role`'s input (an input
    /// it does not read closes at once: it must not hold the frontier).
    fn owns(&self, role: Role) -> bool;

    /// The time `role`'s input may advance to: every record still to come
    /// from this worker's partitions is at or after it.
    fn input_time(&self, role: Role, tick_ms: u64) -> Option<Time>;

    /// Bounded runs: every partition of `role` has been read to its end.
    fn finished(&self, role: Role) -> bool;

    /// The readings input advanced to `time` (`Time::MAX` when it closed):
    /// what the records read so far are complete up to.
    fn advanced(&mut self, _time: Time) {}
}

/// The graph's input handles, fed from a reader.
#[derive(Default)]
pub struct Driver {
    readings: Option<InputHandleVec<Time, SourceRecord>>,
    registry: Option<InputHandleVec<Time, RegistryRecord>>,
    control: Option<InputHandleVec<Time, ControlRecord>>,
}

impl Driver {
    /// The graph's inputs in `scope`, fed by this driver.
    pub fn inputs<'s>(&mut self, scope: Scope<'s, Time>) -> Inputs<'s> {
        let mut readings = InputHandleVec::new();
        let mut registry = InputHandleVec::new();
        let mut control = InputHandleVec::new();
        let inputs = Inputs {
            readings: readings.to_stream(scope),
            registry: registry.to_stream(scope),
            control: control.to_stream(scope),
        };
        self.readings = Some(readings);
        self.registry = Some(registry);
        self.control = Some(control);
        inputs
    }

    /// Closes the inputs `reader` reads no partition of.
    pub fn start(&mut self, reader: &impl PartitionReader) {
        if !reader.owns(Role::Readings) {
            self.readings = None;
        }
        if !reader.owns(Role::Registry) {
            self.registry = None;
        }
        if !reader.owns(Role::Control) {
            self.control = None;
        }
    }

    /// Reads what `reader` has (each record shown to `observe` first) and
    /// advances every open input to its reader's time. Returns the records read.
    pub fn round<R: PartitionReader>(
        &mut self,
        reader: &mut R,
        tick_ms: u64,
        mut observe: impl FnMut(&Item),
    ) -> Result<usize, R::Error> {
        let Driver {
            readings,
            registry,
            control,
        } = self;
        // A record for a closed input cannot come: a closed input's
        // partitions are finished, or this worker reads none of them.
        let read = reader.read(|item| {
            observe(&item);
            match item {
                Item::Reading(record) => send(readings, record),
                Item::Registry(record) => send(registry, record),
                Item::Control(record) => send(control, record),
            }
        })?;
        advance(registry, reader.input_time(Role::Registry, tick_ms));
        advance(control, reader.input_time(Role::Control, tick_ms));
        if let Some(time) = advance(readings, reader.input_time(Role::Readings, tick_ms)) {
            reader.advanced(time);
        }
        Ok(read)
    }

    /// Bounded runs: closes each input whose partitions are all read (the
    /// readings only after the registry, which every reading is enriched
    /// by). Returns whether every input is closed.
    pub fn close_finished(&mut self, reader: &mut impl PartitionReader) -> bool {
        if self.registry.is_some() && reader.finished(Role::Registry) {
            self.registry = None;
        }
        if self.control.is_some() && reader.finished(Role::Control) {
            self.control = None;
        }
        if self.readings.is_some() && self.registry.is_none() && reader.finished(Role::Readings) {
            self.readings = None;
            reader.advanced(Time::MAX);
        }
        self.readings.is_none() && self.registry.is_none() && self.control.is_none()
    }

    /// The readings input's time, while it is open.
    pub fn readings_time(&self) -> Option<Time> {
        self.readings.as_ref().map(|handle| *handle.time())
    }
}

fn send<D: Clone + 'static>(handle: &mut Option<InputHandleVec<Time, D>>, record: D) {
    if let Some(handle) = handle {
        handle.send(record);
    }
}

/// Advances `handle` to `time` if that is later than where it is.
fn advance<D: Clone + 'static>(
    handle: &mut Option<InputHandleVec<Time, D>>,
    time: Option<Time>,
) -> Option<Time> {
    let (handle, time) = (handle.as_mut()?, time?);
    (time > *handle.time()).then(|| {
        handle.advance_to(time);
        time
    })
}

/// Records in memory, read like a worker's Kafka partitions: `batch`
/// records per partition per read, in offset order, each partition's clock
/// following its record times; the registry and control records (clocks
/// already set) all at the first read.
pub struct MemoryReader {
    registry: Vec<RegistryRecord>,
    control: Vec<ControlRecord>,
    partitions: BTreeMap<i32, std::vec::IntoIter<SourceRecord>>,
    clocks: PartitionClocks,
    batch: usize,
}

impl MemoryReader {
    /// A reader of `partitions` (each in offset order), the registry and
    /// the control records.
    pub fn new(
        partitions: BTreeMap<i32, Vec<SourceRecord>>,
        registry: Vec<RegistryRecord>,
        control: Vec<ControlRecord>,
        batch: usize,
    ) -> Self {
        MemoryReader {
            registry,
            control,
            clocks: PartitionClocks::new(partitions.keys().copied()),
            partitions: partitions
                .into_iter()
                .map(|(p, records)| (p, records.into_iter()))
                .collect(),
            batch: batch.max(1),
        }
    }
}

impl PartitionReader for MemoryReader {
    type Error = std::convert::Infallible;

    fn read<F: FnMut(Item)>(&mut self, mut feed: F) -> Result<usize, Self::Error> {
        let mut read = self.registry.len() + self.control.len();
        self.registry
            .drain(..)
            .for_each(|r| feed(Item::Registry(r)));
        self.control.drain(..).for_each(|r| feed(Item::Control(r)));
        for (partition, queue) in &mut self.partitions {
            let mut sent = 0;
            for mut record in queue.by_ref().take(self.batch) {
                record.origin.clock_ms =
                    self.clocks.observe(*partition, record.origin.record_ts_ms);
                feed(Item::Reading(record));
                sent += 1;
            }
            if sent < self.batch {
                self.clocks.finish(*partition);
            }
            read += sent;
        }
        Ok(read)
    }

    fn owns(&self, role: Role) -> bool {
        match role {
            Role::Readings => !self.partitions.is_empty(),
            Role::Registry | Role::Control => true,
        }
    }

    fn input_time(&self, role: Role, tick_ms: u64) -> Option<Time> {
        match role {
            Role::Readings => self.clocks.input_time(tick_ms),
            Role::Registry | Role::Control => None,
        }
    }

    fn finished(&self, role: Role) -> bool {
        match role {
            Role::Readings => self.clocks.all_finished(),
            Role::Registry => self.registry.is_empty(),
            Role::Control => self.control.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Origin;

    fn reading(partition: i32, offset: i64, ts: i64) -> SourceRecord {
        SourceRecord {
            origin: Origin {
                partition,
                offset,
                record_ts_ms: ts,
                clock_ms: 0,
            },
            key: b"s1".to_vec(),
            payload: Vec::new(),
            content_type: None,
            clock_skewed: false,
        }
    }

    #[test]
    fn the_memory_reader_reads_a_batch_per_partition_and_sets_clocks() {
        let partitions = BTreeMap::from([
            (
                0,
                vec![
                    reading(0, 0, 1_000),
                    reading(0, 1, 500),
                    reading(0, 2, 3_000),
                ],
            ),
            (1, vec![reading(1, 0, 2_000)]),
        ]);
        let mut reader = MemoryReader::new(partitions, Vec::new(), Vec::new(), 2);
        let mut seen = Vec::new();
        let read = reader
            .read(|item| {
                if let Item::Reading(r) = item {
                    seen.push((r.origin.partition, r.origin.offset, r.origin.clock_ms));
                }
            })
            .unwrap_or_default();
        assert_eq!(read, 3);
        // A clock never goes back (offset 1's earlier time keeps 1,000).
        assert_eq!(seen, vec![(0, 0, 1_000), (0, 1, 1_000), (1, 0, 2_000)]);
        // Partition 1 is finished; partition 0 holds the input at its clock.
        assert!(!reader.finished(Role::Readings));
        assert_eq!(reader.input_time(Role::Readings, 1), Some(1_000));
        assert_eq!(reader.read(|_| {}).unwrap_or_default(), 1);
        assert_eq!(reader.read(|_| {}).unwrap_or_default(), 0);
        assert!(reader.finished(Role::Readings));
    }
}
