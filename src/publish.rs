//! The `Publish` operator: the graph's changes go to the server's hot tier
//! through the in-process [`Publisher`].
//!
//! ```text
//!  graph outputs ─(cluster: exchange to worker 0)─► Publish ─► Publisher ─► Hub
//! ```
//!
//! A sensor's own changes (its readings, latest state, windows and
//! anomalies) depend only on its partition, read in offset order, so they
//! are published as they arrive, without waiting for their epoch to
//! complete: waiting would make every push wait for the slowest of all
//! partitions. Zone incidents and alert events depend on every partition
//! (they are decided in clock order), so they are published once their
//! epoch is complete. Either way before the PostgreSQL commit: live views
//! do not wait for the database. In a cluster of processes the server runs
//! in process 0, so every output is exchanged to worker 0 first (an
//! update-stream tap, small next to the readings); the exchange keeps each
//! sender's order, and a sensor's changes all come from one worker.

use std::collections::{BTreeMap, HashMap};

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use weir_dataflow::graph::Outputs;
use weir_dataflow::records::{LatestState, OutputUpdates, Time, Update, ZoneIncident};
use weir_server::{Event, Publisher};

use weir_dataflow::operators::complete_times;

fn sorted<D>(updates: &[Update<D>]) -> Vec<&Update<D>> {
    let mut order: Vec<&Update<D>> = updates.iter().collect();
    // Within a time, insertions first: a `-old` after `+new` leaves `new` in place.
    order.sort_by_key(|(_, t, d)| (*t, -*d));
    order
}

/// Each sensor's newest published reading: (event time, Kafka record
/// timestamp), so its latest state carries the record timestamp even when
/// the two arrive in different batches.
pub type IngestStamps = HashMap<String, (i64, i64)>;

/// Turns one batch of changes into hot-tier events.
pub fn events(batch: &OutputUpdates, stamps: &mut IngestStamps) -> Vec<Event> {
    let mut events = Vec::new();
    for (r, _, diff) in &batch.readings {
        if *diff > 0 {
            let stamp = (r.ts_ms, r.origin.record_ts_ms);
            match stamps.get_mut(r.sensor_id.as_str()) {
                Some(held) if held.0 <= r.ts_ms => *held = stamp,
                Some(_) => {}
                None => {
                    stamps.insert(r.sensor_id.clone(), stamp);
                }
            }
            events.push(Event::Point {
                sensor_id: r.sensor_id.clone(),
                ts_ms: r.ts_ms,
                value: r.value,
            });
        }
    }
    let mut latest: BTreeMap<&str, &LatestState> = BTreeMap::new();
    for (l, _, diff) in sorted(&batch.latest) {
        if *diff > 0 {
            latest.insert(l.sensor_id.as_str(), l);
        }
    }
    for l in latest.into_values() {
        let at = stamps
            .get(l.sensor_id.as_str())
            .and_then(|&(ts, record)| (ts == l.ts_ms).then_some(record));
        events.push(Event::Latest(l.clone(), at));
    }
    let mut windows = BTreeMap::new();
    for (w, _, diff) in sorted(&batch.windows) {
        if *diff > 0 {
            windows.insert((w.sensor_id.as_str(), w.size, w.start_ms), w);
        }
    }
    events.extend(windows.into_values().map(|w| Event::Window(w.clone())));
    for (a, _, diff) in &batch.anomalies {
        if *diff > 0 {
            events.push(Event::Anomaly(a.clone()));
        }
    }
    for (e, _, diff) in &batch.alert_events {
        if *diff > 0 {
            events.push(Event::Alert(Box::new(e.clone())));
        }
    }
    // Incidents: the final state per (zone, start); a retraction not
    // replaced is a removal (two incidents merged).
    let mut incidents: BTreeMap<(&str, i64), (&ZoneIncident, bool)> = BTreeMap::new();
    for (i, _, diff) in sorted(&batch.incidents) {
        let key = (i.zone.as_str(), i.start_ms);
        match incidents.get(&key) {
            _ if *diff > 0 => {
                incidents.insert(key, (i, true));
            }
            Some((held, true)) if *held != i => {}
            _ => {
                incidents.insert(key, (i, false));
            }
        }
    }
    events.extend(
        incidents
            .into_values()
            .map(|(i, present)| Event::Incident(i.clone(), present)),
    );
    events
}

