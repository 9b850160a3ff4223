//! Applies the alert policy past one sensor: zone grouping, inhibition,
//! silences and acknowledgements (see `AlertBook`).
//!
//! ```text
//!  transitions ──(exchange by zone)──┐
//!                                    ├─► ApplyAlertPolicy ──► alert events (+1)
//!  control ──(broadcast)─────────────┘   AlertBook per worker
//! ```
//!
//! A transition is applied once no transition with a smaller clock can
//! still arrive (the input frontier has passed its clock: a record's clock
//! is at least its timely time, and timely times depend on the cluster
//! shape, clocks do not) and every control record it may see has arrived
//! (the control frontier has passed its clock minus `reference_delay_ms`).
//! Ready transitions are applied in (clock, event time, sensor, kind,
//! partition, offset) order, acks and silence ends falling between them by
//! their clocks, so the decisions depend on the data alone. The operator
//! keeps one capability at its input frontier for the acks and silence
//! ends that come due when no transition follows. The control input does
//! not hold the output back (held transitions do).

use std::collections::{BTreeMap, HashMap};

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::progress::Antichain;

use super::stable_hash;
use crate::config::{AlertPolicy, DataflowConfig};
use crate::records::{
    AlertEvent, AlertEventKind, AlertState, AlertTransition, ControlRecord, Time, Update,
};
use crate::state::{AlertBook, AlertSeed};

/// The alert policy.
pub trait ApplyAlertPolicy<'scope> {
    /// Alert events from sensor transitions and control records.
    fn apply_alert_policy(
        self,
        control: Stream<'scope, Time, Vec<ControlRecord>>,
        config: DataflowConfig,
        policy: AlertPolicy,
        seed: std::sync::Arc<AlertSeed>,
    ) -> Stream<'scope, Time, Vec<Update<AlertEvent>>>;
}

