//! Why a reading was not accepted ([`Rejection`]), and the dead-letter
//! record that carries it to the dead-letter topic.

use serde::Serialize;

use super::buffer::frame::{Record, Topic};

/// Why a reading was not accepted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejection {
    /// Its position in the request (0 for a single reading).
    pub index: usize,
    /// The offending field (`$` = the whole payload).
    pub field: String,
    /// A bounded code (`malformed_json`, `not_finite`, `forbidden`, …).
    pub reason: String,
    /// What exactly.
    pub detail: String,
}

/// The most payload bytes a dead letter keeps: what weir accepts as a
/// reading at most. A larger payload is cut to this, its size kept in
/// `x-weir-size` and `x-weir-truncated: true`, so that no dead letter can
/// be larger than Kafka takes (a record the broker refuses would wait in
/// the buffer for ever).
pub const DEAD_LETTER_PAYLOAD_MAX: usize = weir_dataflow::MAX_PAYLOAD_BYTES;

/// A dead-letter record: the payload as received (cut to
/// [`DEAD_LETTER_PAYLOAD_MAX`]), the reason in headers.
pub fn dead_letter(
    key: &str,
    mut payload: Vec<u8>,
    source: &str,
    rejection: &Rejection,
    at: i64,
) -> Record {
    let size = payload.len();
    let mut headers = vec![
        (
            "x-weir-reason".into(),
            rejection.reason.clone().into_bytes(),
        ),
        (
            "x-weir-detail".into(),
            bounded(&rejection.detail, 1_024).into_bytes(),
        ),
        ("x-weir-source".into(), source.as_bytes().to_vec()),
    ];
    if size > DEAD_LETTER_PAYLOAD_MAX {
        payload.truncate(DEAD_LETTER_PAYLOAD_MAX);
        payload.shrink_to_fit();
        headers.push(("x-weir-size".into(), size.to_string().into_bytes()));
        headers.push(("x-weir-truncated".into(), b"true".to_vec()));
    }
    Record {
        topic: Topic::DeadLetters,
        key: key.as_bytes()[..key.len().min(1_024)].to_vec(),
        timestamp_ms: at,
        content_type: "application/octet-stream".into(),
        headers,
        payload,
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn bounded(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
