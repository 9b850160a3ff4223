//! Rolling statistics over a sensor's recent readings, queried by event time.
//!
//! A query asks for the moments of the samples with `ts` in `[t − h, t)`.
//! Readings mostly arrive in event-time order, so the common query (t beyond
//! every stored sample) is answered from running sums over a sliding
//! window in O(1) amortised; a query back in time (a late reading) sums the
//! range directly. Values are shifted by the sensor's first value so the
//! running sums stay small (no catastrophic cancellation for a 230 V signal
//! with 0.5 V noise), and the sums are recomputed from scratch periodically
//! so rounding cannot accumulate over a long run.

use std::collections::VecDeque;

/// Count, sum and sum of squares (of shifted values).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Samples.
    pub count: u64,
    sum: f64,
    sum_sq: f64,
    shift: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    fn remove(&mut self, x: f64) {
        self.count -= 1;
        self.sum -= x;
        self.sum_sq -= x * x;
    }

    /// Mean value, if any samples.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.shift + self.sum / self.count as f64)
    }

    /// Sample standard deviation (n − 1), if at least two samples.
    pub fn stddev(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let n = self.count as f64;
        let var = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
        Some(var.max(0.0).sqrt())
    }
}

/// How many running-sum removals before the sums are recomputed exactly.
const RECOMPUTE_EVERY: u32 = 8192;

/// Samples of one sensor, sorted by event time.
#[derive(Clone, Debug, Default)]
pub struct RollingStats {
    /// (ts, value), sorted by ts; equal ts keep insertion order. Sums are
    /// kept of the values shifted by `shift`.
    samples: VecDeque<(i64, f64)>,
    shift: Option<f64>,
    /// Running moments of `samples[lo..]`.
    lo: usize,
    run: Moments,
    removals: u32,
}

impl RollingStats {
    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no samples are held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Moments of the samples with `ts` in `[t − horizon, t)`.
    pub fn query(&mut self, t: i64, horizon: i64) -> Moments {
        let shift = self.shift.unwrap_or(0.0);
        let from = t.saturating_sub(horizon);
        let beyond_all = self.samples.back().is_none_or(|&(last, _)| last < t);
        let mut result = if beyond_all {
            // Slide the window's start forward; every stored sample is < t.
            while self.lo < self.samples.len() && self.samples[self.lo].0 < from {
                self.run.remove(self.samples[self.lo].1 - shift);
                self.lo += 1;
                self.removals += 1;
            }
            if self.removals >= RECOMPUTE_EVERY {
                self.recompute();
            }
            self.run
        } else {
            let start = self.samples.partition_point(|&(ts, _)| ts < from);
            let end = self.samples.partition_point(|&(ts, _)| ts < t);
            let mut m = Moments::default();
            for &(_, v) in self.samples.range(start..end) {
                m.add(v - shift);
            }
            m
        };
        result.shift = shift;
        result
    }

    /// Adds a sample.
    pub fn insert(&mut self, ts: i64, value: f64) {
        let shift = *self.shift.get_or_insert(value);
        let x = value - shift;
        let at = self.samples.partition_point(|&(s, _)| s <= ts);
        self.samples.insert(at, (ts, value));
        if at >= self.lo {
            self.run.add(x);
        } else {
            self.lo += 1;
        }
    }

    /// The value of the (first) sample at exactly `ts`, if one is held.
    pub fn value_at(&self, ts: i64) -> Option<f64> {
        let at = self.samples.partition_point(|&(s, _)| s < ts);
        self.samples
            .get(at)
            .filter(|(s, _)| *s == ts)
            .map(|(_, v)| *v)
    }

    /// Forgets every sample (the sensor's state is reset).
    pub fn clear(&mut self) {
        *self = RollingStats::default();
    }

    /// Drops samples with `ts < bound`.
    pub fn evict_before(&mut self, bound: i64) {
        let shift = self.shift.unwrap_or(0.0);
        while let Some(&(ts, v)) = self.samples.front() {
            if ts >= bound {
                break;
            }
            self.samples.pop_front();
            if self.lo > 0 {
                self.lo -= 1;
            } else {
                self.run.remove(v - shift);
                self.removals += 1;
            }
        }
        if self.samples.is_empty() {
            self.run = Moments::default();
            self.lo = 0;
        }
    }

    fn recompute(&mut self) {
        let shift = self.shift.unwrap_or(0.0);
        let mut m = Moments::default();
        for &(_, v) in self.samples.range(self.lo..) {
            m.add(v - shift);
        }
        self.run = m;
        self.removals = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(samples: &[(i64, f64)], t: i64, h: i64) -> (u64, Option<f64>, Option<f64>) {
        let xs: Vec<f64> = samples
            .iter()
            .filter(|(ts, _)| *ts >= t - h && *ts < t)
            .map(|(_, v)| *v)
            .collect();
        let n = xs.len();
        if n == 0 {
            return (0, None, None);
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (n >= 2).then(|| {
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
        });
        (n as u64, Some(mean), sd)
    }

    fn close(a: Option<f64>, b: Option<f64>, scale: f64) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * scale.max(1.0),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(crate::pinned::config(256))]
        /// Every query equals a recomputation from scratch over the samples
        /// inserted before it (mostly in order, some late, some evicted).
        #[test]
        fn queries_match_naive_recomputation(
            steps in prop::collection::vec((0i64..50, -3i64..=1, 200.0f64..260.0, any::<bool>()), 1..300),
            horizon in 1i64..400,
        ) {
            let mut stats = RollingStats::default();
            let mut kept: Vec<(i64, f64)> = Vec::new();
            let mut clock = 0i64;
            for (step, back, value, evict) in steps {
                // Mostly forward in time; `back < 0` makes a late sample.
                clock += step;
                let ts = clock + back * 20;
                let m = stats.query(ts, horizon);
                let (n, mean, sd) = naive(&kept, ts, horizon);
                prop_assert_eq!(m.count, n);
                prop_assert!(close(m.mean(), mean, 260.0), "{:?} vs {:?}", m.mean(), mean);
                prop_assert!(close(m.stddev(), sd, 260.0), "{:?} vs {:?}", m.stddev(), sd);
                stats.insert(ts, value);
                kept.push((ts, value));
                if evict {
                    let bound = clock - 2 * horizon;
                    stats.evict_before(bound);
                    kept.retain(|(t, _)| *t >= bound);
                }
                prop_assert_eq!(stats.len(), kept.len());
            }
        }
    }

    #[test]
    fn long_runs_stay_exact_for_large_offsets() {
        // 230 V ± 0.5 for a million samples through a 1000-sample window.
        let mut stats = RollingStats::default();
        let mut values = Vec::new();
        for i in 0..1_000_000i64 {
            let v = 230.0 + ((i * 7919) % 1000) as f64 / 1000.0 - 0.5;
            values.push(v);
            if i % 100_000 == 99_999 {
                let m = stats.query(i, 1000);
                let window = &values[values.len() - 1001..values.len() - 1];
                let mean = window.iter().sum::<f64>() / 1000.0;
                let sd = (window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 999.0).sqrt();
                assert!((m.mean().unwrap_or(0.0) - mean).abs() < 1e-9);
                assert!((m.stddev().unwrap_or(0.0) - sd).abs() < 1e-9);
            } else {
                stats.query(i, 1000);
            }
            stats.insert(i, v);
            stats.evict_before(i - 2000);
        }
        assert!(stats.len() <= 2001);
    }
}
