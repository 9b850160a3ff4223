//! The disk buffer between the gateways and Kafka: append-only segment
//! files of checksummed records, written by one thread with group commit,
//! read in order by the drainer, deleted once drained.
//!
//! ```text
//!  gateways ─ append(records) ─► writer thread: write all waiting, fsync once, reply
//!                                  │ <dir>/<first seq>.wal, rotated at segment_bytes
//!  drainer ◄─ reader (committed records, in order) ◄┘
//!  drainer ─ drained(seq) ─► <dir>/cursor (next seq to send), old segments deleted
//! ```
//!
//! Record frame: `0xA7`, body length (u32 LE), CRC-32 of the body (u32 LE),
//! body = seq (u64), timestamp ms (i64), topic (u8: 0 readings, 1 dead
//! letters), key (u16 length + bytes), content type (u8 length + bytes),
//! headers (u8 count; each u8 name length + name, u16 value length +
//! value), payload (u32 length + bytes); integers little-endian.
//!
//! What is acknowledged is never cut or skipped silently:
//! - A write that fails (a full disk, an I/O error) is undone before the
//!   gateways hear of it: every segment it touched is cut back to its
//!   length before the batch, its seqs are given again, and the writer
//!   reopens; the segment stays a sequence of whole frames. The readers
//!   never read past what the writer has committed (`Committed::segment`).
//! - On open, bad bytes at the end of the last segment with no valid frame
//!   after them are a torn write (a crash mid-write, never acknowledged):
//!   they are copied to `<segment>.torn` and cut. Bad bytes anywhere else
//!   are corruption (a disk fault): the reader resynchronises on the next
//!   valid frame and sends, in place of the records it could not read, one
//!   dead letter (reason `buffer_corrupt`, the raw bytes cut to 64 KiB,
//!   the seqs lost in `x-weir-detail`), logged at ERROR and counted
//!   (`weir_ingest_buffer_corrupt_total`); the records after it go on.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::config::{BufferConfig, Fsync};

const MAGIC: u8 = 0xA7;
const FRAME: usize = 9;
/// The longest body a frame may claim.
const MAX_BODY: usize = 64 << 20;

/// Where a buffered record goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `kafka.readings_topic`.
    Readings,
    /// `kafka.dlq_topic` (bad MQTT payloads).
    DeadLetters,
}

/// One record on its way to Kafka.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Target topic.
    pub topic: Topic,
    /// Kafka key (the sensor id).
    pub key: Vec<u8>,
    /// Kafka record timestamp (ms): when the gateway accepted it.
    pub timestamp_ms: i64,
    /// The `content-type` header.
    pub content_type: String,
    /// Other headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The payload, as received.
    pub payload: Vec<u8>,
}

impl Record {
    fn encode(&self, seq: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[MAGIC, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.push(match self.topic {
            Topic::Readings => 0,
            Topic::DeadLetters => 1,
        });
        let key = &self.key[..self.key.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key);
        let ct = &self.content_type.as_bytes()[..self.content_type.len().min(255)];
        out.push(ct.len() as u8);
        out.extend_from_slice(ct);
        let headers = &self.headers[..self.headers.len().min(255)];
        out.push(headers.len() as u8);
        for (name, value) in headers {
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            let value = &value[..value.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.payload);
        let body_len = (out.len() - start - FRAME) as u32;
        let crc = crc32fast::hash(&out[start + FRAME..]);
        out[start + 1..start + 5].copy_from_slice(&body_len.to_le_bytes());
        out[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(body: &[u8]) -> Option<(u64, Record)> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let slice = body.get(at..at + n)?;
            at += n;
            Some(slice)
        };
        let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let timestamp_ms = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let topic = match take(1)?[0] {
            0 => Topic::Readings,
            1 => Topic::DeadLetters,
            _ => return None,
        };
        let key_len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        let key = take(key_len)?.to_vec();
        let ct_len = take(1)?[0] as usize;
        let content_type = String::from_utf8(take(ct_len)?.to_vec()).ok()?;
        let count = take(1)?[0] as usize;
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name_len = take(1)?[0] as usize;
            let name = String::from_utf8(take(name_len)?.to_vec()).ok()?;
            let value_len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
            headers.push((name, take(value_len)?.to_vec()));
        }
        let payload_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let payload = take(payload_len)?.to_vec();
        Some((
            seq,
            Record {
                topic,
                key,
                timestamp_ms,
                content_type,
                headers,
                payload,
            },
        ))
    }
}

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

struct Append {
    records: Vec<Record>,
    reply: tokio::sync::oneshot::Sender<Result<(), BufferError>>,
}

/// What the writer has made readable: records with seq below `next_seq`.
#[derive(Debug, Default)]
struct Committed {
    next_seq: u64,
    /// The writer's segment (first seq) and its committed length: nothing
    /// past it may be read (a batch being written can still be undone).
    segment: (u64, u64),
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    committed: Mutex<Committed>,
    more: Condvar,
    /// Bytes appended and not yet drained.
    pending_bytes: AtomicU64,
    /// Records appended and not yet drained.
    pending_records: AtomicU64,
    /// Records lost to corruption (sent as `buffer_corrupt` dead letters).
    corrupt: AtomicU64,
}

/// The buffer: cheap to clone, shared by every gateway.
#[derive(Clone)]
pub struct Buffer {
    shared: Arc<Shared>,
    appends: SyncSender<Append>,
    max_bytes: u64,
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// The segments in `dir`, by first seq.
fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            found.push((first, path));
        }
    }
    found.sort();
    Ok(found)
}

