//! Wires one timely worker and drives it: build the source (the Kafka
//! `Sources`, a partition reader), resume from the store, build the graph,
//! attach the sinks, the publisher and the output tap, then drive the
//! inputs until the sources end (bounded) or the run stops. No pipeline
//! semantics here: the graph is `weir_dataflow::graph`, the driver
//! `weir_dataflow::driver`, each source and sink beside its connector.
//!
//! ```text
//!  Sources (one consumer; readings, registry p % peers == worker; control)
//!     └ Driver ─► graph ─► file::attach (counts, JSON lines)
//!                      ├► postgres::store (data; alerts) ─► offsets durable ─► broker group offsets
//!                      └► publish (the server's hot tier)
//! ```

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::Probe;
use tracing::info;
use weir_connectors::file::{OutputTap, attach};
use weir_connectors::kafka::{Assignment, Bound, Gap, SourceRules, Sources};
use weir_connectors::postgres::{PgSink, Resume, StoreHandles, Writer, resume, store_all};
use weir_dataflow::DataflowConfig;
use weir_dataflow::driver::{Driver, Item};
use weir_dataflow::graph::{Rules, build};
use weir_dataflow::records::{OutputKind, Time};

use weir_dataflow::clock::now_ms;

use crate::config::Config;

/// How `weir run` runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Follow the topics, or stop at the end offsets seen at start.
    pub bound: Bound,
    /// Write every output update as JSON lines, one file per worker.
    pub output_dir: Option<PathBuf>,
    /// Seconds between progress lines.
    pub report_secs: u64,
    /// Stop after this long (live runs).
    pub duration: Option<Duration>,
    /// Write outputs to PostgreSQL (and resume from its durable offsets).
    pub store: bool,
    /// Where live changes go (the server's hot tier), on the process hosting it.
    pub publisher: Option<weir_server::Publisher>,
    /// Processes in the cluster: with more than one, published changes are
    /// exchanged to worker 0 (the server runs in process 0).
    pub processes: usize,
    /// Counters exported at `/metrics`.
    pub metrics: std::sync::Arc<weir_server::Metrics>,
}

/// What one worker did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerSummary {
    /// Global worker index.
    pub worker: usize,
    /// Raw readings read.
    pub records: u64,
    /// Registry records read.
    pub registry: u64,
    /// Registry records that could not be decoded.
    pub registry_rejected: u64,
    /// Updates emitted per output.
    pub updates: weir_connectors::file::Counts,
    /// Offset gaps seen (broker faults).
    pub gaps: u64,
    /// Dead letters by reason.
    pub dead_letter_reasons: std::collections::BTreeMap<String, u64>,
    /// The last epoch whose outputs were complete, with the next offsets it covers.
    pub completed_offsets: Option<(Time, std::collections::BTreeMap<i32, i64>)>,
    /// Seconds from the first record read to the end of the run.
    pub busy_secs: f64,
}

/// How often worker 0 creates upcoming daily partitions and drops expired ones.
const UPKEEP_EVERY: Duration = Duration::from_secs(3_600);

/// Gaps found while reading (`kafka.on_gap = "record"`): rows in
/// `source_gaps` (queued on the writer, before the offsets that pass over
/// them), and the metric.
fn record_gaps(
    writer: &Rc<RefCell<Option<Writer>>>,
    metrics: &weir_server::Metrics,
    gaps: Vec<Gap>,
) -> anyhow::Result<()> {
    metrics
        .source_gaps
        .fetch_add(gaps.len() as u64, Ordering::Relaxed);
    if let Some(writer) = writer.borrow().as_ref() {
        writer.gaps(gaps).context("recording gaps")?;
    }
    Ok(())
}

/// Offsets of `time` are durable in PostgreSQL (or there is no store): the
/// broker's group offsets follow them, for lag monitoring only.
fn offsets_durable(
    source: &Sources,
    summary: &mut WorkerSummary,
    (time, checkpoint): (Time, &weir_connectors::kafka::Checkpoint),
    metrics: &weir_server::Metrics,
) {
    metrics.durable_ms.store(now_ms(), Ordering::Relaxed);
    source.commit_group(checkpoint);
    summary.completed_offsets = Some((
        time,
        checkpoint
            .iter()
            .map(|(p, (next, _))| (*p, *next))
            .collect(),
    ));
}

