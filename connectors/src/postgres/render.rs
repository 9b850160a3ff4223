//! The PostgreSQL sink operator: every completed epoch of the graph's
//! outputs, in one transaction per batch of epochs, on a writer thread
//! ([`PgWriter`]); its output's frontier says which epochs are durable.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::{ProbeHandle, Stream};
use weir_dataflow::graph::{OutputVisitor, Outputs};
use weir_dataflow::operators::complete_times;
use weir_dataflow::records::{OutputKind, OutputRecord, Time, Update};

use super::{Batch, PgSink, PgWriter};
use crate::ConnectorError;
use crate::kafka::Checkpoint;

/// A worker's store, as the worker loop sees it: each part's writer
/// (there once the dataflow is built) and the first failure reported by an
/// operator.
#[derive(Clone, Default)]
pub struct StoreHandles {
    /// The data part's writer.
    pub data: Rc<RefCell<Option<Writer>>>,
    /// The alert events' writer.
    pub alerts: Rc<RefCell<Option<Writer>>>,
    /// What failed, if anything.
    pub failure: Rc<RefCell<Option<ConnectorError>>>,
}

impl StoreHandles {
    /// The first failure of an operator or of either writer thread.
    pub fn take_failure(&self) -> Option<ConnectorError> {
        let writer = |slot: &Rc<RefCell<Option<Writer>>>| {
            slot.borrow().as_ref().and_then(Writer::take_failure)
        };
        self.failure
            .borrow_mut()
            .take()
            .or_else(|| writer(&self.data))
            .or_else(|| writer(&self.alerts))
    }
}

/// Attaches both parts of the store to `outputs`: the data (batched up to
/// `postgres.batch_linger_ms`) and the alert events (at once), each on its
/// own connection and writer thread. Returns a probe whose frontier passes
/// an epoch once both parts have committed it (its offsets may then become
/// durable). `on_commit` sees every commit (rows, time it took).
pub fn store_all<'s>(
    outputs: &Outputs<'s>,
    (data, alerts): (PgSink, PgSink),
    handles: &StoreHandles,
    config: &super::PostgresConfig,
    on_commit: impl Fn(usize, Duration) + Clone + 'static,
) -> Result<ProbeHandle<Time>, ConnectorError> {
    let probe = ProbeHandle::new();
    let thread = |e: std::io::Error| ConnectorError::Io {
        context: "starting the postgres writer thread".into(),
        source: e,
    };
    let linger = Duration::from_millis(config.batch_linger_ms);
    store(
        outputs,
        StorePart::Data,
        data,
        &handles.data,
        &handles.failure,
        linger,
        config.batch_max_rows,
        on_commit.clone(),
    )
    .map_err(thread)?
    .probe_with(&probe);
    store(
        outputs,
        StorePart::Alerts,
        alerts,
        &handles.alerts,
        &handles.failure,
        Duration::ZERO,
        config.batch_max_rows,
        on_commit,
    )
    .map_err(thread)?
    .probe_with(&probe);
    Ok(probe)
}

/// What a store operator writes: the data (readings, views, anomalies,
/// dead letters) in lingering batches, or the alert events at once on a
/// connection of their own (an alert should not wait behind a big batch
/// of readings: its delivery starts from its commit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorePart {
    /// Readings, windows, latest state, anomalies, incidents, dead letters.
    Data,
    /// Alert events.
    Alerts,
}

/// Epochs taken from the inputs, with a capability each, until stored.
type Stash = BTreeMap<Time, (Capability<Time>, Batch)>;

/// Drains one input into the stash.
type Taker = Box<dyn FnMut(&mut Stash)>;

/// Makes the store operator's inputs, one per output it stores.
struct StoreInputs<'a, 's> {
    builder: &'a mut OperatorBuilder<'s, Time>,
    alerts: bool,
    takers: Vec<Taker>,
}

impl<'s> OutputVisitor<'s> for StoreInputs<'_, 's> {
    fn visit<D: OutputRecord>(&mut self, stream: &Stream<'s, Time, Vec<Update<D>>>) {
        if (D::KIND == OutputKind::AlertEvents) != self.alerts {
            return;
        }
        let mut handle = self.builder.new_input(stream.clone(), Pipeline);
        self.takers.push(Box::new(move |stash: &mut Stash| {
            handle.for_each(|cap, data| {
                let Some(&time) = cap.least() else { return };
                let entry = stash
                    .entry(time)
                    .or_insert_with(|| (cap.delayed(&time, 0), Batch::default()));
                D::updates(&mut entry.1).append(data);
            });
        }));
    }
}

/// The worker's PostgreSQL writer; it hands back each checkpoint once its offsets are durable.
pub type Writer = PgWriter<(Time, Checkpoint)>;

