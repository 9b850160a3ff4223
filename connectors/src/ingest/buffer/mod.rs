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
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tracing::{error, info, warn};

pub(super) mod frame;
mod reader;
mod shared;
mod writer;

pub use self::frame::{Record, Topic};
use self::frame::{read_cursor, scan, segments};
pub use self::reader::BufferReader;
pub use self::shared::BufferError;
use self::shared::{Append, Committed, Shared};
use self::writer::Writer;
use super::config::BufferConfig;

/// The buffer: cheap to clone, shared by every gateway.
#[derive(Clone)]
pub struct Buffer {
    shared: Arc<Shared>,
    appends: SyncSender<Append>,
    max_bytes: u64,
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;
    use std::time::Duration;

    use super::frame::*;
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
