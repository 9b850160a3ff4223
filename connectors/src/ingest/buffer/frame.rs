//! The buffer's files: the record frame (see the buffer's module), the
//! segment files named by their first seq, the drained cursor, and the scan
//! that recovers a segment on open.

use std::io::Read;
use std::path::{Path, PathBuf};

use tracing::error;

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

pub(super) const MAGIC: u8 = 0xA7;
pub(super) const FRAME: usize = 9;
/// The longest body a frame may claim.
pub(super) const MAX_BODY: usize = 64 << 20;

impl Record {
    pub(super) fn encode(&self, seq: u64, out: &mut Vec<u8>) {
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

    pub(super) fn decode(body: &[u8]) -> Option<(u64, Record)> {
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

pub(super) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// The segments in `dir`, by first seq.
pub(super) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
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

pub(super) fn read_cursor(dir: &Path) -> std::io::Result<u64> {
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
pub(super) fn read_record<R: Read>(
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
pub(super) fn resync(bytes: &[u8], from: usize, min_seq: u64) -> Option<(usize, u64)> {
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
pub(super) struct Scan {
    /// Last valid seq + 1.
    pub(super) next: Option<u64>,
    /// Bytes and records at or after the cursor.
    pub(super) pending_bytes: u64,
    pub(super) pending_records: u64,
    /// Where bad bytes begin that no valid frame follows (a torn tail on
    /// the last segment).
    pub(super) tail: Option<u64>,
    /// Corrupt stretches followed by valid frames.
    pub(super) corrupt: u64,
}

/// Scans a segment's frames, resynchronising past corrupt stretches.
pub(super) fn scan(path: &Path, cursor: u64) -> std::io::Result<Scan> {
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
