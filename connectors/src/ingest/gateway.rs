//! The front door every gateway shares: validate a payload as a reading,
//! check the rate limits, append to the disk buffer, count.
//!
//! ```text
//!  payload ─ validate (weir's decoder: v1/v2 JSON, protobuf) ─┬─► Valid { sensor id, bytes, content type }
//!                                                             └─► Rejection { field, reason, detail }
//!  Valid… ─ admit: per-device buckets, gateway bucket ─► buffer.append (synced) ─► accepted
//!                   └─ RateLimited(retry after)        └─ BufferFull(retry after)
//! ```
//!
//! A reading is forwarded exactly as it arrived (its own encoding and
//! schema version), keyed by its sensor id, stamped with the time it was
//! accepted: the dataflow decodes it again, so old and new firmware stay
//! side by side.

use std::sync::Arc;
use std::time::Duration;

use weir_dataflow::clock::now_ms;
use weir_dataflow::{Format, decode};

use super::buffer::{Buffer, BufferError, Record, Topic};
use super::limit::Limits;
use super::metrics::IngestMetrics;
pub use super::rejection::{DEAD_LETTER_PAYLOAD_MAX, Rejection, dead_letter};

/// A reading that passed validation.
#[derive(Clone, Debug)]
pub struct Valid {
    /// Its sensor id (the Kafka key).
    pub sensor_id: String,
    /// The payload as received.
    pub payload: Vec<u8>,
    /// `application/json` or `application/x-protobuf`.
    pub content_type: &'static str,
}

/// Why a whole request was refused (nothing of it is kept).
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// Over a rate limit: retry after this long.
    RateLimited(Duration),
    /// The disk buffer is full (Kafka is slow or away): retry after this long.
    BufferFull(Duration),
    /// The buffer cannot write.
    Unavailable(String),
}

impl Refusal {
    /// Its error code, the same on every gateway.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RateLimited(_) => "rate_limited",
            Refusal::BufferFull(_) => "buffer_full",
            Refusal::Unavailable(_) => "unavailable",
        }
    }

    /// Whole seconds a client should wait (`Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Refusal::RateLimited(wait) | Refusal::BufferFull(wait) => {
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            }
            Refusal::Unavailable(_) => 5,
        }
        .max(1)
    }
}

/// Validates one payload (`content_type` as sent; `None` = sniff); a
/// valid one keeps the bytes.
pub fn validate(
    payload: Vec<u8>,
    content_type: Option<&str>,
    index: usize,
) -> Result<Valid, Rejection> {
    match decode(&payload, content_type) {
        Ok(reading) => Ok(Valid {
            sensor_id: reading.sensor_id.as_str().to_string(),
            payload,
            content_type: match reading.format {
                Format::Protobuf => "application/x-protobuf",
                Format::JsonV1 | Format::JsonV2 => "application/json",
            },
        }),
        Err(e) => Err(Rejection {
            index,
            field: e.field().to_string(),
            reason: e.reason().code().to_string(),
            detail: e.to_string(),
        }),
    }
}

/// One gateway's front door (cheap to clone).
#[derive(Clone)]
pub struct Gateway {
    name: &'static str,
    buffer: Buffer,
    limits: Arc<Limits>,
    metrics: Arc<IngestMetrics>,
}

impl Gateway {
    /// A gateway named `name` (`http`, `mqtt`, `grpc`: the metrics label).
    pub fn new(
        name: &'static str,
        buffer: Buffer,
        limits: Arc<Limits>,
        metrics: Arc<IngestMetrics>,
    ) -> Gateway {
        Gateway {
            name,
            buffer,
            limits,
            metrics,
        }
    }

    /// Counts rejected readings.
    pub fn rejected(&self, rejections: &[Rejection]) {
        for r in rejections {
            self.metrics.rejected(self.name, &r.reason);
        }
    }

    /// Takes `readings` of `device` (rate limits, then the buffer): all or none.
    pub async fn admit(&self, device: &str, readings: Vec<Valid>) -> Result<usize, Refusal> {
        let n = readings.len();
        if n == 0 {
            return Ok(0);
        }
        if let Err(wait) = self.limits.admit(device, n) {
            self.metrics.refused(self.name, "rate_limited", n);
            return Err(Refusal::RateLimited(wait));
        }
        let at = now_ms();
        let records = readings
            .into_iter()
            .map(|v| reading_record(v, at))
            .collect();
        self.append(records, n).await.map(|()| n)
    }

    /// Appends; counts `n` readings accepted, or every record refused.
    async fn append(&self, records: Vec<Record>, n: usize) -> Result<(), Refusal> {
        let total = records.len();
        match self.buffer.append(records).await {
            Ok(()) => {
                self.metrics.accepted(self.name, n);
                Ok(())
            }
            Err(BufferError::Full { .. }) => {
                self.metrics.refused(self.name, "buffer_full", total);
                Err(Refusal::BufferFull(Duration::from_secs(5)))
            }
            Err(BufferError::Io(e)) => {
                self.metrics.refused(self.name, "buffer_error", total);
                Err(Refusal::Unavailable(e))
            }
        }
    }

    /// Takes an MQTT batch: valid readings (rate-limited per sensor: `counts`)
    /// and dead letters (key, payload, source, why), in one append.
    pub async fn admit_mqtt(
        &self,
        readings: Vec<Valid>,
        counts: &std::collections::BTreeMap<String, usize>,
        dead: Vec<(String, Vec<u8>, String, Rejection)>,
    ) -> Result<(), Refusal> {
        let n = readings.len();
        if let Err(wait) = self.limits.admit_many(counts) {
            self.metrics.refused(self.name, "rate_limited", n);
            return Err(Refusal::RateLimited(wait));
        }
        let at = now_ms();
        let mut records: Vec<Record> = readings
            .into_iter()
            .map(|v| reading_record(v, at))
            .collect();
        let mut reasons = Vec::with_capacity(dead.len());
        for (key, payload, source, rejection) in dead {
            records.push(dead_letter(&key, payload, &source, &rejection, at));
            reasons.push(rejection.reason);
        }
        self.append(records, n).await?;
        for reason in &reasons {
            self.metrics.rejected(self.name, reason);
        }
        Ok(())
    }
}

/// A valid reading's record, stamped `at`.
fn reading_record(v: Valid, at: i64) -> Record {
    Record {
        topic: Topic::Readings,
        key: v.sensor_id.into_bytes(),
        timestamp_ms: at,
        content_type: v.content_type.to_string(),
        headers: Vec::new(),
        payload: v.payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_keeps_a_bounded_payload_and_its_size() {
        let rejection = Rejection {
            index: 0,
            field: "$".into(),
            reason: "too_large".into(),
            detail: "é".repeat(2_000),
        };
        let big = vec![b'x'; 2_000_000];
        let record = dead_letter("tmp-1", big, "mqtt:sensors/tmp-1/readings", &rejection, 7);
        assert_eq!(record.payload.len(), DEAD_LETTER_PAYLOAD_MAX);
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        };
        assert_eq!(header("x-weir-size").as_deref(), Some("2000000"));
        assert_eq!(header("x-weir-truncated").as_deref(), Some("true"));
        assert_eq!(header("x-weir-reason").as_deref(), Some("too_large"));
        assert!(header("x-weir-detail").is_some_and(|d| d.len() <= 1_024));
        let small = dead_letter("tmp-1", b"{}".to_vec(), "mqtt:x", &rejection, 7);
        assert_eq!(small.payload, b"{}");
        assert!(small.headers.iter().all(|(n, _)| n != "x-weir-size"));
    }
}