/// Attaches `Publish` to the graph's outputs (`publisher` is `None` on
/// workers that do not host the server: they only forward in a cluster).
pub fn publish(outputs: &Outputs<'_>, publisher: Option<Publisher>, to_worker_zero: bool) {
    fn route<'s, D: timely::ExchangeData>(
        stream: Stream<'s, Time, Vec<Update<D>>>,
        to_worker_zero: bool,
    ) -> Stream<'s, Time, Vec<Update<D>>> {
        if to_worker_zero {
            stream.exchange(|_| 0)
        } else {
            stream
        }
    }
    let scope = outputs.readings.scope();
    let mut builder = OperatorBuilder::new("Publish".to_owned(), scope);
    let mut readings = builder.new_input(route(outputs.readings.clone(), to_worker_zero), Pipeline);
    let mut windows = builder.new_input(route(outputs.windows.clone(), to_worker_zero), Pipeline);
    let mut latest = builder.new_input(route(outputs.latest.clone(), to_worker_zero), Pipeline);
    let mut anomalies =
        builder.new_input(route(outputs.anomalies.clone(), to_worker_zero), Pipeline);
    let mut incidents =
        builder.new_input(route(outputs.incidents.clone(), to_worker_zero), Pipeline);
    let mut alerts = builder.new_input(
        route(outputs.alert_events.clone(), to_worker_zero),
        Pipeline,
    );
    builder.build(move |_| {
        let mut stash: BTreeMap<Time, OutputUpdates> = BTreeMap::new();
        let mut stamps = IngestStamps::new();
        let mut publisher = publisher;
        move |frontiers| {
            let mut batch = OutputUpdates::default();
            // A sensor's own changes: as they arrive.
            macro_rules! now {
                ($input:ident, $field:ident) => {
                    $input.for_each(|_, data| {
                        if publisher.is_some() {
                            batch.$field.extend(data.drain(..));
                        } else {
                            data.clear();
                        }
                    });
                };
            }
            // Decisions over every partition: once their epoch is complete.
            macro_rules! complete {
                ($input:ident, $field:ident) => {
                    $input.for_each(|cap, data| {
                        let Some(&time) = cap.least() else { return };
                        if publisher.is_none() {
                            data.clear();
                            return;
                        }
                        stash.entry(time).or_default().$field.extend(data.drain(..));
                    });
                };
            }
            now!(readings, readings);
            now!(windows, windows);
            now!(latest, latest);
            now!(anomalies, anomalies);
            complete!(incidents, incidents);
            complete!(alerts, alert_events);
            for time in complete_times(&stash, frontiers) {
                if let Some(part) = stash.remove(&time) {
                    batch.merge(part);
                }
            }
            if batch.is_empty() {
                return;
            }
            if let Some(p) = &publisher
                && !p.publish(events(&batch, &mut stamps))
            {
                // The server is gone (shutting down): stop publishing.
                publisher = None;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use weir_dataflow::model::Format;
    use weir_dataflow::records::{Origin, StoredReading};

    use super::*;

    fn reading(ts_ms: i64, record_ts_ms: i64) -> StoredReading {
        StoredReading {
            sensor_id: "s-1".into(),
            ts_ms,
            value: 1.5,
            zone: "z".into(),
            flags: Vec::new(),
            format: Format::JsonV1,
            origin: Origin {
                partition: 0,
                offset: ts_ms,
                record_ts_ms,
                clock_ms: record_ts_ms,
            },
        }
    }

    fn latest(ts_ms: i64) -> LatestState {
        LatestState {
            sensor_id: "s-1".into(),
            zone: "z".into(),
            ts_ms,
            value: 1.5,
            mean: None,
            stddev: None,
            severity: None,
        }
    }

    fn stamp_of(events: &[Event]) -> Option<Option<i64>> {
        events.iter().find_map(|e| match e {
            Event::Latest(_, at) => Some(*at),
            _ => None,
        })
    }

    #[test]
    fn latest_carries_its_readings_record_time_across_batches() {
        let mut stamps = IngestStamps::new();
        let first = OutputUpdates {
            readings: vec![(reading(1_000, 1_005), 0, 1)],
            ..OutputUpdates::default()
        };
        let out = events(&first, &mut stamps);
        assert!(matches!(
            out.as_slice(),
            [Event::Point { ts_ms: 1_000, .. }]
        ));
        // A late reading (older event time) does not replace the newest.
        let late = OutputUpdates {
            readings: vec![(reading(400, 1_010), 1, 1)],
            ..OutputUpdates::default()
        };
        events(&late, &mut stamps);
        let second = OutputUpdates {
            latest: vec![(latest(1_000), 0, 1)],
            ..OutputUpdates::default()
        };
        assert_eq!(stamp_of(&events(&second, &mut stamps)), Some(Some(1_005)));
        // A latest state whose reading was never seen carries no stamp.
        let third = OutputUpdates {
            latest: vec![(latest(2_000), 2, 1)],
            ..OutputUpdates::default()
        };
        assert_eq!(stamp_of(&events(&third, &mut stamps)), Some(None));
    }

    #[test]
    fn within_a_batch_the_newest_latest_state_wins() {
        let mut stamps = IngestStamps::new();
        let batch = OutputUpdates {
            readings: vec![(reading(1_000, 1_001), 0, 1), (reading(2_000, 2_001), 1, 1)],
            latest: vec![
                (latest(1_000), 0, 1),
                (latest(1_000), 1, -1),
                (latest(2_000), 1, 1),
            ],
            ..OutputUpdates::default()
        };
        let out = events(&batch, &mut stamps);
        let latest: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                Event::Latest(l, at) => Some((l.ts_ms, *at)),
                _ => None,
            })
            .collect();
        assert_eq!(latest, vec![(2_000, Some(2_001))]);
    }
}