fn read_cursor(dir: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(dir.join("cursor")) {
        Ok(text) => text.trim().parse::<u64>().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}/cursor: {e}", dir.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reads one framed record; `Ok(None)` at a clean end, `Err(offset)` at a bad one.
fn read_record<R: Read>(
    reader: &mut R,
    body: &mut Vec<u8>,
) -> Result<Option<(u64, Record, usize)>, ()> {
    let mut frame = [0u8; FRAME];
    let mut got = 0;
    while got < FRAME {
        match reader.read(&mut frame[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) | Err(_) => return Err(()),
            Ok(n) => got += n,
        }
    }
    if frame[0] != MAGIC {
        return Err(());
    }
    let len = u32::from_le_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    let crc = u32::from_le_bytes([frame[5], frame[6], frame[7], frame[8]]);
    if len > MAX_BODY {
        return Err(());
    }
    body.resize(len, 0);
    reader.read_exact(body).map_err(|_| ())?;
    if crc32fast::hash(body) != crc {
        return Err(());
    }
    let (seq, record) = Record::decode(body).ok_or(())?;
    Ok(Some((seq, record, FRAME + len)))
}

/// The offset of the first valid frame in `bytes` at or after `from`
/// whose seq is at least `min_seq`, with that seq.
fn resync(bytes: &[u8], from: usize, min_seq: u64) -> Option<(usize, u64)> {
    let mut body = Vec::new();
    (from..bytes.len()).find_map(|at| {
        if bytes[at] != MAGIC {
            return None;
        }
        match read_record(&mut &bytes[at..], &mut body) {
            Ok(Some((seq, _, _))) if seq >= min_seq => Some((at, seq)),
            _ => None,
        }
    })
}

/// A segment as found on open.
#[derive(Debug, Default)]
struct Scan {
    /// Last valid seq + 1.
    next: Option<u64>,
    /// Bytes and records at or after the cursor.
    pending_bytes: u64,
    pending_records: u64,
    /// Where bad bytes begin that no valid frame follows (a torn tail on
    /// the last segment).
    tail: Option<u64>,
    /// Corrupt stretches followed by valid frames.
    corrupt: u64,
}

/// Scans a segment's frames, resynchronising past corrupt stretches.
fn scan(path: &Path, cursor: u64) -> std::io::Result<Scan> {
    let bytes = std::fs::read(path)?;
    let mut body = Vec::new();
    let mut found = Scan::default();
    let mut at = 0usize;
    loop {
        match read_record(&mut &bytes[at..], &mut body) {
            Ok(None) => return Ok(found),
            Ok(Some((seq, _, size))) => {
                found.next = Some(seq + 1);
                if seq >= cursor {
                    found.pending_bytes += size as u64;
                    found.pending_records += 1;
                }
                at += size;
            }
            Err(()) => match resync(&bytes, at + 1, found.next.unwrap_or(0)) {
                Some((next, seq)) => {
                    error!(segment = %path.display(), from = at, to = next, "ingest buffer: corrupt bytes inside a segment; the records after them are kept, the unreadable ones become a dead letter");
                    found.corrupt += 1;
                    if seq > cursor {
                        found.pending_bytes += (next - at) as u64;
                        found.pending_records += 1;
                    }
                    at = next;
                }
                None => {
                    found.tail = Some(at as u64);
                    return Ok(found);
                }
            },
        }
    }
}

impl Buffer {
    /// Opens (or creates) the buffer in `config.dir`, recovering what a
    /// previous run left, and starts its writer thread.
    pub fn open(config: &BufferConfig) -> std::io::Result<Buffer> {
        let dir = PathBuf::from(&config.dir);
        std::fs::create_dir_all(&dir)?;
        let cursor = read_cursor(&dir)?;
        let mut next_seq = cursor;
        let (mut pending_bytes, mut pending_records) = (0u64, 0u64);
        let found = segments(&dir)?;
        let mut segment = (0, 0);
        for (i, (first, path)) in found.iter().enumerate() {
            let scanned = scan(path, cursor)?;
            pending_bytes += scanned.pending_bytes;
            pending_records += scanned.pending_records;
            next_seq = next_seq.max(scanned.next.unwrap_or(*first));
            let last = i + 1 == found.len();
            match scanned.tail {
                Some(valid) if last => {
                    // A write cut short: never acknowledged. Kept aside, then cut.
                    let torn = path.with_extension(format!("wal.torn-{valid}"));
                    let bytes = std::fs::read(path)?;
                    std::fs::write(&torn, &bytes[valid as usize..])?;
                    warn!(segment = %path.display(), valid, torn = %torn.display(), "ingest buffer: cutting a torn tail (a write cut short before it was acknowledged; the bytes are kept aside)");
                    OpenOptions::new().write(true).open(path)?.set_len(valid)?;
                }
                Some(valid) => {
                    error!(segment = %path.display(), valid, "ingest buffer: corrupt bytes at the end of a closed segment; they become a dead letter");
                    pending_records += 1;
                }
                None => {}
            }
            if last {
                segment = (*first, std::fs::metadata(path)?.len());
            }
        }
        if pending_records > 0 {
            info!(
                records = pending_records,
                bytes = pending_bytes,
                "ingest buffer: records from the last run still to send to Kafka"
            );
        }
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            committed: Mutex::new(Committed {
                next_seq,
                segment,
                closed: false,
            }),
            more: Condvar::new(),
            pending_bytes: AtomicU64::new(pending_bytes),
            pending_records: AtomicU64::new(pending_records),
            corrupt: AtomicU64::new(0),
        });
        let (appends, queue) = sync_channel::<Append>(4_096);
        let writer = Writer {
            shared: Arc::clone(&shared),
            config: config.clone(),
            file: None,
            segment_size: 0,
            next_seq,
            last_sync: Instant::now(),
            force_new: false,
        };
        std::thread::Builder::new()
            .name("ingest-buffer".into())
            .spawn(move || writer.run(queue))?;
        Ok(Buffer {
            shared,
            appends,
            max_bytes: config.max_bytes,
        })
    }

    /// Appends records; resolves once they are written (and synced, per the
    /// fsync policy). Refuses when the buffer is full.
    pub async fn append(&self, records: Vec<Record>) -> Result<(), BufferError> {
        if records.is_empty() {
            return Ok(());
        }
        let size: u64 = records
            .iter()
            .map(|r| (r.payload.len() + r.key.len() + 64) as u64)
            .sum();
        let pending = self.shared.pending_bytes.load(Ordering::Relaxed);
        if pending + size > self.max_bytes {
            return Err(BufferError::Full {
                pending,
                max: self.max_bytes,
            });
        }
        let (reply, done) = tokio::sync::oneshot::channel();
        let appends = self.appends.clone();
        // The queue is bounded: wait off the async runtime when it is full.
        let sent = match appends.try_send(Append { records, reply }) {
            Ok(()) => true,
            Err(std::sync::mpsc::TrySendError::Full(append)) => {
                tokio::task::spawn_blocking(move || appends.send(append).is_ok())
                    .await
                    .unwrap_or(false)
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
        };
        if !sent {
            return Err(BufferError::Io("the buffer's writer thread is gone".into()));
        }
        done.await
            .map_err(|_| BufferError::Io("the buffer's writer thread is gone".into()))?
    }

    /// Bytes and records waiting for Kafka.
    pub fn pending(&self) -> (u64, u64) {
        (
            self.shared.pending_bytes.load(Ordering::Relaxed),
            self.shared.pending_records.load(Ordering::Relaxed),
        )
    }

    /// Records lost to corruption so far (each stretch sent as a dead letter).
    pub fn corrupt(&self) -> u64 {
        self.shared.corrupt.load(Ordering::Relaxed)
    }

    /// A reader from the persisted cursor (the drainer's).
    pub fn reader(&self) -> std::io::Result<BufferReader> {
        let cursor = read_cursor(&self.shared.dir)?;
        Ok(BufferReader {
            shared: Arc::clone(&self.shared),
            next_seq: cursor,
            current: None,
            offset: 0,
            body: Vec::new(),
            drained_seq: cursor,
            sizes: VecDeque::new(),
            last_persist: Instant::now(),
        })
    }

    /// Stops the writer once what is queued is written.
    pub fn close(&self) {
        if let Ok(mut c) = self.shared.committed.lock() {
            c.closed = true;
        }
        self.shared.more.notify_all();
    }
}

