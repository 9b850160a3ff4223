//! One zone's anomalies and the incidents they make.
//!
//! An anomaly of sensor *s* at `ts` makes *s* active over `[ts, ts + W)`.
//! An incident is a maximal event-time interval during which at least `T`
//! distinct sensors are active. Incidents are a pure function of the set of
//! anomalies, so they do not depend on the order anomalies arrive in; the
//! operator recomputes them when anomalies arrive and emits the difference.

use std::collections::{BTreeMap, BTreeSet};

use crate::records::ZoneIncident;

/// Incidents of `zone` from `anomalies` (ts, sensor), window `w`, threshold `t`.
pub fn incidents_of<'a>(
    zone: &str,
    anomalies: impl IntoIterator<Item = (i64, &'a str)>,
    w: i64,
    t: usize,
) -> Vec<ZoneIncident> {
    // Each sensor's active intervals, merged.
    let mut by_sensor: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (ts, sensor) in anomalies {
        by_sensor.entry(sensor).or_default().push(ts);
    }
    let mut intervals: Vec<(i64, i64, &str)> = Vec::new();
    for (sensor, mut times) in by_sensor {
        times.sort_unstable();
        let mut current: Option<(i64, i64)> = None;
        for ts in times {
            current = match current {
                Some((start, end)) if ts <= end => Some((start, end.max(ts + w))),
                Some(done) => {
                    intervals.push((done.0, done.1, sensor));
                    Some((ts, ts + w))
                }
                None => Some((ts, ts + w)),
            };
        }
        if let Some((start, end)) = current {
            intervals.push((start, end, sensor));
        }
    }
    // Sweep: at each time point apply ends, then starts, then look at the count.
    let mut points: BTreeMap<i64, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for &(start, end, sensor) in &intervals {
        points.entry(start).or_default().1.push(sensor);
        points.entry(end).or_default().0.push(sensor);
    }
    let mut active: BTreeSet<&str> = BTreeSet::new();
    let mut incidents = Vec::new();
    let mut open: Option<(i64, usize, BTreeSet<&str>)> = None;
    for (time, (ends, starts)) in points {
        for s in ends {
            active.remove(s);
        }
        for s in starts {
            active.insert(s);
        }
        match &mut open {
            Some((_, peak, members)) if active.len() >= t => {
                *peak = (*peak).max(active.len());
                members.extend(active.iter().copied());
            }
            Some(_) => {
                if let Some((start, peak, members)) = open.take() {
                    incidents.push(ZoneIncident {
                        zone: zone.to_string(),
                        start_ms: start,
                        end_ms: time,
                        peak_sensors: peak,
                        sensors: members.into_iter().map(str::to_string).collect(),
                    });
                }
            }
            None if active.len() >= t => {
                open = Some((time, active.len(), active.clone()));
            }
            None => {}
        }
    }
    incidents
}

/// One zone's retained anomalies and current incidents.
#[derive(Clone, Debug, Default)]
pub struct ZoneState {
    anomalies: BTreeSet<(i64, String)>,
    incidents: BTreeMap<i64, ZoneIncident>,
}

impl ZoneState {
    /// Adds an anomaly (idempotent for the same sensor and ts).
    pub fn add(&mut self, ts: i64, sensor: &str) {
        self.anomalies.insert((ts, sensor.to_string()));
    }

    /// Recomputes incidents; returns the changes as (before, after) pairs.
    pub fn refresh(
        &mut self,
        zone: &str,
        w: i64,
        t: usize,
    ) -> Vec<(Option<ZoneIncident>, Option<ZoneIncident>)> {
        let fresh: BTreeMap<i64, ZoneIncident> = incidents_of(
            zone,
            self.anomalies.iter().map(|(ts, s)| (*ts, s.as_str())),
            w,
            t,
        )
        .into_iter()
        .map(|i| (i.start_ms, i))
        .collect();
        let mut changes = Vec::new();
        for (start, old) in &self.incidents {
            match fresh.get(start) {
                Some(new) if new == old => {}
                Some(new) => changes.push((Some(old.clone()), Some(new.clone()))),
                None => changes.push((Some(old.clone()), None)),
            }
        }
        for (start, new) in &fresh {
            if !self.incidents.contains_key(start) {
                changes.push((None, Some(new.clone())));
            }
        }
        self.incidents = fresh;
        changes
    }

