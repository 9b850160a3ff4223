//! The `Publish` operator: each completed epoch's consolidated changes go
//! to the server's hot tier through the in-process [`Publisher`].
//!
//! ```text
//!  graph outputs ─(cluster: exchange to worker 0)─► Publish ─► Publisher ─► Hub
//! ```
//!
//! It publishes as soon as an epoch is complete, before the PostgreSQL
//! commit: live views do not wait for the database. In a cluster of
//! processes the server runs in process 0, so every output is exchanged to
//! worker 0 first (an update-stream tap, small next to the readings).

use std::collections::BTreeMap;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use weir_dataflow::graph::Outputs;
use weir_dataflow::records::{LatestState, OutputUpdates, Time, Update, ZoneIncident};
use weir_server::{Event, Publisher};

use crate::pipeline::complete_times;

fn sorted<D>(updates: &[Update<D>]) -> Vec<&Update<D>> {
    let mut order: Vec<&Update<D>> = updates.iter().collect();
    // Within a time, insertions first: a `-old` after `+new` leaves `new` in place.
    order.sort_by_key(|(_, t, d)| (*t, -*d));
    order
}

/// Turns one batch of completed epochs into hot-tier events.
pub fn events(batch: &OutputUpdates) -> Vec<Event> {
    let mut events = Vec::new();
    // Kafka record timestamp of each reading, for the latest state's latency.
    let mut ingest: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for (r, _, diff) in &batch.readings {
        if *diff > 0 {
            ingest.insert((r.sensor_id.as_str(), r.ts_ms), r.origin.record_ts_ms);
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
        let at = ingest.get(&(l.sensor_id.as_str(), l.ts_ms)).copied();
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
        let mut publisher = publisher;
        move |frontiers| {
            macro_rules! take {
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
            take!(readings, readings);
            take!(windows, windows);
            take!(latest, latest);
            take!(anomalies, anomalies);
            take!(incidents, incidents);
            take!(alerts, alert_events);
            let complete = complete_times(&stash, frontiers);
            if complete.is_empty() {
                return;
            }
            let mut batch = OutputUpdates::default();
            for time in complete {
                if let Some(part) = stash.remove(&time) {
                    batch.merge(part);
                }
            }
            if let Some(p) = &publisher
                && !p.publish(events(&batch))
            {
                // The server is gone (shutting down): stop publishing.
                publisher = None;
            }
        }
    });
}