struct Writer {
    shared: Arc<Shared>,
    config: BufferConfig,
    /// The open segment: first seq, path, writer.
    file: Option<(u64, PathBuf, BufWriter<File>)>,
    segment_size: u64,
    next_seq: u64,
    last_sync: Instant,
    /// After a failed write that could not be undone: the next segment is new.
    force_new: bool,
}

/// A segment a batch wrote to, and its length before the batch.
struct Touched {
    path: PathBuf,
    len: u64,
}

impl Writer {
    fn run(mut self, queue: Receiver<Append>) {
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
    fn write(&mut self, batch: &[Append], frame: &mut Vec<u8>) -> Result<(), BufferError> {
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

    fn write_batch(
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
    fn undo(&mut self, start_seq: u64, touched: &[Touched]) {
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

    fn rotate(&mut self) -> std::io::Result<()> {
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

/// Reads committed records in order, from the cursor; records what was drained.
pub struct BufferReader {
    shared: Arc<Shared>,
    next_seq: u64,
    /// The segment being read: first seq, reader.
    current: Option<(u64, BufReader<File>)>,
    /// Where in it the next frame starts.
    offset: u64,
    body: Vec<u8>,
    /// Everything below this has reached Kafka.
    drained_seq: u64,
    /// (seq, size) of records handed out and not yet drained.
    sizes: VecDeque<(u64, u64)>,
    last_persist: Instant,
}

impl BufferReader {
    /// The next record, waiting up to `wait` for one; `None` if none came
    /// (or the buffer is closed and empty).
    pub fn next(&mut self, wait: Duration) -> std::io::Result<Option<(u64, Record)>> {
        let (committed_next, segment) = {
            let Ok(committed) = self.shared.committed.lock() else {
                return Ok(None);
            };
            let (committed, _) = self
                .shared
                .more
                .wait_timeout_while(committed, wait, |c| {
                    c.next_seq <= self.next_seq && !c.closed
                })
                .map_err(|_| std::io::Error::other("buffer lock poisoned"))?;
            if committed.next_seq <= self.next_seq {
                return Ok(None);
            }
            (committed.next_seq, committed.segment)
        };
        loop {
            if self.current.is_none() {
                self.open_segment()?;
            }
            let first = self.current_first();
            // The writer's segment is read up to what it committed only.
            let limit = if first == segment.0 {
                segment.1
            } else {
                u64::MAX
            };
            let Some((_, reader)) = self.current.as_mut() else {
                return Ok(None);
            };
            let read = if self.offset >= limit {
                Ok(None)
            } else {
                read_record(reader, &mut self.body)
            };
            match read {
                Ok(Some((seq, record, size))) => {
                    self.offset += size as u64;
                    if seq < self.next_seq {
                        continue; // before the cursor: drained already
                    }
                    self.next_seq = seq + 1;
                    self.sizes.push_back((seq, size as u64));
                    return Ok(Some((seq, record)));
                }
                // The end of this segment: the next one starts at our seq.
                Ok(None) => {
                    if self.next_segment_exists()? {
                        self.current = None;
                        continue;
                    }
                    // The active segment, partly read: look again later.
                    return Ok(None);
                }
                Err(()) => {
                    let end = if limit == u64::MAX { None } else { Some(limit) };
                    if let Some(found) = self.skip_corrupt(end, committed_next)? {
                        return Ok(Some(found));
                    }
                }
            }
        }
    }

    /// At a frame that does not read in committed bytes: corruption.
    /// Resynchronises on the next valid frame (of this segment, up to
    /// `end`); the records in between are one `buffer_corrupt` dead letter,
    /// returned in their place (`None` if no record was lost).
    fn skip_corrupt(
        &mut self,
        end: Option<u64>,
        committed_next: u64,
    ) -> std::io::Result<Option<(u64, Record)>> {
        let Some((first, _)) = self.current.as_ref() else {
            return Ok(None);
        };
        let first = *first;
        let path = segment_path(&self.shared.dir, first);
        let mut bytes = std::fs::read(&path)?;
        if let Some(end) = end {
            bytes.truncate(end as usize);
        }
        let from = (self.offset as usize).min(bytes.len());
        let (to, lost_until) = match resync(&bytes, from + 1, self.next_seq) {
            Some((at, seq)) => (at, seq),
            None => {
                // To the end of the segment: the next segment's first seq,
                // or for the writer's segment what it committed.
                let next_first = segments(&self.shared.dir)?
                    .into_iter()
                    .map(|(f, _)| f)
                    .find(|f| *f > first);
                (bytes.len(), next_first.unwrap_or(committed_next))
            }
        };
        let stretch = &bytes[from..to];
        self.offset = to as u64;
        if let Some((_, reader)) = self.current.as_mut() {
            reader.seek(SeekFrom::Start(self.offset))?;
        }
        if lost_until <= self.next_seq {
            warn!(segment = %path.display(), from, to, "ingest buffer: skipped bytes that hold no record");
            return Ok(None);
        }
        let (seq, lost) = (self.next_seq, lost_until - self.next_seq);
        self.shared.corrupt.fetch_add(lost, Ordering::Relaxed);
        error!(segment = %path.display(), from, to, first_seq = seq, records = lost, "ingest buffer: corrupt records; sent as one buffer_corrupt dead letter, the rest goes on");
        let rejection = super::gateway::Rejection {
            index: 0,
            field: "$".into(),
            reason: "buffer_corrupt".into(),
            detail: format!(
                "{} bytes {from}..{to}: records {seq}..{lost_until} unreadable",
                path.display()
            ),
        };
        let at = weir_dataflow::clock::now_ms();
        let record =
            super::gateway::dead_letter("", stretch.to_vec(), "ingest-buffer", &rejection, at);
        self.next_seq = lost_until;
        self.sizes.push_back((seq, stretch.len() as u64));
        Ok(Some((seq, record)))
    }

    fn next_segment_exists(&self) -> std::io::Result<bool> {
        let current = self.current_first();
        Ok(segments(&self.shared.dir)?
            .iter()
            .any(|(first, _)| *first > current && *first <= self.next_seq))
    }

    fn current_first(&self) -> u64 {
        self.current.as_ref().map_or(0, |(first, _)| *first)
    }

    fn open_segment(&mut self) -> std::io::Result<()> {
        let found = segments(&self.shared.dir)?;
        let Some((first, path)) = found
            .iter()
            .rev()
            .find(|(first, _)| *first <= self.next_seq)
            .or_else(|| found.first())
            .cloned()
        else {
            return Ok(());
        };
        let file = File::open(&path)?;
        self.current = Some((first, BufReader::with_capacity(1 << 20, file)));
        self.offset = 0;
        Ok(())
    }

    /// Records up to and including `seq` are in Kafka. Persists the cursor
    /// at most every 100 ms (and deletes drained segments then).
    pub fn drained(&mut self, seq: u64) -> std::io::Result<()> {
        let mut bytes = 0u64;
        let mut records = 0u64;
        while let Some((s, size)) = self.sizes.front().copied() {
            if s > seq {
                break;
            }
            self.sizes.pop_front();
            bytes += size;
            records += 1;
        }
        self.shared.pending_bytes.fetch_sub(
            bytes.min(self.shared.pending_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.shared.pending_records.fetch_sub(
            records.min(self.shared.pending_records.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.drained_seq = self.drained_seq.max(seq + 1);
        if self.last_persist.elapsed() >= Duration::from_millis(100) {
            self.persist()?;
        }
        Ok(())
    }

    /// Writes the cursor now and deletes the segments wholly before it.
    pub fn persist(&mut self) -> std::io::Result<()> {
        self.last_persist = Instant::now();
        let dir = &self.shared.dir;
        let tmp = dir.join("cursor.tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(self.drained_seq.to_string().as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join("cursor"))?;
        let found = segments(dir)?;
        for pair in found.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            // Every record of this segment is below the next one's first seq.
            if *next_first <= self.drained_seq
                && self
                    .current
                    .as_ref()
                    .is_none_or(|(first, _)| *first != pair[0].0)
            {
                std::fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// Everything below this seq has reached Kafka.
    pub fn drained_seq(&self) -> u64 {
        self.drained_seq
    }

    /// The seq the next record handed out will have (everything below was read).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

impl Drop for BufferReader {
    fn drop(&mut self) {
        let _ = self.persist();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> Record {
        Record {
            topic: if i.is_multiple_of(7) {
                Topic::DeadLetters
            } else {
                Topic::Readings
            },
            key: format!("tmp-{i}").into_bytes(),
            timestamp_ms: 1_764_000_000_000 + i as i64,
            content_type: "application/json".into(),
            headers: vec![("x-weir-reason".into(), b"malformed_json".to_vec())],
            payload: format!(r#"{{"sensorId":"tmp-{i}","timestamp":{i},"value":1.5}}"#)
                .into_bytes(),
        }
    }

    fn config(dir: &Path) -> BufferConfig {
        BufferConfig {
            dir: dir.display().to_string(),
            segment_bytes: 4_096,
            max_bytes: 1 << 20,
            ..BufferConfig::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-buffer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn records_come_back_in_order_across_segments_and_restarts()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp("order");
        let buffer = Buffer::open(&config(&dir))?;
        for chunk in (0..300u64).collect::<Vec<_>>().chunks(37) {
            buffer
                .append(chunk.iter().map(|i| record(*i)).collect())
                .await?;
        }
        assert!(segments(&dir)?.len() > 3, "rotated");
        assert_eq!(buffer.pending().1, 300);
        let mut reader = buffer.reader()?;
        for i in 0..120u64 {
            let (seq, r) = reader
                .next(Duration::from_secs(1))?
                .ok_or("missing record")?;
            assert_eq!((seq, r), (i, record(i)));
        }
        reader.drained(119)?;
        reader.persist()?;
        assert_eq!(buffer.pending().1, 180);
        drop(reader);
        buffer.close();
        drop(buffer);
        // A torn tail, as a crash mid-write leaves it.
        let last = segments(&dir)?.pop().ok_or("no segment")?.1;
        OpenOptions::new()
            .append(true)
            .open(&last)?
            .write_all(&[MAGIC, 200, 0, 0])?;
        let buffer = Buffer::open(&config(&dir))?;
        assert_eq!(
            buffer.pending().1,
            180,
            "the cursor and the records survive; the torn tail does not count"
        );
        buffer.append(vec![record(300)]).await?;
        let mut reader = buffer.reader()?;
        for i in 120..=300u64 {
            let (seq, r) = reader
                .next(Duration::from_secs(1))?
                .ok_or("missing record after restart")?;
            assert_eq!((seq, r), (i, record(i)));
        }
        assert!(reader.next(Duration::from_millis(10))?.is_none());
        reader.drained(300)?;
        reader.persist()?;
        assert!(segments(&dir)?.len() <= 2, "drained segments are deleted");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn a_full_buffer_refuses_and_takes_again_once_drained()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp("full");
        let buffer = Buffer::open(&BufferConfig {
            max_bytes: 8_192,
            ..config(&dir)
        })?;
        let mut accepted = 0u64;
        let refused = loop {
            match buffer.append(vec![record(accepted)]).await {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 1_000, "never refused");
        };
        assert!(matches!(refused, BufferError::Full { .. }), "{refused}");
        let mut reader = buffer.reader()?;
        let mut last = 0;
        while let Some((seq, _)) = reader.next(Duration::from_millis(10))? {
            last = seq;
        }
        assert_eq!(last + 1, accepted, "everything accepted is there");
        reader.drained(last)?;
        buffer.append(vec![record(accepted)]).await?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// Reads everything there is: (seq, record).
    fn read_all(reader: &mut BufferReader) -> std::io::Result<Vec<(u64, Record)>> {
        let mut out = Vec::new();
        while let Some(found) = reader.next(Duration::from_millis(50))? {
            out.push(found);
        }
        Ok(out)
    }

    fn reason(record: &Record) -> Option<String> {
        record
            .headers
            .iter()
            .find(|(n, _)| n == "x-weir-reason")
            .map(|(_, v)| String::from_utf8_lossy(v).to_string())
    }

    /// Flips one byte in the middle of the `n`th segment (a payload byte
    /// of some record); returns that segment's path.
    fn corrupt_segment(dir: &Path, n: usize) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let path = segments(dir)?.get(n).ok_or("no such segment")?.1.clone();
        let mut bytes = std::fs::read(&path)?;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5A;
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    #[tokio::test]
    async fn a_corrupt_record_in_a_closed_segment_is_a_dead_letter_and_the_rest_goes_on()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp("corrupt-closed");
        let buffer = Buffer::open(&config(&dir))?;
        buffer
            .append((0..300u64).map(record).collect::<Vec<_>>())
            .await?;
        buffer.close();
        drop(buffer);
        assert!(segments(&dir)?.len() > 3);
        corrupt_segment(&dir, 1)?;
        let buffer = Buffer::open(&config(&dir))?;
        let mut reader = buffer.reader()?;
        let read = read_all(&mut reader)?;
        let dead: Vec<&(u64, Record)> = read
            .iter()
            .filter(|(_, r)| reason(r).as_deref() == Some("buffer_corrupt"))
            .collect();
        assert_eq!(dead.len(), 1, "one dead letter for the bad stretch");
        assert_eq!(buffer.corrupt(), 1, "one record lost");
        let lost = dead[0].0;
        let good: Vec<u64> = read.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(good, (0..300).collect::<Vec<_>>(), "every seq, in order");
        for (seq, r) in &read {
            if *seq != lost {
                assert_eq!(r, &record(*seq));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn opening_never_cuts_records_after_a_corrupt_one()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp("corrupt-last");
        let buffer = Buffer::open(&BufferConfig {
            segment_bytes: 1 << 20,
            ..config(&dir)
        })?;
        buffer
            .append((0..100u64).map(record).collect::<Vec<_>>())
            .await?;
        buffer.close();
        drop(buffer);
        assert_eq!(segments(&dir)?.len(), 1, "one segment: the last");
        corrupt_segment(&dir, 0)?;
        let buffer = Buffer::open(&BufferConfig {
            segment_bytes: 1 << 20,
            ..config(&dir)
        })?;
        // Appending goes on after the records, not after a cut.
        buffer.append(vec![record(100)]).await?;
        let mut reader = buffer.reader()?;
        let read = read_all(&mut reader)?;
        let seqs: Vec<u64> = read.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (0..=100).collect::<Vec<_>>());
        assert_eq!(
            read.iter()
                .filter(|(_, r)| reason(r).as_deref() == Some("buffer_corrupt"))
                .count(),
            1
        );
        assert_eq!(read[100].1, record(100));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn a_torn_tail_is_kept_aside_and_cut() -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp("torn");
        let buffer = Buffer::open(&config(&dir))?;
        buffer
            .append((0..10u64).map(record).collect::<Vec<_>>())
            .await?;
        buffer.close();
        drop(buffer);
        let last = segments(&dir)?.pop().ok_or("no segment")?.1;
        let mut torn = Vec::new();
        record(10).encode(10, &mut torn);
        torn.truncate(torn.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&last)?
            .write_all(&torn)?;
        let buffer = Buffer::open(&config(&dir))?;
        buffer.append(vec![record(10)]).await?;
        let read = read_all(&mut buffer.reader()?)?;
        assert_eq!(read.len(), 11);
        assert!(read.iter().all(|(seq, r)| r == &record(*seq)));
        let aside = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
            .count();
        assert_eq!(aside, 1, "the torn bytes are kept aside");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn records_round_trip_through_their_encoding() {
        let mut bytes = Vec::new();
        record(3).encode(42, &mut bytes);
        let mut body = Vec::new();
        let read = read_record(&mut bytes.as_slice(), &mut body);
        assert_eq!(read, Ok(Some((42, record(3), bytes.len()))));
        bytes[20] ^= 1;
        assert_eq!(
            read_record(&mut bytes.as_slice(), &mut body),
            Err(()),
            "checksum"
        );
    }
}