/// Writes every completed epoch to PostgreSQL, on a writer thread (see
/// [`PgWriter`]) so the worker keeps computing and publishing while a
/// transaction commits. Its output holds a capability for each time until
/// that time's outputs are committed, so a probe on it (on every worker)
/// says which epochs are durable everywhere.
///
/// `on_commit` is told the readings stored and the time each transaction
/// took from submission to commit (the root crate's metrics).
#[allow(clippy::too_many_arguments)]
pub fn store<'s>(
    outputs: &Outputs<'s>,
    part: StorePart,
    sink: PgSink,
    writer_slot: &Rc<RefCell<Option<Writer>>>,
    failure: &Rc<RefCell<Option<ConnectorError>>>,
    linger: Duration,
    max_rows: usize,
    on_commit: impl Fn(usize, Duration) + 'static,
) -> std::io::Result<Stream<'s, Time, Vec<()>>> {
    let scope = outputs.readings.scope();
    let name = match part {
        StorePart::Data => "StorePostgres",
        StorePart::Alerts => "StoreAlerts",
    };
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let address = builder.operator_info().address;
    let activator = scope.activator_for(Rc::clone(&address));
    let waker = scope.worker().sync_activator_for(address.to_vec());
    let writer = PgWriter::spawn(
        sink,
        format!(
            "{}-{}",
            if part == StorePart::Data {
                "pg-writer"
            } else {
                "pg-alerts"
            },
            scope.index()
        ),
        Box::new(move || {
            let _ = waker.activate();
        }),
    )?;
    *writer_slot.borrow_mut() = Some(writer);
    // One input per output this part stores: the data outputs, or the alert events.
    let mut inputs = StoreInputs {
        builder: &mut builder,
        alerts: part == StorePart::Alerts,
        takers: Vec::new(),
    };
    outputs.visit(&mut inputs);
    let mut takers = inputs.takers;
    // The output carries no data: only its frontier (what is committed) matters.
    let (output, stream) = builder.new_output::<Vec<()>>();
    let writer = Rc::clone(writer_slot);
    let failure = Rc::clone(failure);
    builder.build(move |_| {
        let mut stash: Stash = BTreeMap::new();
        // Submitted batches: ticket → (capabilities held, rows, submitted at).
        let mut in_flight: BTreeMap<u64, (Vec<Capability<Time>>, usize, Instant)> = BTreeMap::new();
        // When the oldest complete epoch became complete (batching small epochs).
        let mut ready_since: Option<Instant> = None;
        move |frontiers| {
            let _ = &output; // kept for the operator's lifetime
            for take in &mut takers {
                take(&mut stash);
            }
            let mut slot = writer.borrow_mut();
            let Some(writer) = slot.as_mut() else { return };
            // Committed batches release their epochs.
            for ticket in writer.written() {
                if let Some((_caps, rows, at)) = in_flight.remove(&ticket) {
                    on_commit(rows, at.elapsed());
                }
            }
            let complete = complete_times(&stash, frontiers);
            if complete.is_empty() {
                return;
            }
            // Small epochs wait up to `linger` to share a transaction, unless
            // the inputs are done (bounded run) or enough rows are waiting;
            // while two batches are in flight, epochs keep collecting (a
            // bigger transaction is cheaper) up to four times `max_rows`.
            let rows: usize = complete
                .iter()
                .filter_map(|t| stash.get(t))
                .map(|(_, part)| part.len())
                .sum();
            let since = *ready_since.get_or_insert_with(Instant::now);
            let finished = frontiers.iter().all(|f| f.is_empty());
            if !finished && rows < max_rows && since.elapsed() < linger {
                activator.activate_after(linger.saturating_sub(since.elapsed()));
                return;
            }
            if writer.in_flight() >= 2 && rows < 4 * max_rows {
                return; // woken when a batch commits
            }
            ready_since = None;
            // Every completed epoch in one transaction.
            let mut batch = Batch::default();
            let mut held = Vec::with_capacity(complete.len());
            for time in complete {
                if let Some((cap, part)) = stash.remove(&time) {
                    batch.merge(part);
                    held.push(cap);
                }
            }
            let stored = batch.readings.iter().filter(|(_, _, d)| *d > 0).count();
            // Blocks while the queue is full (PostgreSQL slow or down): the
            // worker then stops consuming, as nothing more could be stored.
            match writer.submit(batch) {
                Ok(ticket) => {
                    in_flight.insert(ticket, (held, stored, Instant::now()));
                }
                Err(e) => {
                    // Keep the capabilities: these epochs are not durable.
                    *failure.borrow_mut() = Some(e);
                    for cap in held {
                        let time = *cap.time();
                        stash.insert(time, (cap, Batch::default()));
                    }
                }
            }
        }
    });
    Ok(stream)
}
