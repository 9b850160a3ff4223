//! Errors of this crate: why a record could not be decoded, and why a capacity plan could not be made.

use std::fmt;

/// Why one record (a reading or a sensor) was rejected.
///
/// It names the offending field (`"value"`, `"flags[3]"`, `"thresholds.warn_high"`, or `"$"` for
/// the payload as a whole), gives a bounded [`DecodeReason`] (the metric and DLQ label), and may
/// carry a free-form detail for humans. Bad records are data, not failures: callers route them to
/// the dead-letter queue with [`DecodeReason::code`] as the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}{}", DetailSuffix(.detail.as_deref()))]
pub struct DecodeError {
    field: String,
    reason: DecodeReason,
    detail: Option<String>,
}

impl DecodeError {
    /// An error about `field` (use `"$"` for the whole payload), without detail.
    pub fn new(field: impl Into<String>, reason: DecodeReason) -> Self {
        DecodeError {
            field: field.into(),
            reason,
            detail: None,
        }
    }

    /// Adds a human-readable detail, shown after the reason.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The offending field, as spelled in the payload's own format (`"$"` = the whole payload).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The bounded reason, see [`DecodeReason::code`].
    pub fn reason(&self) -> DecodeReason {
        self.reason
    }

    /// The human-readable detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The same error, reported against another field name (e.g. the key a payload actually used).
    pub(crate) fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

/// Formats `": detail"` when there is a detail, nothing otherwise.
struct DetailSuffix<'a>(Option<&'a str>);

impl fmt::Display for DetailSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

/// The bounded set of reasons a record is rejected; [`code`](Self::code) is its metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeReason {
    /// A required field is absent, null or empty.
    Missing,
    /// A field has the wrong JSON type (e.g. a string where a number is needed).
    WrongType,
    /// A number is NaN or infinite (including JSON literals `NaN`, `Infinity`, `1e999`).
    NotFinite,
    /// A number is outside its allowed range (timestamps, battery, thresholds).
    OutOfRange,
    /// A string is longer than its limit in bytes.
    TooLong,
    /// A list has more items than its limit.
    TooMany,
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES).
    TooLarge,
    /// A sensor id contains characters outside `[A-Za-z0-9._:-]`.
    InvalidChars,
    /// Bytes that must be text are not valid UTF-8.
    InvalidUtf8,
    /// A timestamp string is not RFC 3339.
    InvalidTimestamp,
    /// A JSON `schemaVersion` this build does not know.
    UnknownSchemaVersion,
    /// A content-type header this build does not know.
    UnknownContentType,
    /// Two spellings of one field disagree (`sensorId` vs `sensor_id`).
    Conflicting,
    /// The payload is not well-formed JSON.
    MalformedJson,
    /// The payload is not a well-formed protobuf `SensorReading`.
    MalformedProtobuf,
}

impl DecodeReason {
    /// Every reason, in declaration order (to pre-register metric labels).
    pub const ALL: [DecodeReason; 15] = [
        DecodeReason::Missing,
        DecodeReason::WrongType,
        DecodeReason::NotFinite,
        DecodeReason::OutOfRange,
        DecodeReason::TooLong,
        DecodeReason::TooMany,
        DecodeReason::TooLarge,
        DecodeReason::InvalidChars,
        DecodeReason::InvalidUtf8,
        DecodeReason::InvalidTimestamp,
        DecodeReason::UnknownSchemaVersion,
        DecodeReason::UnknownContentType,
        DecodeReason::Conflicting,
        DecodeReason::MalformedJson,
        DecodeReason::MalformedProtobuf,
    ];

    /// The snake_case label used in metrics (`weir_readings_rejected_total{reason}`) and DLQ headers.
    pub fn code(self) -> &'static str {
        match self {
            DecodeReason::Missing => "missing",
            DecodeReason::WrongType => "wrong_type",
            DecodeReason::NotFinite => "not_finite",
            DecodeReason::OutOfRange => "out_of_range",
            DecodeReason::TooLong => "too_long",
            DecodeReason::TooMany => "too_many",
            DecodeReason::TooLarge => "too_large",
            DecodeReason::InvalidChars => "invalid_chars",
            DecodeReason::InvalidUtf8 => "invalid_utf8",
            DecodeReason::InvalidTimestamp => "invalid_timestamp",
            DecodeReason::UnknownSchemaVersion => "unknown_schema_version",
            DecodeReason::UnknownContentType => "unknown_content_type",
            DecodeReason::Conflicting => "conflicting",
            DecodeReason::MalformedJson => "malformed_json",
            DecodeReason::MalformedProtobuf => "malformed_protobuf",
        }
    }

    /// A short human description, used by `Display`.
    fn describe(self) -> &'static str {
        match self {
            DecodeReason::Missing => "missing",
            DecodeReason::WrongType => "wrong type",
            DecodeReason::NotFinite => "not finite (NaN or infinite)",
            DecodeReason::OutOfRange => "out of range",
            DecodeReason::TooLong => "too long",
            DecodeReason::TooMany => "too many items",
            DecodeReason::TooLarge => "payload too large",
            DecodeReason::InvalidChars => "invalid characters",
            DecodeReason::InvalidUtf8 => "invalid UTF-8",
            DecodeReason::InvalidTimestamp => "invalid timestamp",
            DecodeReason::UnknownSchemaVersion => "unknown schema version",
            DecodeReason::UnknownContentType => "unknown content type",
            DecodeReason::Conflicting => "conflicting values",
            DecodeReason::MalformedJson => "malformed JSON",
            DecodeReason::MalformedProtobuf => "malformed protobuf",
        }
    }
}

impl fmt::Display for DecodeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why [`plan`](crate::plan) or [`parse_duration_ms`](crate::parse_duration_ms) rejected its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// A [`CapacityInput`](crate::CapacityInput) field is unusable.
    #[error("invalid `{field}`: {reason}")]
    InvalidInput {
        /// The field name, e.g. `"interval_ms"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration string could not be parsed.
    #[error("invalid duration `{input}`: {reason}")]
    InvalidDuration {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_field_reason_and_detail() {
        let e = DecodeError::new("value", DecodeReason::NotFinite);
        assert_eq!(e.to_string(), "field `value`: not finite (NaN or infinite)");
        let e = e.with_detail("literal `NaN`");
        assert_eq!(
            e.to_string(),
            "field `value`: not finite (NaN or infinite): literal `NaN`"
        );
        assert_eq!(e.field(), "value");
        assert_eq!(e.reason(), DecodeReason::NotFinite);
        assert_eq!(e.detail(), Some("literal `NaN`"));
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut codes: Vec<&str> = DecodeReason::ALL.iter().map(|r| r.code()).collect();
        assert!(codes.iter().all(|c| {
            c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DecodeReason::ALL.len());
    }
}
