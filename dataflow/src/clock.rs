//! The record-time clock that drives timely progress.
//!
//! Each partition's clock is the largest record timestamp read from it so
//! far, so it never goes back. A worker's input time is the minimum clock of
//! the partitions it owns (rounded down to the tick), and every record it
//! sends carries its own partition's clock. Progress is therefore a
//! statement about data ("every partition has been read up to record time
//! F"), which is what lets zone correlation and registry lookups be
//! deterministic. The one exception is a partition with nothing to read: its
//! clock advances to wall time minus a grace period, so an idle partition
//! does not stall the frontier (the rule exists because data is absent).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::records::Time;

/// Wall time in ms since 1970 (0 before it): the one reading of the wall
/// clock every crate shares (idle partitions, clamping, retention, stamps).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Clocks of the partitions one worker owns.
#[derive(Clone, Debug, Default)]
pub struct PartitionClocks {
    /// `None` until the partition has produced a record or gone idle.
    clocks: BTreeMap<i32, Option<i64>>,
    /// Partitions read to their end for good (bounded runs).
    finished: BTreeMap<i32, bool>,
    /// The largest record timestamp read per partition (no idle rule).
    records: BTreeMap<i32, i64>,
}

impl PartitionClocks {
    /// Clocks for `partitions`, all unknown.
    pub fn new(partitions: impl IntoIterator<Item = i32>) -> Self {
        let clocks: BTreeMap<i32, Option<i64>> =
            partitions.into_iter().map(|p| (p, None)).collect();
        let finished = clocks.keys().map(|p| (*p, false)).collect();
        PartitionClocks {
            clocks,
            finished,
            records: BTreeMap::new(),
        }
    }

    /// Notes a record of `partition` with `record_ts`; returns the partition's clock.
    pub fn observe(&mut self, partition: i32, record_ts: i64) -> i64 {
        let clock = self.clocks.entry(partition).or_insert(None);
        let next = clock.map_or(record_ts, |c| c.max(record_ts));
        *clock = Some(next);
        let record = self.records.entry(partition).or_insert(record_ts);
        *record = (*record).max(record_ts);
        next
    }

    /// The partition has nothing more to read right now: advance its clock to `now_minus_grace`.
    pub fn idle(&mut self, partition: i32, now_minus_grace: i64) {
        let clock = self.clocks.entry(partition).or_insert(None);
        *clock = Some(clock.map_or(now_minus_grace, |c| c.max(now_minus_grace)));
    }

    /// The partition will produce nothing more (end of a bounded run).
    pub fn finish(&mut self, partition: i32) {
        self.finished.insert(partition, true);
    }

    /// The clock of `partition`, if known.
    pub fn clock(&self, partition: i32) -> Option<i64> {
        self.clocks.get(&partition).copied().flatten()
    }

    /// The largest record timestamp read from `partition`, ignoring the
    /// idle rule: what offset ↔ time checkpoints record, so a restart's
    /// rewind is measured in record time even when the data is older than
    /// the wall clock (a backfill) and idle partitions followed wall time.
    pub fn record_clock(&self, partition: i32) -> Option<i64> {
        self.records.get(&partition).copied()
    }

    /// Whether every partition is finished.
    pub fn all_finished(&self) -> bool {
        self.finished.values().all(|f| *f)
    }

    /// The time the worker's input may advance to: the least clock of the
    /// unfinished partitions, rounded down to `tick`; `None` while one of
    /// them has no clock yet (or when all are finished: close the input).
    pub fn input_time(&self, tick: u64) -> Option<Time> {
        let mut least: Option<i64> = None;
        for (p, clock) in &self.clocks {
            if self.finished.get(p).copied().unwrap_or(false) {
                continue;
            }
            let c = (*clock)?;
            least = Some(least.map_or(c, |l| l.min(c)));
        }
        let least = Time::try_from(least?).unwrap_or(0);
        Some(least - least % tick.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_time_is_the_least_clock_and_never_goes_back() {
        let mut clocks = PartitionClocks::new([0, 3]);
        assert_eq!(clocks.input_time(10), None, "partition 3 unknown");
        assert_eq!(clocks.observe(0, 1_005), 1_005);
        clocks.idle(3, 900);
        assert_eq!(clocks.input_time(10), Some(900));
        assert_eq!(clocks.record_clock(3), None, "idle time is not record time");
        assert_eq!(clocks.record_clock(0), Some(1_005));
        assert_eq!(clocks.observe(3, 2_000), 2_000);
        assert_eq!(
            clocks.observe(3, 1_500),
            2_000,
            "a partition clock never decreases"
        );
        assert_eq!(clocks.input_time(10), Some(1_000));
        clocks.finish(0);
        assert_eq!(clocks.input_time(10), Some(2_000));
        clocks.finish(3);
        assert!(clocks.all_finished());
        assert_eq!(clocks.input_time(10), None);
    }
}
