//! Offset gaps: records of a partition weir never read. Found while
//! reading (the broker handed over a later offset) or on resume (the
//! durable offset lies outside the log); never passed over silently: a gap
//! fails the run, or with `kafka.on_gap = "record"` is a `source_gaps` row.

use std::collections::BTreeMap;

use tracing::error;

use super::config::GapPolicy;
use crate::ConnectorError;

/// Records skipped between two offsets of a partition: what the store
/// records (`source_gaps`) when `kafka.on_gap = "record"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset missing.
    pub from: i64,
    /// First offset after the gap (where reading goes on).
    pub to: i64,
    /// `deleted` (below the log start, e.g. retention), `beyond_end` (the
    /// durable offset is past the log end: the topic was recreated or
    /// truncated) or `skipped` (the broker handed over a later offset).
    pub kind: &'static str,
}

/// What a restart finds when it compares the durable offsets of `topic`
/// with what the broker holds: `durable` below the log start (records
/// deleted before they were stored) or above the log end (the topic was
/// recreated or truncated). Each is a [`Gap`]; with `on_gap = "fail"` the
/// first is an error naming the partition, the offsets and what to do.
pub fn resume_gaps(
    policy: GapPolicy,
    topic: &str,
    durable: &BTreeMap<i32, i64>,
    watermarks: &BTreeMap<i32, (i64, i64)>,
) -> Result<Vec<Gap>, ConnectorError> {
    let mut gaps = Vec::new();
    for (&partition, &next) in durable {
        let Some(&(low, high)) = watermarks.get(&partition) else {
            continue;
        };
        let gap = if next < low {
            Gap {
                topic: topic.to_string(),
                partition,
                from: next,
                to: low,
                kind: "deleted",
            }
        } else if next > high {
            Gap {
                topic: topic.to_string(),
                partition,
                from: next,
                to: low,
                kind: "beyond_end",
            }
        } else {
            continue;
        };
        error!(
            topic,
            partition,
            durable = next,
            log_start = low,
            log_end = high,
            kind = gap.kind,
            "the durable offset is outside the log"
        );
        if policy == GapPolicy::Fail {
            return Err(gap_error(&gap));
        }
        gaps.push(gap);
    }
    Ok(gaps)
}

pub(super) fn gap_error(gap: &Gap) -> ConnectorError {
    let what = match gap.kind {
        "deleted" => format!(
            "records {}..{} were deleted from the log (retention?) before weir stored them",
            gap.from, gap.to
        ),
        "beyond_end" => format!(
            "the durable offset {} is past the log end: the topic was recreated or truncated, and reading would start again at {}",
            gap.from, gap.to
        ),
        _ => format!(
            "the broker handed over offset {} where {} was expected: records {}..{} were skipped",
            gap.to, gap.from, gap.from, gap.to
        ),
    };
    ConnectorError::Gap {
        topic: gap.topic.clone(),
        partition: gap.partition,
        detail: what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_offset_outside_the_log_is_a_gap() {
        let durable = BTreeMap::from([(0, 5), (1, 50), (2, 500)]);
        let marks = BTreeMap::from([(0, (0, 10)), (1, (20, 100)), (2, (0, 100))]);
        let fail = resume_gaps(GapPolicy::Fail, "t", &durable, &marks);
        assert!(
            matches!(&fail, Err(ConnectorError::Gap { partition: 2, .. })),
            "{fail:?}"
        );
        let marks = BTreeMap::from([(0, (0, 10)), (1, (60, 100)), (2, (0, 600))]);
        let gaps = resume_gaps(GapPolicy::Record, "t", &durable, &marks).unwrap_or_default();
        assert_eq!(
            gaps,
            [Gap {
                topic: "t".into(),
                partition: 1,
                from: 50,
                to: 60,
                kind: "deleted"
            }]
        );
    }
}
