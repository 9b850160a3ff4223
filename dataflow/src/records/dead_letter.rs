//! Dead letters: records that did not make it into the readings, each
//! with one [`DeadReason`], made storable whatever they hold.

use serde::{Deserialize, Serialize};

use super::Origin;
use crate::DecodeReason;

/// Why a record became a dead letter: its payload could not be decoded, or
/// a rule of the graph or the store refused it. The names are what
/// `dead_letters.reason`, the API's `reason` filter and the
/// `weir_dead_letters_total{reason}` metric carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// The payload is not a valid reading (the decoder's reason).
    Decode(DecodeReason),
    /// The record key is not the payload's sensor id.
    KeyMismatch,
    /// The value is outside the sensor's physical or valid range (the same
    /// name as the decoder's range check: one reason for an analyst).
    OutOfRange,
    /// A reading of the same sensor and timestamp was accepted with another value.
    DuplicateConflict,
    /// Older than the sensor's watermark minus the allowed lateness (stored, not aggregated).
    TooLate,
    /// PostgreSQL refused the row for its data (quarantined by the store).
    StoreRejected,
}

impl DeadReason {
    /// The reason's name (snake_case).
    pub fn name(self) -> &'static str {
        match self {
            DeadReason::Decode(reason) => reason.code(),
            DeadReason::KeyMismatch => "key_mismatch",
            DeadReason::OutOfRange => "out_of_range",
            DeadReason::DuplicateConflict => "duplicate_conflict",
            DeadReason::TooLate => "too_late",
            DeadReason::StoreRejected => "store_rejected",
        }
    }
}

/// A record that did not make it into the readings, with why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it came from.
    pub origin: Origin,
    /// The record key, as text (lossy).
    pub key: String,
    /// The raw payload.
    pub payload: Vec<u8>,
    /// Reason code: a [`DeadReason::name`] (`malformed_json`, `too_late`, …).
    pub reason: String,
    /// Human detail (field, bounds).
    pub detail: String,
}

/// Text as the store can hold it: NUL (which PostgreSQL's `text` and
/// `jsonb` refuse) becomes U+FFFD, and text longer than `max` bytes is cut
/// at a character boundary and marked with `…`. Everything from outside
/// that becomes text in an output passes through here (or is refused
/// earlier), so no record can stop the sink.
pub fn store_text(text: &str, max: usize) -> String {
    let mut out = if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text.to_string()
    };
    if out.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Longest dead-letter key kept, in bytes.
pub const MAX_DEAD_KEY_BYTES: usize = 256;
/// Longest dead-letter detail kept, in bytes.
pub const MAX_DETAIL_BYTES: usize = 2_048;

impl DeadLetter {
    /// A dead letter whose key (raw bytes, taken as UTF-8 lossily) and
    /// detail are made storable (see [`store_text`]).
    pub fn new(
        origin: Origin,
        key: &[u8],
        payload: Vec<u8>,
        reason: DeadReason,
        detail: &str,
    ) -> Self {
        DeadLetter {
            origin,
            key: store_text(&String::from_utf8_lossy(key), MAX_DEAD_KEY_BYTES),
            payload,
            reason: reason.name().to_string(),
            detail: store_text(detail, MAX_DETAIL_BYTES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_failure_has_one_name_whoever_finds_it() {
        assert_eq!(
            DeadReason::OutOfRange.name(),
            DeadReason::Decode(DecodeReason::OutOfRange).name()
        );
        assert_eq!(DeadReason::TooLate.name(), "too_late");
    }
}
