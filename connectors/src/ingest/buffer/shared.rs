//! What the buffer's writer, its readers and the gateways share.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex};

use super::frame::Record;

/// Why an append was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BufferError {
    /// Past `max_bytes` of readings not yet in Kafka.
    #[error("the ingest buffer is full ({pending} of {max} bytes wait for Kafka)")]
    Full {
        /// Bytes waiting.
        pending: u64,
        /// The cap.
        max: u64,
    },
    /// The disk failed (or the writer thread is gone).
    #[error("the ingest buffer cannot write: {0}")]
    Io(String),
}

pub(super) struct Append {
    pub(super) records: Vec<Record>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<(), BufferError>>,
}

/// What the writer has made readable: records with seq below `next_seq`.
#[derive(Debug, Default)]
pub(super) struct Committed {
    pub(super) next_seq: u64,
    /// The writer's segment (first seq) and its committed length: nothing
    /// past it may be read (a batch being written can still be undone).
    pub(super) segment: (u64, u64),
    pub(super) closed: bool,
}

pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) committed: Mutex<Committed>,
    pub(super) more: Condvar,
    /// Bytes appended and not yet drained.
    pub(super) pending_bytes: AtomicU64,
    /// Records appended and not yet drained.
    pub(super) pending_records: AtomicU64,
    /// Records lost to corruption (sent as `buffer_corrupt` dead letters).
    pub(super) corrupt: AtomicU64,
}