    /// Forgets what no future anomaly (none older than `bound`) can change:
    /// incidents that ended before the cut, and anomalies whose activity
    /// ended before it. The cut never passes the start of an incident that
    /// is still open at `bound`, so recomputation cannot clip one.
    pub fn expire(&mut self, bound: i64, w: i64) {
        let cut = self
            .incidents
            .values()
            .filter(|i| i.end_ms >= bound)
            .map(|i| i.start_ms)
            .min()
            .map_or(bound, |start| start.min(bound));
        self.incidents.retain(|_, i| i.end_ms >= cut);
        self.anomalies.retain(|(ts, _)| ts + w > cut);
    }

    /// Anomalies and incidents held.
    pub fn footprint(&self) -> (usize, usize) {
        (self.anomalies.len(), self.incidents.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_appears_at_the_fifth_sensor_and_ends_after_the_window() {
        let w = 60_000;
        let anomalies: Vec<(i64, String)> = (0..6).map(|i| (i * 1_000, format!("s{i}"))).collect();
        let four = incidents_of(
            "z",
            anomalies[..4].iter().map(|(t, s)| (*t, s.as_str())),
            w,
            5,
        );
        assert!(four.is_empty());
        let six = incidents_of("z", anomalies.iter().map(|(t, s)| (*t, s.as_str())), w, 5);
        assert_eq!(six.len(), 1);
        let incident = &six[0];
        assert_eq!(incident.start_ms, 4_000, "the fifth sensor's anomaly");
        // s0 stops being active at 60000: only 5 remain, still an incident;
        // s1 stops at 61000: 4 remain.
        assert_eq!(incident.end_ms, 61_000);
        assert_eq!(incident.peak_sensors, 6);
        assert_eq!(incident.sensors.len(), 6);
    }

    #[test]
    fn repeated_anomalies_of_one_sensor_count_once() {
        let anomalies: Vec<(i64, &str)> = (0..50).map(|i| (i * 100, "same")).collect();
        assert!(incidents_of("z", anomalies, 60_000, 2).is_empty());
    }

    #[test]
    fn order_of_arrival_does_not_matter_and_changes_are_diffs() {
        let mut forward = ZoneState::default();
        let mut backward = ZoneState::default();
        let events: Vec<(i64, String)> = (0..8).map(|i| (i * 5_000, format!("s{i}"))).collect();
        let mut changes = Vec::new();
        for (ts, s) in &events {
            forward.add(*ts, s);
            changes.extend(forward.refresh("z", 60_000, 5));
        }
        for (ts, s) in events.iter().rev() {
            backward.add(*ts, s);
            backward.refresh("z", 60_000, 5);
        }
        assert_eq!(forward.incidents, backward.incidents);
        // First appearance at the 5th sensor, then growth as -old,+new.
        assert_eq!(changes[0].0, None);
        assert_eq!(changes[0].1.as_ref().map(|i| i.start_ms), Some(20_000));
        assert!(
            changes[1..]
                .iter()
                .all(|(old, new)| old.is_some() && new.is_some())
        );
    }

    #[test]
    fn expiry_keeps_open_incidents_whole() {
        let mut zone = ZoneState::default();
        for i in 0..10 {
            zone.add(i * 10_000, &format!("s{}", i % 6));
        }
        zone.refresh("z", 60_000, 5);
        let before = zone.incidents.clone();
        assert_eq!(before.len(), 1);
        // A bound inside the incident: nothing it depends on may go.
        zone.expire(70_000, 60_000);
        assert!(zone.refresh("z", 60_000, 5).is_empty());
        assert_eq!(zone.incidents, before);
        // Past its end: it goes as a unit.
        zone.expire(1_000_000, 60_000);
        assert_eq!(zone.footprint(), (0, 0));
    }
}
