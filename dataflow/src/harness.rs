//! Runs the graph in memory: records fed through timely input handles,
//! outputs collected per worker. Used by tests, the reference comparisons
//! and `weir bench dataflow`; the Kafka runner drives the same graph.
//!
//! Worker `w` of `n` feeds the partitions `p` with `p % n == w`, in offset
//! order, advancing its input to the least partition clock after each batch:
//! exactly what the Kafka source does, minus the broker.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle, Stream};

use crate::clock::PartitionClocks;
use crate::config::DataflowConfig;
use crate::graph::{Outputs, build};
use crate::records::{
    Anomaly, DeadLetter, LatestState, RegistryRecord, SourceRecord, StoredReading, Time, Update,
    WindowAggregate, ZoneIncident,
};

/// Everything the graph emitted on one or all workers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Collected {
    /// Reading updates.
    pub readings: Vec<Update<StoredReading>>,
    /// Window updates.
    pub windows: Vec<Update<WindowAggregate>>,
    /// Latest-state updates.
    pub latest: Vec<Update<LatestState>>,
    /// Anomaly updates.
    pub anomalies: Vec<Update<Anomaly>>,
    /// Incident updates.
    pub incidents: Vec<Update<ZoneIncident>>,
    /// Dead-letter updates.
    pub dead_letters: Vec<Update<DeadLetter>>,
}

impl Collected {
    /// Appends another worker's outputs.
    pub fn merge(&mut self, other: Collected) {
        self.readings.extend(other.readings);
        self.windows.extend(other.windows);
        self.latest.extend(other.latest);
        self.anomalies.extend(other.anomalies);
        self.incidents.extend(other.incidents);
        self.dead_letters.extend(other.dead_letters);
    }

    /// The accumulated result of each output, independent of timing: each
    /// record (as canonical JSON) with its summed diff, zero sums dropped.
    pub fn consolidated(&self) -> BTreeMap<&'static str, BTreeMap<String, isize>> {
        fn sum<D: Serialize>(updates: &[Update<D>]) -> BTreeMap<String, isize> {
            let mut out: BTreeMap<String, isize> = BTreeMap::new();
            for (d, _, diff) in updates {
                let key = serde_json::to_string(d).unwrap_or_default();
                *out.entry(key).or_default() += diff;
            }
            out.retain(|_, d| *d != 0);
            out
        }
        BTreeMap::from([
            ("readings", sum(&self.readings)),
            ("windows", sum(&self.windows)),
            ("latest", sum(&self.latest)),
            ("anomalies", sum(&self.anomalies)),
            ("incidents", sum(&self.incidents)),
            ("dead_letters", sum(&self.dead_letters)),
        ])
    }
}

/// Attaches collection of every output to `sink`, returning a probe on them all.
pub fn collect_outputs(outputs: Outputs<'_>, sink: Rc<RefCell<Collected>>) -> ProbeHandle<Time> {
    fn tap<'s, D: Clone + 'static>(
        stream: Stream<'s, Time, Vec<Update<D>>>,
        sink: Rc<RefCell<Collected>>,
        pick: fn(&mut Collected) -> &mut Vec<Update<D>>,
        probe: &ProbeHandle<Time>,
    ) {
        stream
            .inspect(move |update| pick(&mut sink.borrow_mut()).push(update.clone()))
            .probe_with(probe);
    }
    let probe = ProbeHandle::new();
    tap(
        outputs.readings,
        Rc::clone(&sink),
        |c| &mut c.readings,
        &probe,
    );
    tap(
        outputs.windows,
        Rc::clone(&sink),
        |c| &mut c.windows,
        &probe,
    );
    tap(outputs.latest, Rc::clone(&sink), |c| &mut c.latest, &probe);
    tap(
        outputs.anomalies,
        Rc::clone(&sink),
        |c| &mut c.anomalies,
        &probe,
    );
    tap(
        outputs.incidents,
        Rc::clone(&sink),
        |c| &mut c.incidents,
        &probe,
    );
    tap(outputs.dead_letters, sink, |c| &mut c.dead_letters, &probe);
    probe
}

/// The input of an in-memory run.
#[derive(Clone, Debug, Default)]
pub struct Input {
    /// Raw readings; `origin.partition`, `offset` and `record_ts_ms` must be
    /// set (clocks are computed here), in offset order per partition.
    pub readings: Vec<SourceRecord>,
    /// Registry records with `clock_ms` set, fed before any reading.
    pub registry: Vec<RegistryRecord>,
    /// Partitions of the readings topic (also those with no records).
    pub partitions: i32,
}

/// Runs the graph over `input` with the given timely configuration.
pub fn run(
    timely: timely::Config,
    config: DataflowConfig,
    input: Arc<Input>,
    batch: usize,
) -> Result<Collected, String> {
    let guards = timely::execute(timely, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let sink = Rc::new(RefCell::new(Collected::default()));
        let mut readings_in: InputHandle<Time, _> = InputHandle::new();
        let mut registry_in: InputHandle<Time, _> = InputHandle::new();
        let probe = worker.dataflow::<Time, _, _>(|scope| {
            let readings = readings_in.to_stream(scope);
            let registry = registry_in.to_stream(scope);
            collect_outputs(build(readings, registry, &config), Rc::clone(&sink))
        });

        // The registry first, whole; its clocks decide what each reading sees.
        if index == 0 {
            for record in &input.registry {
                registry_in.send(record.clone());
            }
        }
        registry_in.close();

        let owned: Vec<i32> = (0..input.partitions)
            .filter(|p| usize::try_from(*p).is_ok_and(|p| p % peers == index))
            .collect();
        let mut queues: BTreeMap<i32, std::collections::VecDeque<&SourceRecord>> =
            owned.iter().map(|p| (*p, Default::default())).collect();
        for record in &input.readings {
            if let Some(queue) = queues.get_mut(&record.origin.partition) {
                queue.push_back(record);
            }
        }
        let mut clocks = PartitionClocks::new(owned.iter().copied());
        loop {
            for (partition, queue) in &mut queues {
                if queue.is_empty() {
                    clocks.finish(*partition);
                    continue;
                }
                for record in queue.drain(..batch.min(queue.len())) {
                    let mut record = record.clone();
                    record.origin.clock_ms = clocks.observe(*partition, record.origin.record_ts_ms);
                    readings_in.send(record);
                }
            }
            match clocks.input_time(config.tick_ms) {
                Some(time) if time > *readings_in.time() => readings_in.advance_to(time),
                _ => {}
            }
            if clocks.all_finished() {
                break;
            }
            worker.step();
        }
        drop(readings_in);
        while !probe.done() {
            worker.step();
        }
        std::mem::take(&mut *sink.borrow_mut())
    })?;
    let mut all = Collected::default();
    for result in guards.join() {
        all.merge(result?);
    }
    Ok(all)
}
