//! Watermark alignment: a backlog read in bounded memory (see [`Sources::align`]).

use weir_dataflow::driver::Role;
use weir_dataflow::records::Time;

use super::Sources;
use crate::ConnectorError;

impl Sources {
    /// Watermark alignment: holds back the readings partitions whose clock runs
    /// more than `align_lead_ms` ahead of `frontier` (the readings inputs'
    /// frontier over every worker, i.e. the least partition clock) with
    /// more than `align_max_records` read past it, and resumes them once
    /// either is back within half. The lead keeps a live pipeline (every
    /// partition near now) from ever pausing; the record budget bounds what
    /// a backlog holds in memory whatever its density in record time. The
    /// least partition is never paused, so reading always goes on; while a
    /// partition has not delivered a record yet (the frontier cannot move),
    /// the others stop once past their budget. Idle partitions follow wall
    /// time and are not held back. Returns how many partitions are held back.
    ///
    /// Held back, not paused: librdkafka's pause throws away what it had
    /// fetched for the partition, and on Tansu, where each fetch scans the
    /// partition to its end, fetching it again is what a deep backlog cannot
    /// afford. A held-back partition's queue is simply not read; once it
    /// holds `queued.min.messages` records librdkafka stops fetching it.
    pub fn align(&mut self, frontier: Option<Time>) -> Result<usize, ConnectorError> {
        let (lead, budget) = (
            self.reader.rules.align_lead_ms,
            self.reader.rules.align_max_records,
        );
        let Some(index) = self
            .reader
            .topics
            .iter()
            .position(|t| t.role == Role::Readings)
        else {
            return Ok(0);
        };
        if lead <= 0 {
            return Ok(0);
        }
        let floor = frontier.map_or(0, |f| i64::try_from(f).unwrap_or(i64::MAX));
        let state = &mut self.reader.topics[index];
        for &p in &state.partitions {
            let Some(clock) = state.clocks.record_clock(p) else {
                continue;
            };
            // Records read past the frontier: those after the last mark at or below it.
            let marks = state.marks.entry(p).or_default();
            while let Some(&(at, count)) = marks.front() {
                if at > floor {
                    break;
                }
                state.passed.insert(p, count);
                marks.pop_front();
            }
            let base = state.passed.get(&p).copied().unwrap_or(0);
            let ahead_records = state
                .read
                .get(&p)
                .copied()
                .unwrap_or(0)
                .saturating_sub(base);
            let ahead_ms = clock.saturating_sub(floor);
            let paused = state.paused.contains(&p);
            let idle = state.idle.contains(&p);
            if !paused && !idle && ahead_ms > lead && ahead_records > budget {
                state.paused.insert(p);
            } else if paused && (ahead_ms <= lead / 2 || ahead_records <= budget / 2) {
                state.paused.remove(&p);
            }
            // What it may read before the next look: nothing while held
            // back, the budget left while ahead, no limit within the lead.
            if state.paused.contains(&p) {
                state.allowance.insert(p, 0);
            } else if !idle && ahead_ms > lead {
                state
                    .allowance
                    .insert(p, budget.saturating_sub(ahead_records));
            } else {
                state.allowance.remove(&p);
            }
        }
        Ok(self.reader.topics[index].paused.len())
    }
}
