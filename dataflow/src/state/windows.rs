//! A sensor's open tumbling windows (5 min and 1 h): count, sum, min, max.
//!
//! Readings are never retracted one by one: a window only grows until it
//! can no longer change, then it leaves memory as a unit (no shrinking
//! `-old,+new` ever reaches a sink).

use std::collections::BTreeMap;

use crate::records::{WindowAggregate, WindowSize};

#[derive(Clone, Copy, Debug, PartialEq)]
struct Agg {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

/// Open windows of one sensor.
#[derive(Clone, Debug, Default)]
pub struct SensorWindows {
    open: BTreeMap<(WindowSize, i64), Agg>,
}

impl SensorWindows {
    /// Adds a reading to both windows; returns, per window, the aggregate
    /// before (if the window existed) and after. Windows starting before
    /// `complete_from` are marked partial (see [`WindowAggregate::partial`]).
    pub fn add(
        &mut self,
        sensor_id: &str,
        ts: i64,
        value: f64,
        complete_from: Option<i64>,
    ) -> [(Option<WindowAggregate>, WindowAggregate); WindowSize::ALL.len()] {
        WindowSize::ALL.map(|size| {
            let start = size.start_of(ts);
            let make = |agg: &Agg| WindowAggregate {
                sensor_id: sensor_id.to_string(),
                size,
                start_ms: start,
                count: agg.count,
                sum: agg.sum,
                min: agg.min,
                max: agg.max,
                partial: complete_from.is_some_and(|from| start < from),
            };
            let entry = self.open.entry((size, start));
            let mut old = None;
            let agg = entry
                .and_modify(|agg| {
                    old = Some(make(agg));
                    agg.count += 1;
                    agg.sum += value;
                    agg.min = agg.min.min(value);
                    agg.max = agg.max.max(value);
                })
                .or_insert(Agg {
                    count: 1,
                    sum: value,
                    min: value,
                    max: value,
                });
            (old, make(agg))
        })
    }

    /// Forgets windows that end at or before `bound` (no reading that is not
    /// too late can fall into them any more).
    pub fn expire(&mut self, bound: i64) {
        self.open
            .retain(|(size, start), _| start.saturating_add(size.millis()) > bound);
    }

    /// Windows held.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no window is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_then_expire_as_a_unit() {
        let mut w = SensorWindows::default();
        let [(old5, new5), (old1h, new1h)] = w.add("s", 299_999, 2.0, None);
        assert!(old5.is_none() && old1h.is_none());
        assert_eq!((new5.start_ms, new5.count), (0, 1));
        let [(old5, new5), _] = w.add("s", 1_000, -1.0, None);
        assert_eq!(old5.map(|a| a.count), Some(1));
        assert_eq!(
            (new5.count, new5.sum, new5.min, new5.max),
            (2, 1.0, -1.0, 2.0)
        );
        assert_eq!(new1h.size, WindowSize::OneHour);
        let [(old5, new5), _] = w.add("s", 300_000, 5.0, None);
        assert!(old5.is_none());
        assert_eq!(new5.start_ms, 300_000);
        assert_eq!(w.len(), 3);
        w.expire(300_000); // the first 5-minute window ends at 300000
        assert_eq!(w.len(), 2);
        w.expire(3_600_000);
        assert!(w.is_empty());
    }
}
