//! One sensor's hot points: at most one per `resolution` bucket (the latest
//! value in the bucket stands for it), only moving forward in event time,
//! kept for `retention` back from the newest point and at most `cap` long.

use std::collections::VecDeque;

/// (event time ms, value), oldest first.
pub type Points = VecDeque<(i64, f64)>;

/// Bytes one point takes.
pub const POINT_BYTES: usize = std::mem::size_of::<(i64, f64)>();

/// Growth step of a sensor's point buffer. A day at 10 s buckets is 8,640
/// points (135 KiB); growing 512 points (8 KiB) at a time instead of
/// doubling keeps the slack under 8 KiB per sensor (doubling left up to
/// half of a full day's buffer unused).
const POINTS_STEP: usize = 512;

/// How a sensor's points are kept.
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    /// Bucket width (ms): one point per bucket.
    pub resolution: i64,
    /// Span kept back from the newest point (ms).
    pub retention: i64,
    /// Most points kept.
    pub cap: usize,
}

/// Adds a point (see the module).
pub fn add(points: &mut Points, ts_ms: i64, value: f64, keep: Keep) {
    let resolution = keep.resolution.max(1);
    if points.len() == points.capacity() {
        points.reserve_exact(
            POINTS_STEP
                .min(keep.cap.saturating_sub(points.len()))
                .max(1),
        );
    }
    match points.back_mut() {
        // Same bucket: the latest value stands for it.
        Some(last) if last.0.div_euclid(resolution) == ts_ms.div_euclid(resolution) => {
            if ts_ms >= last.0 {
                *last = (ts_ms, value);
            }
        }
        // Late points are in PostgreSQL; the hot tier only moves forward.
        Some(last) if ts_ms < last.0 => {}
        _ => points.push_back((ts_ms, value)),
    }
    while points.front().is_some_and(|p| p.0 < ts_ms - keep.retention) || points.len() > keep.cap {
        points.pop_front();
    }
}

/// The points in `[from, to]`, if the series covers `from`: its oldest
/// point is at or before it, or it holds the whole retention span.
pub fn covering(points: &Points, from: i64, to: i64, keep: Keep) -> Option<Vec<(i64, f64)>> {
    let (first, last) = (points.front()?.0, points.back()?.0);
    let covers = first <= from || last - first >= keep.retention - keep.resolution;
    covers.then(|| {
        points
            .iter()
            .filter(|p| p.0 >= from && p.0 <= to)
            .copied()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Keep = Keep {
        resolution: 10_000,
        retention: 60_000,
        cap: 100,
    };

    #[test]
    fn one_point_per_bucket_the_latest_value_and_never_back() {
        let mut points = Points::new();
        add(&mut points, 1_000, 1.0, KEEP);
        add(&mut points, 9_000, 2.0, KEEP);
        add(&mut points, 5_000, 9.0, KEEP); // same bucket, earlier: ignored
        add(&mut points, 12_000, 3.0, KEEP);
        add(&mut points, 8_000, 9.0, KEEP); // an earlier bucket: late, ignored
        assert_eq!(points, Points::from([(9_000, 2.0), (12_000, 3.0)]));
    }

    #[test]
    fn retention_and_cap_bound_the_series() {
        let mut points = Points::new();
        for i in 0..10 {
            add(&mut points, i * 10_000, i as f64, KEEP);
        }
        // Newest at 90 s: points before 30 s are gone.
        assert_eq!(points.front(), Some(&(30_000, 3.0)));
        assert_eq!(points.len(), 7);
        let small = Keep { cap: 3, ..KEEP };
        let mut points = Points::new();
        for i in 0..5 {
            add(&mut points, i * 10_000, i as f64, small);
        }
        assert_eq!(
            points,
            Points::from([(20_000, 2.0), (30_000, 3.0), (40_000, 4.0)])
        );
    }

    #[test]
    fn a_range_is_answered_only_when_the_series_covers_its_start() {
        let mut points = Points::new();
        for i in 2..5 {
            add(&mut points, i * 10_000, i as f64, KEEP);
        }
        assert_eq!(
            covering(&points, 25_000, 40_000, KEEP),
            Some(vec![(30_000, 3.0), (40_000, 4.0)])
        );
        // Before its oldest point, and the series is shorter than retention.
        assert_eq!(covering(&points, 0, 40_000, KEEP), None);
        // A series spanning the whole retention covers anything.
        for i in 5..9 {
            add(&mut points, i * 10_000, i as f64, KEEP);
        }
        assert!(covering(&points, 0, 90_000, KEEP).is_some());
        assert_eq!(covering(&Points::new(), 0, 1, KEEP), None);
    }
}
