//! Reading the buffer: committed records in order from the cursor, past
//! corrupt stretches (each sent on as one dead letter), and the drained
//! cursor persisted.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{error, warn};

use super::frame::{Record, read_record, resync, segment_path, segments};
use super::shared::Shared;

/// Reads committed records in order, from the cursor; records what was drained.
pub struct BufferReader {
    pub(super) shared: Arc<Shared>,
    pub(super) next_seq: u64,
    /// The segment being read: first seq, reader.
    pub(super) current: Option<(u64, BufReader<File>)>,
    /// Where in it the next frame starts.
    pub(super) offset: u64,
    pub(super) body: Vec<u8>,
    /// Everything below this has reached Kafka.
    pub(super) drained_seq: u64,
    /// (seq, size) of records handed out and not yet drained.
    pub(super) sizes: VecDeque<(u64, u64)>,
    pub(super) last_persist: Instant,
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
        let rejection = crate::ingest::rejection::Rejection {
            index: 0,
            field: "$".into(),
            reason: "buffer_corrupt".into(),
            detail: format!(
                "{} bytes {from}..{to}: records {seq}..{lost_until} unreadable",
                path.display()
            ),
        };
        let at = weir_dataflow::clock::now_ms();
        let record = crate::ingest::rejection::dead_letter(
            "",
            stretch.to_vec(),
            "ingest-buffer",
            &rejection,
            at,
        );
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