/// The checkpoints `writer` has committed since the last look: durable.
fn drain_committed(
    writer: &Writer,
    source: &Sources,
    summary: &mut WorkerSummary,
    metrics: &weir_server::Metrics,
) {
    for (time, checkpoint) in writer.offsets_committed() {
        offsets_durable(source, summary, (time, &checkpoint), metrics);
    }
}

/// Runs one timely worker until the sources end (bounded) or `stop` is set.
pub fn run_worker(
    worker: &mut timely::worker::Worker,
    config: &Config,
    options: &RunOptions,
    stop: &AtomicBool,
) -> anyhow::Result<WorkerSummary> {
    let index = worker.index();
    let peers = worker.peers();
    let kafka = &config.kafka;
    let dataflow: &DataflowConfig = &config.dataflow;
    let assignment = Assignment::of_worker(kafka, index, peers)?;

    let tap = OutputTap::new(options.output_dir.as_deref(), index)?;
    // The store, and where to resume from what it holds.
    let mut pg = match options.store {
        true => {
            let mut sink = PgSink::open(&config.postgres, &kafka.readings_topic)?;
            sink.set_quarantine_counter(std::sync::Arc::clone(&options.metrics.store_quarantined));
            Some(sink)
        }
        false => None,
    };
    // Alert events commit on a connection of their own (see `StorePart`).
    let mut alert_pg = match &pg {
        Some(pg) => {
            let mut sink = pg.sibling()?;
            sink.set_channels(weir_connectors::delivery::registry::channels(
                &config.delivery,
            ));
            Some(sink)
        }
        None => None,
    };
    let rewind = dataflow.rewind_ms();
    let Resume {
        recovery,
        seed,
        gaps,
    } = match pg.as_mut() {
        Some(pg) => resume(
            pg,
            kafka,
            (&assignment.readings, &assignment.all_readings),
            (rewind, dataflow.future_after_ms),
            &config.alerts,
        )?,
        None => Resume::default(),
    };
    options
        .metrics
        .source_gaps
        .fetch_add(gaps as u64, Ordering::Relaxed);
    if !recovery.durable_offsets.is_empty() {
        info!(worker = index, durable = ?recovery.durable_offsets, start = ?recovery.start_offsets,
              suppress_before_ms = ?recovery.suppress_before_ms, "resuming from postgres");
    }
    let rules = Rules {
        dataflow: dataflow.clone(),
        alerts: config.alerts.clone(),
        seed: std::sync::Arc::new(seed),
        counters: std::sync::Arc::clone(&options.metrics.graph),
    };
    // The sinks move to their writer threads when the dataflow is built.
    let store = StoreHandles::default();
    let writer = &store.data;

    let mut driver = Driver::default();
    // The readings inputs' frontier over every worker: what alignment
    // measures partitions against.
    let input_probe: ProbeHandle<Time> = ProbeHandle::new();
    let (probe, stored, gauge) = worker.dataflow::<Time, _, _>(|scope| -> anyhow::Result<_> {
        let inputs = driver.inputs(scope);
        inputs.readings.clone().probe_with(&input_probe);
        let outputs = build(inputs, &rules);
        let cluster = options.processes > 1;
        let publisher = options.publisher.clone().filter(|_| !cluster || index == 0);
        if publisher.is_some() || cluster {
            crate::publish::publish(&outputs, publisher, cluster);
        }
        let stored = match (pg.take(), alert_pg.take()) {
            (Some(data), Some(alerts)) => {
                let metrics = std::sync::Arc::clone(&options.metrics);
                let committed = move |rows: usize, took: Duration| {
                    metrics.sink_seconds.observe(took.as_secs_f64());
                    metrics
                        .readings_stored
                        .fetch_add(rows as u64, Ordering::Relaxed);
                };
                Some(store_all(
                    &outputs,
                    (data, alerts),
                    &store,
                    &config.postgres,
                    committed,
                )?)
            }
            _ => None,
        };
        let gauge = outputs.gauge.clone();
        let metrics = std::sync::Arc::clone(&options.metrics);
        let probe = attach(outputs, &tap, move |reason| metrics.dead_letter(reason));
        Ok((probe, stored, gauge))
    })?;
    // Offsets become durable only for epochs every worker's sink has committed.
    let durable = |probe: &ProbeHandle<Time>, stored: &Option<ProbeHandle<Time>>| {
        stored
            .as_ref()
            .unwrap_or(probe)
            .with_frontier(|f| f.first().copied())
    };

    let mut sources = assignment.open(
        kafka,
        &recovery.start_offsets,
        SourceRules {
            bound: options.bound,
            idle_grace_ms: dataflow.idle_grace_ms,
            max_clock_skew_ms: dataflow.max_clock_skew_ms,
            align_lead_ms: kafka.align_lead_ms,
            align_max_records: kafka.align_max_records,
        },
    )?;
    // Records arriving in an empty queue wake the worker: it parks while idle.
    let thread = std::thread::current();
    sources.set_wakeup(move || thread.unpark());
    // A worker that owns no partition of a topic (more workers than
    // partitions) closes that input at once: it must not hold the frontier.
    driver.start(&sources);
    // Durable epochs' offsets go to PostgreSQL (on the writer thread, after
    // the data); once committed there, to the broker's group offsets.
    let commit = |done: Option<(Time, weir_connectors::kafka::Checkpoint)>,
                  sources: &Sources,
                  summary: &mut WorkerSummary|
     -> anyhow::Result<()> {
        let Some((time, checkpoint)) = done else {
            return Ok(());
        };
        match writer.borrow().as_ref() {
            Some(writer) => {
                let rows: Vec<(i32, i64, i64)> = checkpoint
                    .iter()
                    .map(|(p, (next, clock))| (*p, *next, *clock))
                    .collect();
                writer
                    .offsets(rows, 2 * rewind, (time, checkpoint))
                    .context("committing offsets")?;
            }
            None => offsets_durable(sources, summary, (time, &checkpoint), &options.metrics),
        }
        Ok(())
    };
    let mut summary = WorkerSummary {
        worker: index,
        ..WorkerSummary::default()
    };
    let started = Instant::now();
    // For `/health`: when this process started (its first worker), when it
    // last read a record, when offsets last became durable.
    let _ = options.metrics.started_ms.compare_exchange(
        0,
        now_ms(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut last_report = Instant::now();
    let mut last_gauge = Instant::now();
    // Partition upkeep ran at start (migrate); worker 0 repeats it hourly.
    let mut last_upkeep = Instant::now();
    let mut first_record: Option<Instant> = None;
    let mut last_record = Instant::now();
    let mut asleep = false;
    // While records are recent, the worker ticks so idle partitions' clocks
    // (wall time − grace) let their epochs complete; then it parks until a
    // record arrives (or `idle_park`: silences end, upkeep runs).
    let busy_for = Duration::from_millis(dataflow.idle_grace_ms + 4 * dataflow.tick_ms + 500);
    let tick = Duration::from_millis(dataflow.tick_ms.max(1));
    let idle_park = Duration::from_millis(kafka.idle_park_ms.max(dataflow.tick_ms));
    loop {
        let delay = &options.metrics.source_delay_seconds;
        let mut readings_read = 0u64;
        let read = driver.round(&mut sources, dataflow.tick_ms, |item| match item {
            Item::Reading(record) => {
                // How long the broker took to hand the record over (record
                // timestamp to read): the broker's share of end-to-end latency.
                delay.observe((now_ms() - record.origin.record_ts_ms) as f64 / 1e3);
                readings_read += 1;
            }
            Item::Registry(record) => {
                summary.registry += 1;
                if let Some(writer) = writer.borrow().as_ref()
                    && let Err(e) = writer.sensor(record.clone())
                {
                    *store.failure.borrow_mut() = Some(e);
                }
                if let Some(p) = &options.publisher {
                    p.publish(vec![weir_server::Event::Registry(record.clone())]);
                }
            }
            Item::Control(_) => {}
        })?;
        summary.records += readings_read;
        options
            .metrics
            .records_read
            .fetch_add(readings_read, Ordering::Relaxed);
        let rejected = sources.take_registry_rejected();
        summary.registry += rejected;
        summary.registry_rejected += rejected;
        options
            .metrics
            .registry_rejected
            .fetch_add(rejected, Ordering::Relaxed);
        if read > 0 {
            options.metrics.read_ms.store(now_ms(), Ordering::Relaxed);
            last_record = Instant::now();
            if readings_read > 0 && first_record.is_none() {
                first_record = Some(Instant::now());
            }
        }
        let clamped = sources.take_clamped();
        if clamped > 0 {
            options
                .metrics
                .clock_clamped
                .fetch_add(clamped, Ordering::Relaxed);
        }
        let gaps = sources.take_gaps();
        if !gaps.is_empty() {
            record_gaps(writer, &options.metrics, gaps)?;
        }
        // Bounded: closing an input releases its frontier, so the graph can finish.
        if options.bound == Bound::AtEnd
            && driver.close_finished(&mut sources)
            && probe.done()
            && stored.as_ref().is_none_or(|p| p.done())
        {
            commit(sources.completed(None), &sources, &mut summary)?;
            break;
        }
        if stop.load(Ordering::Relaxed) || options.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        let park = if read > 0 {
            Duration::ZERO
        } else if last_record.elapsed() < busy_for {
            tick
        } else {
            idle_park
        };
        worker.step_or_park(Some(park));
        if let Some(e) = store.take_failure() {
            return Err(e).context("storing outputs");
        }
        let durable_frontier = durable(&probe, &stored);
        commit(sources.completed(durable_frontier), &sources, &mut summary)?;
        // Watermark alignment: partitions far ahead of every worker's least
        // partition wait for it (measured against the input frontier, not
        // what is durable: outputs of an alert or a zone can wait for the
        // least partition to pass a later clock, so it must always read).
        let paused = sources.align(input_probe.with_frontier(|f| f.first().copied()))?;
        if sources.asleep() != asleep {
            asleep = sources.asleep();
            let change = if asleep { 1 } else { -1 };
            options
                .metrics
                .sources_asleep
                .fetch_add(change, Ordering::Relaxed);
        }
        options
            .metrics
            .partitions_paused
            .store(paused as i64, Ordering::Relaxed);
        if let Some(writer) = writer.borrow().as_ref() {
            drain_committed(writer, &sources, &mut summary, &options.metrics);
            if index == 0 && last_upkeep.elapsed() >= UPKEEP_EVERY {
                last_upkeep = Instant::now();
                writer.maintain().context("partition upkeep")?;
            }
        }
        if index == 0
            && let Some(frontier) = probe.with_frontier(|f| f.first().copied())
            && frontier > 0
        {
            let lag = now_ms().saturating_sub(i64::try_from(frontier).unwrap_or(i64::MAX));
            options.metrics.epoch_lag_ms.store(lag, Ordering::Relaxed);
        }
        if last_gauge.elapsed() >= Duration::from_secs(1) {
            last_gauge = Instant::now();
            options.metrics.set_state(index, gauge.get());
        }
        if last_report.elapsed() >= Duration::from_secs(options.report_secs.max(1)) {
            last_report = Instant::now();
            let tap = tap.borrow();
            let count = |kind| tap.counts().get(&kind).copied().unwrap_or(0);
            info!(worker = index, records = summary.records, anomalies = count(OutputKind::Anomalies),
                  incidents = count(OutputKind::Incidents), dead_letters = count(OutputKind::DeadLetters), paused,
                  frontier = ?probe.with_frontier(|f| f.first().copied()), "progress");
        }
    }
    // What is queued for PostgreSQL is written before the run ends.
    if let Some(mut alert_writer) = store.alerts.borrow_mut().take() {
        alert_writer.finish().context("storing alert events")?;
    }
    if let Some(mut writer) = writer.borrow_mut().take() {
        writer.finish().context("storing outputs")?;
        drain_committed(&writer, &sources, &mut summary, &options.metrics);
    }
    summary.gaps = sources.gaps();
    summary.busy_secs = first_record.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let tapped = tap.borrow_mut().finish().context("writing outputs")?;
    summary.updates = tapped.counts;
    summary.dead_letter_reasons = tapped.reasons;
    Ok(summary)
}
