//! Runs the graph in memory: records fed through timely input handles,
//! outputs collected per worker. Used by tests, the reference comparisons
//! and `weir bench dataflow`; the Kafka runner drives the same graph.
//!
//! Worker `w` of `n` reads the partitions `p` with `p % n == w`, in offset
//! order, through a [`MemoryReader`] and the one [`Driver`] the Kafka
//! runner uses too: the Kafka source, minus the broker.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::{ProbeHandle, Stream};

use crate::config::{AlertPolicy, DataflowConfig};
use crate::driver::{Driver, MemoryReader};
use crate::graph::{OutputVisitor, Outputs, Rules, build};
use crate::records::{
    ControlRecord, OutputRecord, OutputUpdates, RegistryRecord, SourceRecord, Time, Update,
    UpdatesVisitor,
};
use crate::state::Footprint;

/// Everything the graph emitted on one or all workers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Collected {
    /// The updates themselves (empty when only counted).
    pub outputs: OutputUpdates,
    /// Updates seen on all outputs (also when not collected).
    pub updates: u64,
}

impl std::ops::Deref for Collected {
    type Target = OutputUpdates;

    fn deref(&self) -> &OutputUpdates {
        &self.outputs
    }
}

impl std::ops::DerefMut for Collected {
    fn deref_mut(&mut self) -> &mut OutputUpdates {
        &mut self.outputs
    }
}

impl Collected {
    /// Appends another worker's outputs.
    pub fn merge(&mut self, other: Collected) {
        self.outputs.merge(other.outputs);
        self.updates += other.updates;
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
        struct Sums(BTreeMap<&'static str, BTreeMap<String, isize>>);
        impl UpdatesVisitor for Sums {
            fn visit<D: OutputRecord>(&mut self, updates: &[Update<D>]) {
                self.0.insert(D::KIND.name(), sum(updates));
            }
        }
        let mut sums = Sums(BTreeMap::new());
        self.outputs.visit(&mut sums);
        sums.0
    }
}

/// Attaches collection (or, with `keep == false`, counting) of every output
/// to `sink`, returning a probe on them all.
pub fn collect_outputs(
    outputs: Outputs<'_>,
    sink: Rc<RefCell<Collected>>,
    keep: bool,
) -> ProbeHandle<Time> {
    struct Collect {
        sink: Rc<RefCell<Collected>>,
        keep: bool,
        probe: ProbeHandle<Time>,
    }
    impl<'s> OutputVisitor<'s> for Collect {
        fn visit<D: OutputRecord>(&mut self, stream: &Stream<'s, Time, Vec<Update<D>>>) {
            let (sink, keep) = (Rc::clone(&self.sink), self.keep);
            stream
                .clone()
                .inspect_core(move |event| {
                    if let Ok((_, updates)) = event {
                        let mut sink = sink.borrow_mut();
                        sink.updates += updates.len() as u64;
                        if keep {
                            D::updates(&mut sink.outputs).extend(updates.iter().cloned());
                        }
                    }
                })
                .probe_with(&self.probe);
        }
    }
    let mut collect = Collect {
        sink,
        keep,
        probe: ProbeHandle::new(),
    };
    outputs.visit(&mut collect);
    collect.probe
}

/// Called by each worker after each round of input: (worker, input time, state size).
pub type Observer = Arc<dyn Fn(usize, Time, Footprint) + Send + Sync>;

/// How an in-memory run feeds and collects.
#[derive(Clone)]
pub struct Options {
    /// Records per partition per round.
    pub batch: usize,
    /// Keep every output update (tests), or only count them (benchmarks).
    pub keep: bool,
    /// Watches progress and state size.
    pub observe: Option<Observer>,
    /// The alert rules.
    pub alerts: AlertPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 1,
            keep: true,
            observe: None,
            alerts: AlertPolicy::default(),
        }
    }
}

/// The input of an in-memory run.
#[derive(Clone, Debug, Default)]
pub struct Input {
    /// Raw readings; `origin.partition`, `offset` and `record_ts_ms` must be
    /// set (clocks are computed here), in offset order per partition.
    pub readings: Vec<SourceRecord>,
    /// Registry records with `clock_ms` set, fed before any reading.
    pub registry: Vec<RegistryRecord>,
    /// Alert control records with `origin.clock_ms` set, fed before any reading.
    pub control: Vec<ControlRecord>,
    /// Partitions of the readings topic (also those with no records).
    pub partitions: i32,
}

/// Runs the graph over `input` with the given timely configuration: each
/// worker reads its partitions through a [`MemoryReader`], driven like the
/// Kafka source (the same [`Driver`]).
pub fn run(
    timely: timely::Config,
    config: DataflowConfig,
    input: Input,
    options: Options,
) -> Result<Collected, String> {
    // Each partition's records, moved (not cloned) to the worker that owns it.
    let mut by_partition: Vec<Vec<SourceRecord>> =
        (0..input.partitions.max(0)).map(|_| Vec::new()).collect();
    for record in input.readings {
        if let Some(queue) = usize::try_from(record.origin.partition)
            .ok()
            .and_then(|p| by_partition.get_mut(p))
        {
            queue.push(record);
        }
    }
    let queues: Arc<Vec<Mutex<Vec<SourceRecord>>>> =
        Arc::new(by_partition.into_iter().map(Mutex::new).collect());
    let registry = Arc::new(input.registry);
    let control = Arc::new(input.control);
    let partitions = input.partitions;
    let rules = Rules {
        dataflow: config.clone(),
        alerts: options.alerts.clone(),
        seed: Arc::default(),
        counters: Arc::default(),
    };
    let guards = timely::execute(timely, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let sink = Rc::new(RefCell::new(Collected::default()));
        let mut driver = Driver::default();
        let (probe, gauge) = worker.dataflow::<Time, _, _>(|scope| {
            let outputs = build(driver.inputs(scope), &rules);
            let gauge = outputs.gauge.clone();
            (
                collect_outputs(outputs, Rc::clone(&sink), options.keep),
                gauge,
            )
        });
        // Worker 0 feeds the registry and control records, whole, first.
        let (registry, control) = match index {
            0 => (registry.to_vec(), control.to_vec()),
            _ => Default::default(),
        };
        let mine: BTreeMap<i32, Vec<SourceRecord>> = (0..partitions)
            .filter(|p| usize::try_from(*p).is_ok_and(|p| p % peers == index))
            .map(|p| {
                let taken = usize::try_from(p)
                    .ok()
                    .and_then(|i| queues.get(i))
                    .and_then(|q| q.lock().ok().map(|mut q| std::mem::take(&mut *q)))
                    .unwrap_or_default();
                (p, taken)
            })
            .collect();
        let mut reader = MemoryReader::new(mine, registry, control, options.batch);
        driver.start(&reader);
        loop {
            let Ok(_) = driver.round(&mut reader, config.tick_ms, |_| {});
            let time = driver.readings_time();
            if driver.close_finished(&mut reader) {
                break;
            }
            worker.step();
            if let (Some(observe), Some(time)) = (&options.observe, time) {
                observe(index, time, gauge.get());
            }
        }
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
