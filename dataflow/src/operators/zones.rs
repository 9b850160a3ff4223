//! Correlates anomalies per zone into incidents.
//!
//! ```text
//!  anomalies ──(exchange by zone)──► CorrelateZones ──► incidents (-old,+new)
//!                                    per-zone ZoneState
//! ```
//!
//! Anomalies are held until the input frontier passes their time, then
//! applied; incidents are a function of the set of anomalies (see
//! `ZoneState`), so the order in which partitions deliver them does not
//! matter. Only anomalies within `stale_after_ms` of their partition clock
//! take part (a reading from long ago says nothing about the zone now), so
//! once the frontier passes `F`, nothing older than `F − stale_after_ms` can
//! still arrive and state before that leaves memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::stable_hash;
use crate::config::DataflowConfig;
use crate::records::{Anomaly, Time, UNASSIGNED_ZONE, Update, ZoneIncident};
use crate::state::ZoneState;

/// Zone correlation.
pub trait CorrelateZones<'scope> {
    /// Zone incidents from anomalies.
    fn correlate_zones(
        self,
        config: DataflowConfig,
    ) -> Stream<'scope, Time, Vec<Update<ZoneIncident>>>;
}

impl<'scope> CorrelateZones<'scope> for Stream<'scope, Time, Vec<Update<Anomaly>>> {
    fn correlate_zones(
        self,
        config: DataflowConfig,
    ) -> Stream<'scope, Time, Vec<Update<ZoneIncident>>> {
        let by_zone = Exchange::new(|(a, _, _): &Update<Anomaly>| stable_hash(a.zone.as_bytes()));
        self.unary_frontier(by_zone, "CorrelateZones", move |_, _| {
            let mut zones: HashMap<String, ZoneState> = HashMap::new();
            let mut stash: BTreeMap<Time, (Capability<Time>, Vec<Anomaly>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    let entry = stash
                        .entry(time)
                        .or_insert_with(|| (cap.delayed(&time, 0), Vec::new()));
                    for (anomaly, _, diff) in data.flat_map(|d| d.drain(..)) {
                        if diff > 0 {
                            entry.1.push(anomaly);
                        }
                    }
                });
                let ready: Vec<Time> = stash
                    .keys()
                    .copied()
                    .take_while(|t| !frontier.less_equal(t))
                    .collect();
                let Some(&last) = ready.last() else {
                    return;
                };
                let mut dirty = BTreeSet::new();
                let mut last_cap = None;
                for time in ready {
                    if let Some((cap, anomalies)) = stash.remove(&time) {
                        for a in anomalies {
                            let current = a.origin.clock_ms.saturating_sub(config.stale_after_ms);
                            if a.zone == UNASSIGNED_ZONE || a.ts_ms < current {
                                continue;
                            }
                            zones
                                .entry(a.zone.clone())
                                .or_default()
                                .add(a.ts_ms, &a.sensor_id);
                            dirty.insert(a.zone);
                        }
                        last_cap = Some(cap);
                    }
                }
                if let Some(cap) = last_cap {
                    let mut session = output.session(&cap);
                    for zone in dirty {
                        if let Some(state) = zones.get_mut(&zone) {
                            let changes =
                                state.refresh(&zone, config.zone_window_ms, config.zone_threshold);
                            for (old, new) in changes {
                                if let Some(old) = old {
                                    session.give((old, last, -1));
                                }
                                if let Some(new) = new {
                                    session.give((new, last, 1));
                                }
                            }
                        }
                    }
                }
                if let Some(front) = frontier.frontier().iter().min() {
                    let bound = i64::try_from(*front)
                        .unwrap_or(i64::MAX)
                        .saturating_sub(config.stale_after_ms);
                    for state in zones.values_mut() {
                        state.expire(bound, config.zone_window_ms);
                    }
                    zones.retain(|_, s| s.footprint() != (0, 0));
                }
            }
        })
    }
}
