//! A worker's PostgreSQL writes on a thread of their own, so a commit never
//! stalls the timely worker (reading Kafka, computing, pushing live views).
//!
//! ```text
//!  worker thread                         writer thread (owns the PgSink)
//!  ─────────────                         ───────────────────────────────
//!  submit(batch) ─► ticket ─┐
//!  offsets(rows, checkpoint)├─ bounded queue, in order ─► write / commit_offsets / upsert_sensor / maintain
//!  sensor(record) ──────────┘                                   │
//!  written() ◄── tickets committed ◄────────────────────────────┤ + wake the worker (SyncActivator)
//!  offsets_committed() ◄── checkpoints durable ◄────────────────┤
//!  failure() ◄── the first error ◄──────────────────────────────┘
//! ```
//!
//! Commands run in the order they were queued: a batch's offsets are
//! queued only after every worker's sink has reported it written, so they
//! can never overtake their data. While PostgreSQL is down the thread
//! blocks in its retry loop; the queue fills, `submit` blocks, and the
//! worker stops consuming as before: nothing is read that cannot be stored.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use weir_dataflow::records::RegistryRecord;

use super::sink::{Batch, PgSink};
use crate::ConnectorError;

/// Commands queued before `submit` blocks (each can be a whole batch).
const QUEUE: usize = 2;

enum Command<C> {
    Write(u64, Batch),
    Offsets {
        rows: Vec<(i32, i64, i64)>,
        keep_ms: i64,
        checkpoint: C,
    },
    Sensor(RegistryRecord),
    Gaps(Vec<crate::kafka::Gap>),
    Maintain,
}

/// Something to call when a write has committed (wakes the worker).
pub type Waker = Box<dyn Fn() + Send>;

/// The handle the worker keeps. `C` is what the worker wants back once
/// offsets are durable (its checkpoint, for the broker's group offsets).
pub struct PgWriter<C: Send + 'static> {
    commands: Option<SyncSender<Command<C>>>,
    written: Receiver<u64>,
    offsets: Receiver<C>,
    failure: Arc<Mutex<Option<ConnectorError>>>,
    thread: Option<JoinHandle<()>>,
    next_ticket: u64,
    in_flight: usize,
}

impl<C: Send + 'static> PgWriter<C> {
    /// Moves `sink` to a thread of its own; `wake` is called after each commit.
    pub fn spawn(mut sink: PgSink, name: String, wake: Waker) -> std::io::Result<Self> {
        let (commands, queue) = sync_channel::<Command<C>>(QUEUE);
        let (written_tx, written): (Sender<u64>, Receiver<u64>) = channel();
        let (offsets_tx, offsets): (Sender<C>, Receiver<C>) = channel();
        let failure: Arc<Mutex<Option<ConnectorError>>> = Arc::default();
        let failed = Arc::clone(&failure);
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let fail = |e: ConnectorError| {
                if let Ok(mut slot) = failed.lock() {
                    slot.get_or_insert(e);
                }
                wake();
            };
            for command in queue {
                let result = match command {
                    Command::Write(ticket, batch) => sink.write(&batch).map(|()| {
                        let _ = written_tx.send(ticket);
                        wake();
                    }),
                    Command::Offsets {
                        rows,
                        keep_ms,
                        checkpoint,
                    } => sink.commit_offsets(&rows, keep_ms).map(|()| {
                        let _ = offsets_tx.send(checkpoint);
                    }),
                    Command::Sensor(record) => sink.upsert_sensor(&record),
                    Command::Gaps(gaps) => sink.record_gaps(&gaps),
                    Command::Maintain => sink.maintain(),
                };
                if let Err(e) = result {
                    // Nothing after a failed command may be written: stop here.
                    fail(e);
                    return;
                }
            }
        })?;
        Ok(PgWriter {
            commands: Some(commands),
            written,
            offsets,
            failure,
            thread: Some(thread),
            next_ticket: 0,
            in_flight: 0,
        })
    }

    fn send(&self, command: Command<C>) -> Result<(), ConnectorError> {
        let sent = self
            .commands
            .as_ref()
            .is_some_and(|c| c.send(command).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: it left its reason.
        Err(self.take_failure().unwrap_or(ConnectorError::WriterGone))
    }

    /// Queues a batch (blocking while the queue is full); returns its ticket.
    pub fn submit(&mut self, batch: Batch) -> Result<u64, ConnectorError> {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.send(Command::Write(ticket, batch))?;
        self.in_flight += 1;
        Ok(ticket)
    }

    /// Batches submitted and not yet reported written.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Tickets committed since the last call, in order.
    pub fn written(&mut self) -> Vec<u64> {
        let done: Vec<u64> = self.written.try_iter().collect();
        self.in_flight -= done.len().min(self.in_flight);
        done
    }

    /// Queues durable offsets ((partition, next offset, clock)); `checkpoint`
    /// comes back from [`PgWriter::offsets_committed`] once they are committed.
    pub fn offsets(
        &self,
        rows: Vec<(i32, i64, i64)>,
        keep_ms: i64,
        checkpoint: C,
    ) -> Result<(), ConnectorError> {
        self.send(Command::Offsets {
            rows,
            keep_ms,
            checkpoint,
        })
    }

    /// Checkpoints whose offsets were committed since the last call.
    pub fn offsets_committed(&self) -> Vec<C> {
        self.offsets.try_iter().collect()
    }

    /// Queues a registry upsert.
    pub fn sensor(&self, record: RegistryRecord) -> Result<(), ConnectorError> {
        self.send(Command::Sensor(record))
    }

    /// Queues gap rows (`source_gaps`), before any offsets queued after.
    pub fn gaps(&self, gaps: Vec<crate::kafka::Gap>) -> Result<(), ConnectorError> {
        self.send(Command::Gaps(gaps))
    }

    /// Queues partition upkeep.
    pub fn maintain(&self) -> Result<(), ConnectorError> {
        self.send(Command::Maintain)
    }

    /// The error that stopped the thread, if one did.
    pub fn take_failure(&self) -> Option<ConnectorError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    /// Waits until everything queued is done; returns the first error.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.take_failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<C: Send + 'static> Drop for PgWriter<C> {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has drained it; not
        // joined here, so a failing run is not held up by a database that
        // is down (`finish` waits, on the clean path).
        self.commands = None;
    }
}
