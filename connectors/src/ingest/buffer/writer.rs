//! The buffer's one writer thread: group commit (everything waiting in one
//! write and one sync), segment rotation, and a failed write undone before
//! any gateway hears of it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use tracing::error;

use super::frame::{segment_path, segments};
use super::shared::{Append, BufferError, Shared};
use crate::ingest::config::{BufferConfig, Fsync};

pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) config: BufferConfig,
    /// The open segment: first seq, path, writer.
    pub(super) file: Option<(u64, PathBuf, BufWriter<File>)>,
    pub(super) segment_size: u64,
    pub(super) next_seq: u64,
    pub(super) last_sync: Instant,
    /// After a failed write that could not be undone: the next segment is new.
    pub(super) force_new: bool,
}

/// A segment a batch wrote to, and its length before the batch.
pub(super) struct Touched {
    pub(super) path: PathBuf,
    pub(super) len: u64,
}

impl Writer {
    pub(super) fn run(mut self, queue: Receiver<Append>) {
        let mut frame = Vec::with_capacity(1 << 20);
        while let Ok(first) = queue.recv() {
            // Group commit: everything waiting goes in one write and one sync.
            let mut batch = vec![first];
            while let Ok(more) = queue.try_recv() {
                batch.push(more);
                if batch.len() >= 1_024 {
                    break;
                }
            }
            let result = self.write(&batch, &mut frame);
            if let Err(e) = &result {
                error!(error = %e, "ingest buffer: write failed (undone); refusing readings until it works");
            }
            for append in batch {
                let _ = append.reply.send(result.clone());
            }
        }
    }

    /// Writes a batch, or nothing: a failed batch is undone.
    pub(super) fn write(
        &mut self,
        batch: &[Append],
        frame: &mut Vec<u8>,
    ) -> Result<(), BufferError> {
        let start_seq = self.next_seq;
        let mut touched = Vec::new();
        match self.write_batch(batch, frame, &mut touched) {
            Ok((bytes, records)) => {
                self.shared
                    .pending_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                self.shared
                    .pending_records
                    .fetch_add(records, Ordering::Relaxed);
                let first = self.file.as_ref().map_or(0, |(first, _, _)| *first);
                if let Ok(mut committed) = self.shared.committed.lock() {
                    committed.next_seq = self.next_seq;
                    committed.segment = (first, self.segment_size);
                }
                self.shared.more.notify_all();
                Ok(())
            }
            Err(e) => {
                self.undo(start_seq, &touched);
                Err(BufferError::Io(e.to_string()))
            }
        }
    }

    pub(super) fn write_batch(
        &mut self,
        batch: &[Append],
        frame: &mut Vec<u8>,
        touched: &mut Vec<Touched>,
    ) -> std::io::Result<(u64, u64)> {
        let mut bytes = 0u64;
        let mut records = 0u64;
        for append in batch {
            for record in &append.records {
                if self.file.is_none() || self.segment_size >= self.config.segment_bytes {
                    self.rotate()?;
                }
                let (_, path, file) = self
                    .file
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("no segment open"))?;
                if touched.last().is_none_or(|t| t.path != *path) {
                    touched.push(Touched {
                        path: path.clone(),
                        len: self.segment_size,
                    });
                }
                frame.clear();
                record.encode(self.next_seq, frame);
                file.write_all(frame)?;
                self.segment_size += frame.len() as u64;
                bytes += frame.len() as u64;
                records += 1;
                self.next_seq += 1;
            }
        }
        if let Some((_, _, file)) = self.file.as_mut() {
            file.flush()?;
            let sync = match self.config.fsync {
                Fsync::Always => true,
                Fsync::Interval => {
                    self.last_sync.elapsed() >= Duration::from_millis(self.config.fsync_interval_ms)
                }
                Fsync::Never => false,
            };
            if sync {
                file.get_ref().sync_data()?;
                self.last_sync = Instant::now();
            }
        }
        Ok((bytes, records))
    }

    /// Undoes a failed batch: what it wrote is cut off every segment it
    /// touched (bytes still in the write buffer are discarded, not
    /// written), so the segments hold whole frames only, and its seqs are
    /// given again. If a segment cannot be cut, its seqs are not reused:
    /// the reader then meets the partial frame as corruption.
    pub(super) fn undo(&mut self, start_seq: u64, touched: &[Touched]) {
        if let Some((_, _, writer)) = self.file.take() {
            // Discard what is buffered: a partial frame must not reach the file.
            let _ = writer.into_parts();
        }
        self.segment_size = 0;
        let mut clean = true;
        for t in touched {
            let cut = OpenOptions::new()
                .write(true)
                .open(&t.path)
                .and_then(|f| f.set_len(t.len).and_then(|()| f.sync_all()));
            let cut = match cut {
                // A segment the batch created goes again.
                Ok(()) if t.len == 0 => std::fs::remove_file(&t.path),
                other => other,
            };
            if let Err(e) = cut
                && e.kind() != std::io::ErrorKind::NotFound
            {
                clean = false;
                error!(segment = %t.path.display(), error = %e, "ingest buffer: cannot cut a failed write back; its records will be read as corrupt");
            }
        }
        if clean {
            self.next_seq = start_seq;
        } else {
            // Never reuse a seq that may be on disk; write on in a new segment.
            self.force_new = true;
        }
        if let Ok(dir) = File::open(&self.shared.dir) {
            let _ = dir.sync_all();
        }
    }

    pub(super) fn rotate(&mut self) -> std::io::Result<()> {
        if let Some((_, _, file)) = self.file.as_mut() {
            // On failure the writer stays in place, for `undo` to discard.
            file.flush()?;
            file.get_ref().sync_data()?;
        }
        self.file = None;
        // Continue the last segment if it has room (a restart), else start one.
        let last = segments(&self.shared.dir)?.pop();
        let (first, path) = match last {
            Some((first, path))
                if !self.force_new
                    && std::fs::metadata(&path)
                        .map(|m| m.len())
                        .unwrap_or(u64::MAX)
                        < self.config.segment_bytes =>
            {
                (first, path)
            }
            _ => (self.next_seq, segment_path(&self.shared.dir, self.next_seq)),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        self.segment_size = file.metadata()?.len();
        self.file = Some((first, path, BufWriter::with_capacity(1 << 20, file)));
        // The new segment's name must survive a crash.
        File::open(&self.shared.dir)?.sync_all()?;
        self.force_new = false;
        Ok(())
    }
}