impl<'scope> ApplyAlertPolicy<'scope> for Stream<'scope, Time, Vec<AlertTransition>> {
    fn apply_alert_policy(
        self,
        control: Stream<'scope, Time, Vec<ControlRecord>>,
        config: DataflowConfig,
        policy: AlertPolicy,
        seed: std::sync::Arc<AlertSeed>,
    ) -> Stream<'scope, Time, Vec<Update<AlertEvent>>> {
        let scope = self.scope();
        let index = scope.index();
        let peers = scope.peers();
        let mut builder = OperatorBuilder::new("ApplyAlertPolicy".to_owned(), scope);
        let by_zone = Exchange::new(|t: &AlertTransition| stable_hash(t.zone.as_bytes()));
        let mut transitions = builder.new_input(self, by_zone);
        let mut control = builder.new_input(control.broadcast(), Pipeline);
        let (events, events_stream) = builder.new_output_connection([(0, Antichain::from_elem(0))]);
        let mut events = OutputBuilder::from(events);
        let delay = config.reference_delay_ms;
        builder.build(move |mut initial| {
            let mut book = AlertBook::default();
            // Open alerts of the zones this worker owns, from the store.
            book.seed(
                seed.open
                    .iter()
                    .filter(|a| stable_hash(a.zone.as_bytes()) as usize % peers == index)
                    .cloned(),
                &policy,
            );
            let mut held: Option<Capability<Time>> = initial.pop();
            // Transitions not applied yet, with their timely time; and a
            // capability per time that still has some.
            let mut pending: Vec<(Time, AlertTransition)> = Vec::new();
            let mut caps: BTreeMap<Time, Capability<Time>> = BTreeMap::new();
            // The time of each open alert's latest event.
            let mut after: HashMap<String, Time> = HashMap::new();
            move |frontiers| {
                control.for_each(|_, data| {
                    for record in data.drain(..) {
                        book.control(record, delay);
                    }
                });
                transitions.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    caps.entry(time).or_insert_with(|| cap.delayed(&time, 0));
                    pending.extend(data.drain(..).map(|t| (time, t)));
                });
                let clock = |t: Option<&Time>| {
                    t.map_or(i64::MAX, |t| i64::try_from(*t).unwrap_or(i64::MAX))
                };
                // Every transition with a clock below `limit` has arrived (a
                // record's clock is at least its timely time), and so has
                // every control record it may see.
                let input_at = clock(frontiers[0].frontier().iter().min());
                let controls_at = clock(frontiers[1].frontier().iter().min());
                let limit = input_at.min(controls_at.saturating_add(delay));
                let (mut ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut pending)
                    .into_iter()
                    .partition(|(_, t)| t.origin.clock_ms < limit);
                pending = waiting;
                ready.sort_by(|(_, a), (_, b)| {
                    (
                        a.origin.clock_ms,
                        a.ts_ms,
                        &a.sensor_id,
                        a.kind,
                        a.origin.partition,
                        a.origin.offset,
                    )
                        .cmp(&(
                            b.origin.clock_ms,
                            b.ts_ms,
                            &b.sensor_id,
                            b.kind,
                            b.origin.partition,
                            b.origin.offset,
                        ))
                });
                let mut out = events.activate();
                for (time, t) in &ready {
                    let Some(cap) = caps.get(time) else { continue };
                    let mut decided = book.advance(t.origin.clock_ms);
                    decided.extend(book.transition(t, &policy));
                    for event in decided {
                        // An alert's events go out in the order they were
                        // decided, never at an earlier time than the one
                        // before (a store keeps the last of each alert).
                        let id = &event.alert.alert_id;
                        let at = after.get(id).map_or(*time, |last| (*last).max(*time));
                        if event.alert.state == AlertState::Resolved {
                            after.remove(id);
                        } else if event.event != AlertEventKind::Suppressed {
                            after.insert(id.clone(), at);
                        }
                        out.session(&cap.delayed(&at)).give((event, at, 1));
                    }
                }
                caps.retain(|time, _| pending.iter().any(|(t, _)| t == time));
                // Acks and silence ends up to `done` fall before anything still to come.
                let done = pending
                    .iter()
                    .map(|(_, t)| t.origin.clock_ms)
                    .min()
                    .unwrap_or(i64::MAX)
                    .min(limit);
                let input_done = frontiers[0].frontier().iter().min().copied();
                match (held.as_mut(), input_done) {
                    (Some(cap), Some(at)) => {
                        if *cap.time() < at {
                            cap.downgrade(&at);
                        }
                        for event in book.advance(done.saturating_sub(1)) {
                            let id = &event.alert.alert_id;
                            let at = after
                                .get(id)
                                .map_or(*cap.time(), |last| (*last).max(*cap.time()));
                            if event.alert.state == AlertState::Resolved {
                                after.remove(id);
                            } else {
                                after.insert(id.clone(), at);
                            }
                            out.session(&cap.delayed(&at)).give((event, at, 1));
                        }
                    }
                    // The input is over: nothing more can follow.
                    (_, None) => held = None,
                    (None, Some(_)) => {}
                }
            }
        });
        events_stream
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::{AlertPolicy, DataflowConfig};
    use crate::harness::{Collected, Input, Options, run};
    use crate::records::{
        Ack, AlertEvent, AlertEventKind, AlertKind, AlertScope, Control, ControlRecord, Level,
        Origin, RegistryRecord, Silence, SourceRecord, Status,
    };
    use crate::{Sensor, SensorId, SensorKind, Thresholds, ValidRange};

    const T0: i64 = 1_764_000_000_000;
    const S: i64 = 1_000;
    const MIN: i64 = 60_000;

    fn sensor(id: &str, zone: &str) -> RegistryRecord {
        let sensor = Sensor {
            sensor_id: SensorId::new(id).unwrap_or_else(|e| panic!("{e}")),
            kind: SensorKind::TEMPERATURE,
            location: String::new(),
            zone: zone.into(),
            unit: "°C".into(),
            thresholds: Thresholds {
                crit_high: Some(50.0),
                ..Thresholds::default()
            },
            valid_range: ValidRange {
                min: -50.0,
                max: 200.0,
            },
            valid_from_ms: None,
            expected_interval_ms: None,
        };
        RegistryRecord {
            sensor_id: id.into(),
            sensor: Some(sensor),
            record_ts_ms: T0 - 3_600_000,
            clock_ms: T0 - 3_600_000,
        }
    }

    /// One reading of `id` every 10 s over `[from, to)`: `value(ts)`.
    fn readings(
        partition: i32,
        id: &str,
        from: i64,
        to: i64,
        value: impl Fn(i64) -> f64,
    ) -> Vec<SourceRecord> {
        (0..)
            .map(|i| from + i * 10 * S)
            .take_while(|ts| *ts < to)
            .map(|ts| SourceRecord {
                origin: Origin {
                    partition,
                    offset: 0,
                    record_ts_ms: ts + 20,
                    clock_ms: 0,
                },
                key: id.as_bytes().to_vec(),
                payload: format!(
                    r#"{{"sensorId":"{id}","timestamp":{ts},"value":{}}}"#,
                    value(ts)
                )
                .into_bytes(),
                content_type: None,
                clock_skewed: false,
            })
            .collect()
    }

    /// Numbers offsets per partition in record-time order.
    fn numbered(mut records: Vec<SourceRecord>) -> Vec<SourceRecord> {
        records.sort_by_key(|r| (r.origin.partition, r.origin.record_ts_ms));
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for r in &mut records {
            let n = next.entry(r.origin.partition).or_default();
            r.origin.offset = *n;
            *n += 1;
        }
        records
    }

    fn control(control: Control, clock: i64, offset: i64) -> ControlRecord {
        ControlRecord {
            control,
            origin: Origin {
                partition: 0,
                offset,
                record_ts_ms: clock,
                clock_ms: clock,
            },
        }
    }

    fn events(workers: usize, input: Input, policy: &AlertPolicy) -> Vec<AlertEvent> {
        let options = Options {
            batch: 7,
            alerts: policy.clone(),
            ..Options::default()
        };
        let out: Collected = run(
            timely::Config::process(workers),
            DataflowConfig::default(),
            input,
            options,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut events: Vec<AlertEvent> = out
            .alert_events
            .iter()
            .map(|(e, _, d)| {
                assert_eq!(*d, 1, "alert events are only ever added");
                e.clone()
            })
            .collect();
        events.sort_by(|a, b| (a.ts_ms, &a.event_id).cmp(&(b.ts_ms, &b.event_id)));
        events
    }

    fn summary(events: &[AlertEvent]) -> Vec<(String, &'static str, i64, bool)> {
        events
            .iter()
            .map(|e| {
                let who = e
                    .alert
                    .sensor_id
                    .clone()
                    .unwrap_or_else(|| e.alert.zone.clone());
                (who, e.event.name(), (e.ts_ms - T0) / S, e.deliver)
            })
            .collect()
    }

    /// The same events, whatever the number of workers.
    fn on_every_shape(input: &Input, policy: &AlertPolicy) -> Vec<AlertEvent> {
        let one = events(1, input.clone(), policy);
        for workers in [2, 3] {
            assert_eq!(
                one,
                events(workers, input.clone(), policy),
                "{workers} workers decide differently"
            );
        }
        one
    }

    #[test]
    fn a_stuck_sensor_fires_escalates_resolves_and_cools_down() {
        let stuck = |ts: i64| {
            let t = ts - T0;
            // 100 readings stuck high, 10 minutes normal, stuck again at
            // 1,400 s (in the cooldown after resolution) until 1,700 s.
            if (0..1_000 * S).contains(&t) || (1_400 * S..1_700 * S).contains(&t) {
                99.0
            } else {
                20.0 + (ts / 10_000 % 3) as f64 * 0.1
            }
        };
        let input = Input {
            readings: numbered(readings(0, "co-1", T0 - 30 * MIN, T0 + 2_000 * S, stuck)),
            registry: vec![sensor("co-1", "z1")],
            control: Vec::new(),
            partitions: 1,
        };
        let events = on_every_shape(&input, &AlertPolicy::default());
        let s = |who: &str, e: &'static str, t: i64, d: bool| (who.to_string(), e, t, d);
        assert_eq!(
            summary(&events),
            vec![
                s("co-1", "fired", 0, true),
                s("co-1", "escalated", 600, true),
                s("co-1", "resolved", 1_290, true),
                s("co-1", "suppressed", 1_400, false),
                s("co-1", "fired", 1_590, true),
                s("co-1", "resolved", 1_990, true),
            ]
        );
        assert_eq!(events[1].alert.level, Level::Page);
        assert_eq!(
            events[2].alert.occurrences, 100,
            "one alert for 100 readings"
        );
        assert_eq!(events[0].alert.kind, AlertKind::ThresholdHigh);
    }

    #[test]
    fn six_sensors_of_a_zone_make_one_grouped_alert() {
        let mut records = Vec::new();
        let mut registry = Vec::new();
        for i in 0..6i64 {
            let id = format!("tmp-{i}");
            registry.push(sensor(&id, "tunnel"));
            // Sensor i goes high at i × 10 s and stays there.
            records.extend(readings(
                (i % 3) as i32,
                &id,
                T0 - 20 * MIN + i * S,
                T0 + 5 * MIN,
                move |ts| if ts >= T0 + i * 10 * S { 99.0 } else { 20.0 },
            ));
        }
        let input = Input {
            readings: numbered(records),
            registry,
            control: Vec::new(),
            partitions: 3,
        };
        let events = on_every_shape(&input, &AlertPolicy::default());
        let zone: Vec<&AlertEvent> = events
            .iter()
            .filter(|e| e.alert.scope == AlertScope::Zone)
            .collect();
        let fired: Vec<&AlertEvent> = zone
            .iter()
            .copied()
            .filter(|e| e.event == AlertEventKind::Fired)
            .collect();
        assert_eq!(fired.len(), 1, "one zone alert: {:#?}", summary(&events));
        assert!(fired[0].deliver);
        let last = zone.last().map(|e| &e.alert.members);
        let all: Vec<String> = (0..6).map(|i| format!("tmp-{i}")).collect();
        assert_eq!(last, Some(&all), "the zone alert lists all six");
        // The first four were delivered, then folded in; the rest inhibited.
        for i in 0..6 {
            let id = format!("tmp-{i}");
            let mine: Vec<(&'static str, bool)> = events
                .iter()
                .filter(|e| e.alert.sensor_id.as_deref() == Some(id.as_str()))
                .map(|e| (e.event.name(), e.deliver))
                .collect();
            let expected = if i < 4 {
                vec![("fired", true), ("grouped", false)]
            } else {
                vec![("inhibited", false)]
            };
            assert_eq!(mine, expected, "{id}");
        }
        // Escalation of the members (10 minutes) is not reached in 5 minutes.
        assert!(events.iter().all(|e| e.alert.level == Level::Notify));
    }

    #[test]
    fn a_silent_sensor_fires_escalates_and_resolves_when_it_reports_again() {
        // tmp-a sends nothing from T0 to T0 + 15 min; tmp-b, on the other
        // partition, keeps the clocks going.
        let mut records = readings(0, "tmp-a", T0 - 30 * MIN, T0, |_| 20.0);
        records.extend(readings(0, "tmp-a", T0 + 15 * MIN, T0 + 30 * MIN, |_| 20.0));
        records.extend(readings(1, "tmp-b", T0 - 30 * MIN, T0 + 30 * MIN, |_| 20.0));
        let input = Input {
            readings: numbered(records),
            registry: vec![sensor("tmp-a", "z1"), sensor("tmp-b", "z2")],
            control: Vec::new(),
            partitions: 2,
        };
        let policy = AlertPolicy {
            silent_after_ms: 2 * MIN,
            ..AlertPolicy::default()
        };
        let events = on_every_shape(&input, &policy);
        let s = |who: &str, e: &'static str, t: i64, d: bool| (who.to_string(), e, t, d);
        // Its last reading was at T0 - 10 s (read at clock + 20 ms): silent
        // from 110 s (decided on clocks, reported in event time), a page 10
        // minutes later, resolved by the reading at 15 min.
        assert_eq!(
            summary(&events),
            vec![
                s("tmp-a", "fired", 110, true),
                s("tmp-a", "escalated", 710, true),
                s("tmp-a", "resolved", 900, true),
            ]
        );
        assert!(events.iter().all(|e| e.alert.kind == AlertKind::Silent));
        assert_eq!(
            events[0].alert.alert_id,
            crate::state::alert_id("tmp-a", AlertKind::Silent, T0 + 110 * S)
        );
        assert_eq!(events[1].alert.level, Level::Page);
        // Nothing when it is off (the default), or for a heartbeat sensor.
        assert!(on_every_shape(&input, &AlertPolicy::default()).is_empty());
        let mut heartbeat = input.clone();
        for record in &mut heartbeat.registry {
            if let Some(sensor) = &mut record.sensor {
                sensor.kind = SensorKind::HEARTBEAT;
                sensor.valid_range = SensorKind::HEARTBEAT
                    .physical_range()
                    .unwrap_or(ValidRange::WIDEST);
            }
        }
        assert!(on_every_shape(&heartbeat, &policy).is_empty());
    }

    #[test]
    fn a_zone_gone_quiet_is_one_zone_alert_and_the_registry_interval_sets_the_limit() {
        let mut records = Vec::new();
        let mut registry = Vec::new();
        for i in 0..6i64 {
            let id = format!("tmp-{i}");
            let mut record = sensor(&id, "tunnel");
            if let Some(sensor) = &mut record.sensor {
                // Every 10 s: silent after 5 intervals (the default multiple).
                sensor.expected_interval_ms = Some(10 * S);
            }
            registry.push(record);
            let partition = (i % 3) as i32;
            let from = T0 - 20 * MIN + i * S;
            records.extend(readings(partition, &id, from, T0, |_| 20.0));
            records.extend(readings(
                partition,
                &id,
                from + 30 * MIN,
                T0 + 40 * MIN,
                |_| 20.0,
            ));
            // Another zone keeps every partition's clock going.
            let other = format!("air-{i}");
            registry.push(sensor(&other, "portal"));
            records.extend(readings(
                partition,
                &other,
                T0 - 20 * MIN,
                T0 + 40 * MIN,
                |_| 5.0,
            ));
        }
        let input = Input {
            readings: numbered(records),
            registry,
            control: Vec::new(),
            partitions: 3,
        };
        let events = on_every_shape(&input, &AlertPolicy::default());
        let zone: Vec<(&'static str, i64)> = events
            .iter()
            .filter(|e| e.alert.scope == AlertScope::Zone)
            .map(|e| (e.event.name(), (e.ts_ms - T0) / S))
            .filter(|(e, _)| *e != "updated")
            .collect();
        // Silent 50 s after each last reading (T0 - 10 s + i s): the fifth
        // silence, at 44 s, makes one zone alert, which resolves with its
        // last member when they report again at 10 min.
        assert_eq!(zone[0], ("fired", 44), "{:#?}", summary(&events));
        assert_eq!(zone.last().map(|(e, _)| *e), Some("resolved"));
        assert_eq!(
            zone.iter().filter(|(e, _)| *e == "fired").count(),
            1,
            "{:#?}",
            summary(&events)
        );
        let delivered_fires = events
            .iter()
            .filter(|e| e.event == AlertEventKind::Fired && e.deliver)
            .count();
        assert_eq!(delivered_fires, 5, "four members, then the zone alert");
        assert!(
            events
                .iter()
                .filter(|e| e.alert.scope == AlertScope::Sensor)
                .all(|e| e.alert.kind == AlertKind::Silent && e.alert.zone == "tunnel")
        );
    }

    #[test]
    fn silences_hold_delivery_until_they_end_and_acks_stop_escalation() {
        let mut records = readings(0, "tmp-a", T0 - 30 * MIN, T0 + 20 * MIN, |ts| {
            if ts >= T0 + MIN { 99.0 } else { 20.0 }
        });
        records.extend(readings(1, "tmp-b", T0 - 30 * MIN, T0 + 20 * MIN, |ts| {
            if ts >= T0 + MIN { 99.0 } else { 20.0 }
        }));
        let silence = Silence {
            id: "s-1".into(),
            sensor_id: None,
            zone: Some("quiet".into()),
            kind: None,
            starts_ms: T0,
            ends_ms: T0 + 8 * MIN,
            author: "ops".into(),
            comment: "maintenance".into(),
        };
        let ack = Ack {
            alert_id: crate::state::alert_id("tmp-b", AlertKind::ThresholdHigh, T0 + MIN),
            author: "alice".into(),
            comment: "on it".into(),
        };
        let input = Input {
            readings: numbered(records),
            registry: vec![sensor("tmp-a", "quiet"), sensor("tmp-b", "loud")],
            control: vec![
                control(Control::Silence(silence), T0 - MIN, 0),
                control(Control::Ack(ack), T0 + 2 * MIN, 1),
            ],
            partitions: 2,
        };
        let events = on_every_shape(&input, &AlertPolicy::default());
        let s = |who: &str, e: &'static str, t: i64, d: bool| (who.to_string(), e, t, d);
        let of = |id: &str| -> Vec<(String, &'static str, i64, bool)> {
            summary(&events)
                .into_iter()
                .filter(|(who, ..)| who == id)
                .collect()
        };
        // Silenced while the silence lasts; delivered when it ends; its
        // escalation (at 11 min, after the end) is delivered too.
        assert_eq!(
            of("tmp-a"),
            vec![
                s("tmp-a", "silenced", 60, false),
                s("tmp-a", "fired", 480, true),
                s("tmp-a", "escalated", 660, true),
            ]
        );
        let unsilenced = events.iter().find(|e| {
            e.event == AlertEventKind::Fired && e.alert.sensor_id.as_deref() == Some("tmp-a")
        });
        assert_eq!(unsilenced.map(|e| e.alert.status), Some(Status::Active));
        // Acknowledged at 2 min: recorded and delivered; the escalation is
        // recorded, not delivered, and the alert stays at notify.
        let b = of("tmp-b");
        assert_eq!(b[0], s("tmp-b", "fired", 60, true));
        assert_eq!(b[1].1, "acked");
        assert!(b[1].3);
        assert_eq!(b[2], s("tmp-b", "escalated", 660, false));
        let escalation = events.iter().find(|e| {
            e.event == AlertEventKind::Escalated && e.alert.sensor_id.as_deref() == Some("tmp-b")
        });
        assert_eq!(escalation.map(|e| e.alert.level), Some(Level::Notify));
        assert_eq!(
            escalation.and_then(|e| e.reason.clone()).as_deref(),
            Some("acknowledged by alice")
        );
    }
}
