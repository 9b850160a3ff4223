//! The whole graph, from raw records to the outputs sinks consume.
//!
//! ```text
//!  readings (raw, per worker's partitions) ─► Validate ─┬─► TrackSensors ─┬─► readings
//!                                                       │   (by sensor)   ├─► windows
//!  registry (per worker's partitions) ──────────────────┼──────┘          ├─► latest
//!                                                       │                 ├─► anomalies ─► CorrelateZones ─► incidents
//!                                                       ├─► dead letters ◄┼─ dead letters      (by zone)
//!  alert control (silences, acks) ─────────(broadcast)──┼───────────┐     └─► transitions ─► ApplyAlertPolicy ─► alert events
//!                                                       │           └────────────────────────────┘   (by zone)
//! ```

use timely::dataflow::Stream;
use timely::dataflow::operators::Concat;

use crate::config::{AlertPolicy, DataflowConfig};
use crate::operators::{ApplyAlertPolicy, CorrelateZones, TrackSensors, Validate};
use crate::records::each_output;
use crate::records::{
    AlertEvent, Anomaly, ControlRecord, DeadLetter, LatestState, OutputRecord, RegistryRecord,
    SourceRecord, StoredReading, Time, Update, WindowAggregate, ZoneIncident,
};
use crate::state::{AlertSeed, GraphCounters, StateGauge};

/// Something done to each output stream, whatever its record type (see
/// [`Outputs::visit`]).
pub trait OutputVisitor<'scope> {
    /// Called once per output, with its stream.
    fn visit<D: OutputRecord>(&mut self, stream: &Stream<'scope, Time, Vec<Update<D>>>);
}

macro_rules! define_streams {
    ($($kind:ident, $field:ident: $record:ty, $name:literal, $doc:literal;)*) => {
        /// Every output of the graph, as update streams (`(record, time, ±1)`).
        pub struct Outputs<'scope> {
            $(#[doc = $doc] pub $field: Stream<'scope, Time, Vec<Update<$record>>>,)*
            /// The size of this worker's sensor state.
            pub gauge: StateGauge,
        }

        impl<'scope> Outputs<'scope> {
            /// Calls `visitor` on every output stream, in
            /// [`crate::records::OutputKind::ALL`] order: what code handling
            /// every output uses.
            pub fn visit(&self, visitor: &mut impl OutputVisitor<'scope>) {
                $(visitor.visit(&self.$field);)*
            }
        }
    };
}

each_output!(define_streams);

/// The inputs of the graph.
pub struct Inputs<'scope> {
    /// Raw records of the readings topic.
    pub readings: Stream<'scope, Time, Vec<SourceRecord>>,
    /// Registry changes.
    pub registry: Stream<'scope, Time, Vec<RegistryRecord>>,
    /// Alert control records (silences, acknowledgements).
    pub control: Stream<'scope, Time, Vec<ControlRecord>>,
}

/// The rules of the graph.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Validation, windows, statistics, zones.
    pub dataflow: DataflowConfig,
    /// Alerts.
    pub alerts: AlertPolicy,
    /// Where a restart's state comes from (empty on a fresh start).
    pub seed: std::sync::Arc<AlertSeed>,
    /// Counts for metrics (duplicates, forgotten sensors).
    pub counters: std::sync::Arc<GraphCounters>,
}

/// Builds the graph over its inputs.
pub fn build<'scope>(inputs: Inputs<'scope>, rules: &Rules) -> Outputs<'scope> {
    let config = &rules.dataflow;
    let (valid, rejected) = inputs.readings.validate(config.clone());
    let gauge = StateGauge::default();
    let sensors = valid.track_sensors(
        inputs.registry,
        config.clone(),
        rules.alerts.clone(),
        std::sync::Arc::clone(&rules.seed),
        gauge.clone(),
        std::sync::Arc::clone(&rules.counters),
    );
    let incidents = sensors.anomalies.clone().correlate_zones(config.clone());
    let alert_events = sensors.transitions.apply_alert_policy(
        inputs.control,
        config.clone(),
        rules.alerts.clone(),
        std::sync::Arc::clone(&rules.seed),
    );
    Outputs {
        readings: sensors.readings,
        windows: sensors.windows,
        latest: sensors.latest,
        anomalies: sensors.anomalies,
        incidents,
        dead_letters: rejected.concat(sensors.dead_letters),
        alert_events,
        gauge,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use crate::config::DataflowConfig;
    use crate::harness::{Collected, Input, Options, run};
    use crate::records::{Flag, Origin, RegistryRecord, SourceRecord, WindowSize};
    use crate::reference;
    use crate::{Sensor, SensorId, SensorKind, Thresholds, ValidRange};

    const T0: i64 = 1_764_000_000_000;

    fn json(sensor: &str, ts: i64, value: f64) -> Vec<u8> {
        format!(r#"{{"sensorId":"{sensor}","timestamp":{ts},"value":{value}}}"#).into_bytes()
    }

    fn record(
        partition: i32,
        offset: i64,
        record_ts: i64,
        key: &str,
        payload: Vec<u8>,
    ) -> SourceRecord {
        SourceRecord {
            origin: Origin {
                partition,
                offset,
                record_ts_ms: record_ts,
                clock_ms: 0,
            },
            key: key.as_bytes().to_vec(),
            payload,
            content_type: None,
            clock_skewed: false,
        }
    }

    fn sensor(id: &str, zone: &str, warn_high: Option<f64>) -> Sensor {
        Sensor {
            sensor_id: SensorId::new(id).unwrap_or_else(|e| panic!("{e}")),
            kind: SensorKind::TEMPERATURE,
            location: String::new(),
            zone: zone.into(),
            unit: "°C".into(),
            thresholds: Thresholds {
                warn_high,
                ..Thresholds::default()
            },
            valid_range: ValidRange {
                min: -40.0,
                max: 125.0,
            },
            valid_from_ms: None,
            expected_interval_ms: None,
        }
    }

    fn registered(s: Sensor, clock: i64) -> RegistryRecord {
        RegistryRecord {
            sensor_id: s.sensor_id.as_str().to_string(),
            sensor: Some(s),
            record_ts_ms: clock,
            clock_ms: clock,
        }
    }

    /// A sensor's readings in one partition: (ts, value) at record time ts + 50 ms.
    fn series(
        partition: i32,
        first_offset: i64,
        id: &str,
        points: &[(i64, f64)],
    ) -> Vec<SourceRecord> {
        points
            .iter()
            .enumerate()
            .map(|(i, (ts, v))| {
                record(
                    partition,
                    first_offset + i as i64,
                    ts + 50,
                    id,
                    json(id, *ts, *v),
                )
            })
            .collect()
    }

    /// Orders each partition by record time (as a broker would hold records
    /// produced in real time) and numbers the offsets.
    fn in_partition_order(mut readings: Vec<SourceRecord>) -> Vec<SourceRecord> {
        readings.sort_by(|a, b| {
            (a.origin.partition, a.origin.record_ts_ms, &a.key).cmp(&(
                b.origin.partition,
                b.origin.record_ts_ms,
                &b.key,
            ))
        });
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for r in &mut readings {
            let offset = next.entry(r.origin.partition).or_insert(0);
            r.origin.offset = *offset;
            *offset += 1;
        }
        readings
    }

    fn diff(
        a: &BTreeMap<&str, BTreeMap<String, isize>>,
        b: &BTreeMap<&str, BTreeMap<String, isize>>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (name, left) in a {
            let right = &b[name];
            for (k, v) in left {
                if right.get(k) != Some(v) {
                    out.push(format!("{name}: only left {k} x{v}"));
                }
            }
            for (k, v) in right {
                if left.get(k) != Some(v) {
                    out.push(format!("{name}: only right {k} x{v}"));
                }
            }
        }
        out.truncate(4);
        out
    }

    fn run_with(workers: usize, input: Input, config: &DataflowConfig) -> Collected {
        run(
            timely::Config::process(workers),
            config.clone(),
            input,
            Options::default(),
        )
        .unwrap_or_else(|e| panic!("timely: {e}"))
    }

    #[test]
    fn late_reading_corrects_its_window_and_too_late_one_is_stored_not_aggregated() {
        let config = DataflowConfig::default();
        let id = "tmp-1";
        let points = [
            (T0, 1.0),
            (T0 + 60_000, 3.0),
            (T0 + 600_000, 5.0),       // a later 5-minute window
            (T0 + 120_000, 2.0),       // late, first window corrected
            (T0 + 3 * 3_600_000, 7.0), // moves the watermark 3 h on
            (T0 + 30_000, 100.0),      // now too late
        ];
        let input = Input {
            control: Vec::new(),
            readings: series(0, 0, id, &points),
            registry: vec![registered(sensor(id, "z", None), T0 - 1_000)],
            partitions: 2,
        };
        let out = run_with(2, input, &config);
        let first = |count: u64| {
            out.windows.iter().any(|(w, _, d)| {
                w.size == WindowSize::FiveMinutes
                    && w.start_ms == T0
                    && w.count == count
                    && *d == if count == 2 { -1 } else { 1 }
            })
        };
        assert!(first(2), "old aggregate retracted: {:?}", out.windows);
        assert!(first(3), "corrected aggregate inserted");
        let consolidated = out.consolidated();
        let windows: Vec<_> = out
            .windows
            .iter()
            .filter(|(w, _, _)| w.size == WindowSize::FiveMinutes && w.start_ms == T0)
            .map(|(w, t, d)| (w.count, w.sum, *t, *d))
            .collect();
        // (count 1) +1, then -1 / (count 2) +1, then -1 / (count 3) +1: the retraction
        // and insertion of one correction share a time.
        assert_eq!(windows.len(), 5, "{windows:?}");
        assert_eq!(windows[3].2, windows[4].2);
        let too_late: Vec<_> = out
            .readings
            .iter()
            .filter(|(r, _, _)| r.flags.contains(&Flag::TooLate))
            .collect();
        assert_eq!(too_late.len(), 1);
        assert_eq!(too_late[0].0.value, 100.0);
        assert!(
            out.dead_letters
                .iter()
                .any(|(d, _, _)| d.reason == crate::records::DeadReason::TooLate.name())
        );
        assert!(
            !out.windows.iter().any(|(w, _, _)| w.max >= 100.0),
            "a too-late reading takes part in no aggregate"
        );
        assert_eq!(consolidated["readings"].len(), 6);
    }

    #[test]
    fn a_reading_is_scored_once_against_the_past_only() {
        let config = DataflowConfig::default();
        let id = "tmp-2";
        // 40 calm readings, one spike, then 100 readings at the spike level.
        let mut points: Vec<(i64, f64)> = (0..40)
            .map(|i| (T0 + i * 1_000, 20.0 + (i % 5) as f64 * 0.1))
            .collect();
        points.push((T0 + 40_000, 60.0));
        points.extend((41..141).map(|i| (T0 + i * 1_000, 60.0)));
        let input = Input {
            control: Vec::new(),
            readings: series(0, 0, id, &points),
            registry: vec![registered(sensor(id, "z", None), T0 - 1_000)],
            partitions: 1,
        };
        let out = run_with(1, input, &config);
        let spike: Vec<_> = out
            .anomalies
            .iter()
            .filter(|(a, _, _)| a.ts_ms == T0 + 40_000)
            .collect();
        assert_eq!(spike.len(), 1, "scored exactly once");
        assert_eq!(spike[0].2, 1);
        assert_eq!(spike[0].0.samples, 40);
        assert!(spike[0].0.z.is_some_and(|z| z > 5.0));
        assert!(
            out.anomalies.iter().all(|(_, _, d)| *d == 1),
            "never re-scored"
        );
    }

    #[test]
    fn registry_change_applies_from_its_time_on() {
        let config = DataflowConfig::default();
        let id = "tmp-3";
        let change = T0 + 100_000;
        let points: Vec<(i64, f64)> = (0..200).map(|i| (T0 + i * 1_000, 20.0)).collect();
        let input = Input {
            control: Vec::new(),
            readings: series(0, 0, id, &points),
            registry: vec![
                registered(sensor(id, "north", Some(50.0)), T0 - 1_000),
                // Arrives before every reading, but applies from `change` on
                // (read `reference_delay_ms` of record time before it).
                registered(
                    sensor(id, "south", Some(10.0)),
                    change - config.reference_delay_ms,
                ),
            ],
            partitions: 1,
        };
        let out = run_with(1, input, &config);
        for (r, _, _) in &out.readings {
            let expected = if r.ts_ms < change - 50 {
                "north"
            } else {
                "south"
            };
            assert_eq!(r.zone, expected, "reading at {}", r.ts_ms - T0);
        }
        let anomalous: Vec<i64> = out.anomalies.iter().map(|(a, _, _)| a.ts_ms).collect();
        assert_eq!(
            anomalous.len(),
            100,
            "the new warn_high applies from the change"
        );
        assert!(anomalous.iter().all(|ts| *ts >= change - 50));
    }

    #[test]
    fn registry_change_is_seen_registry_delay_after_it_is_read() {
        let config = DataflowConfig::default();
        let id = "tmp-4";
        // Valid from long before, but read at clock `read`: readings whose
        // clock is below `read + reference_delay_ms` still see the old version.
        let read = T0 + 50_000;
        let points: Vec<(i64, f64)> = (0..100).map(|i| (T0 + i * 1_000, 20.0)).collect();
        let mut change = registered(sensor(id, "south", None), read);
        if let Some(s) = change.sensor.as_mut() {
            s.valid_from_ms = Some(T0 - 10_000);
        }
        let input = Input {
            control: Vec::new(),
            readings: series(0, 0, id, &points),
            registry: vec![registered(sensor(id, "north", None), T0 - 10_000), change],
            partitions: 1,
        };
        for workers in [1, 2] {
            let out = run_with(workers, input.clone(), &config);
            assert_eq!(out.readings.len(), 100);
            for (r, _, _) in &out.readings {
                let seen = r.origin.clock_ms >= read + config.reference_delay_ms;
                let expected = if seen { "south" } else { "north" };
                assert_eq!(
                    r.zone,
                    expected,
                    "reading at clock {}",
                    r.origin.clock_ms - T0
                );
            }
        }
    }

    #[test]
    fn zone_incident_appears_at_the_fifth_sensor_and_clears_after_the_window() {
        let config = DataflowConfig::default();
        let mut readings = Vec::new();
        let mut registry = Vec::new();
        for s in 0..6 {
            let id = format!("tmp-z{s}");
            registry.push(registered(sensor(&id, "tunnel", Some(50.0)), T0 - 1_000));
            // Normal, then one reading above warn_high at T0 + s seconds.
            let points = [
                (T0 - 500_000, 20.0),
                (T0 + s * 1_000, 80.0),
                (T0 + 400_000, 20.0),
            ];
            readings.extend(series(s as i32 % 3, s * 10, &id, &points));
        }
        let input = Input {
            control: Vec::new(),
            readings: in_partition_order(readings),
            registry,
            partitions: 3,
        };
        let out = run_with(3, input, &config);
        let consolidated = out.consolidated();
        assert_eq!(consolidated["incidents"].len(), 1, "{:?}", out.incidents);
        let (incident, _, _) = out
            .incidents
            .iter()
            .rfind(|(_, _, d)| *d == 1)
            .cloned()
            .unwrap_or_else(|| panic!("no incident"));
        assert_eq!(incident.start_ms, T0 + 4_000, "the fifth sensor");
        assert_eq!(
            incident.end_ms,
            T0 + 61_000,
            "cleared once fewer than 5 remain"
        );
        assert_eq!(incident.peak_sensors, 6);
    }

    #[test]
    fn dead_letters_carry_each_reason_with_bytes_and_origin() {
        let config = DataflowConfig::default();
        let payloads: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "tmp-9",
                br#"{"sensorId":"tmp-9","timestamp":1,"value":"#.to_vec(),
                "malformed_json",
            ),
            (
                "tmp-9",
                br#"{"sensorId":"tmp-9","timestamp":1,"value":NaN}"#.to_vec(),
                "not_finite",
            ),
            (
                "tmp-9",
                br#"{"sensorId":"tmp-9","timestamp":1,"value":"7"}"#.to_vec(),
                "wrong_type",
            ),
            ("tmp-9", br#"{"timestamp":1,"value":7}"#.to_vec(), "missing"),
            (
                "tmp-9",
                br#"{"schemaVersion":9,"sensorId":"tmp-9","ts":1,"value":7}"#.to_vec(),
                "unknown_schema_version",
            ),
            (
                "tmp-9",
                [br#"{"sensorId":""#.as_slice(), &[0xff, 0xfe], br#""}"#].concat(),
                "invalid_utf8",
            ),
            ("tmp-8", json("tmp-9", T0, 1.0), "key_mismatch"),
            ("tmp-9", json("tmp-9", T0, 500.0), "out_of_range"),
            ("tmp-9", json("tmp-9", T0 + 7_200_000, 1.0), ""),
            ("tmp-9", json("tmp-9", T0, 1.0), "too_late"),
        ];
        let readings: Vec<SourceRecord> = payloads
            .iter()
            .enumerate()
            .map(|(i, (key, payload, _))| record(0, i as i64, T0 + 7_200_000, key, payload.clone()))
            .collect();
        let input = Input {
            control: Vec::new(),
            readings,
            registry: vec![registered(sensor("tmp-9", "z", None), T0 - 1_000)],
            partitions: 1,
        };
        let out = run_with(1, input, &config);
        let mut reasons: BTreeMap<i64, String> = BTreeMap::new();
        for (d, _, _) in &out.dead_letters {
            let (_, payload, _) = &payloads[d.origin.offset as usize];
            assert_eq!(&d.payload, payload, "raw bytes kept");
            reasons.insert(d.origin.offset, d.reason.clone());
        }
        for (i, (_, _, reason)) in payloads.iter().enumerate() {
            let got = reasons.get(&(i as i64)).map(String::as_str).unwrap_or("");
            assert_eq!(got, *reason, "record {i}");
        }
    }

    /// Random readings of a few sensors over a few partitions.
    fn random_input() -> impl Strategy<Value = Input> {
        let point = (0i64..600, -3i64..=0, 0.0f64..30.0, 0u8..20, 0u8..12);
        prop::collection::vec(point, 1..200).prop_map(|points| {
            let mut readings = Vec::new();
            let mut registry = Vec::new();
            for s in 0..4 {
                let id = format!("tmp-r{s}");
                registry.push(registered(
                    sensor(&id, if s % 2 == 0 { "even" } else { "odd" }, Some(25.0)),
                    T0 - 1_000,
                ));
            }
            // Versions that apply later (their history is pruned as the
            // sensors' lateness horizons pass them).
            for (s, hours) in [(0, 2), (0, 5), (1, 3)] {
                let mut moved = sensor(&format!("tmp-r{s}"), "moved", Some(20.0));
                moved.valid_from_ms = Some(T0 + hours * 3_600_000);
                registry.push(registered(moved, T0 + hours * 3_600_000 - 60_000));
            }
            let mut clock = T0;
            let mut last: BTreeMap<String, (i64, f64)> = BTreeMap::new();
            for (i, (step, back, value, pick, dup)) in points.into_iter().enumerate() {
                clock += step * 1_000;
                let id = format!("tmp-r{}", pick % 5); // tmp-r4 is unregistered
                let ts = clock + back * 1_500_000; // some readings 25 to 75 minutes late
                let value = if pick == 19 { 29.9 } else { value };
                // Some repeat the sensor's previous reading: exactly, or
                // with another value.
                let (ts, value) = match (dup, last.get(&id)) {
                    (0, Some(&(t, v))) => (t, v),
                    (1, Some(&(t, v))) => (t, v + 1.0),
                    _ => (ts, value),
                };
                last.insert(id.clone(), (ts, value));
                let partition = i32::from(pick % 5) % 3;
                readings.push(record(
                    partition,
                    i as i64,
                    clock,
                    &id,
                    json(&id, ts, value),
                ));
            }
            Input {
                control: Vec::new(),
                readings,
                registry,
                partitions: 3,
            }
        })
    }

    fn with_clocks(input: &Input) -> Vec<SourceRecord> {
        let mut clocks: BTreeMap<i32, i64> = BTreeMap::new();
        let mut out = input.readings.clone();
        out.sort_by_key(|r| (r.origin.partition, r.origin.offset));
        for r in &mut out {
            let c = clocks.entry(r.origin.partition).or_insert(i64::MIN);
            *c = (*c).max(r.origin.record_ts_ms);
            r.origin.clock_ms = *c;
        }
        out
    }

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            (a, b) => a == b,
        }
    }

    proptest! {
        #![proptest_config(crate::pinned::config(24))]

        /// The graph on 1 and 3 workers equals the naive oracle: readings,
        /// windows, latest state, anomalies (scored against the past only)
        /// and dead letters.
        #[test]
        fn graph_matches_the_naive_oracle_on_any_shape(input in random_input(), workers in 1usize..=3) {
            // Sensors silent for 40 minutes of record time are forgotten.
            let config = DataflowConfig { min_samples: 3, forget_after_ms: 2_400_000, ..DataflowConfig::default() };
            let expected = reference::compute(&with_clocks(&input), &input.registry, &config);
            let out = run_with(workers, input, &config);
            let consolidated = out.consolidated();
            let total = |name: &str| consolidated[name].values().sum::<isize>();
            prop_assert_eq!(total("readings"), expected.readings.len() as isize);
            prop_assert_eq!(total("windows"), expected.windows.len() as isize);
            for w in &expected.windows {
                let found = out.windows.iter().any(|(g, _, d)| *d == 1 && g.sensor_id == w.sensor_id
                    && g.size == w.size && g.start_ms == w.start_ms && g.count == w.count
                    && g.min == w.min && g.max == w.max && (g.sum - w.sum).abs() < 1e-9
                    && g.partial == w.partial);
                prop_assert!(found, "window {:?}", w);
            }
            let mut stored: Vec<_> = out.readings.iter().map(|(r, _, _)| (r.origin.partition, r.origin.offset, r.zone.clone(), r.flags.clone())).collect();
            stored.sort();
            let mut want: Vec<_> = expected.readings.iter().map(|r| (r.origin.partition, r.origin.offset, r.zone.clone(), r.flags.clone())).collect();
            want.sort();
            prop_assert_eq!(stored, want);
            let mut got: Vec<_> = out.anomalies.iter().map(|(a, _, _)| a.clone()).collect();
            got.sort_by_key(|a| (a.origin.partition, a.origin.offset));
            let brief = |a: &crate::records::Anomaly| (a.sensor_id.clone(), a.ts_ms - T0, a.samples, a.z, a.threshold);
            prop_assert_eq!(got.len(), expected.anomalies.len(), "got {:?}\nwant {:?}", got.iter().map(brief).collect::<Vec<_>>(), expected.anomalies.iter().map(brief).collect::<Vec<_>>());
            for (g, e) in got.iter().zip(&expected.anomalies) {
                prop_assert_eq!((&g.sensor_id, g.ts_ms, g.samples, g.severity), (&e.sensor_id, e.ts_ms, e.samples, e.severity));
                prop_assert!(close(g.mean, e.mean) && close(g.stddev, e.stddev), "{:?} vs {:?}", g, e);
            }
            prop_assert_eq!(total("latest"), expected.latest.len() as isize);
            for l in &expected.latest {
                let found = out.latest.iter().any(|(g, _, _)| g.sensor_id == l.sensor_id && g.ts_ms == l.ts_ms && g.value == l.value);
                prop_assert!(found, "latest {:?}", l);
            }
            let mut dead: Vec<(i32, i64, String)> = out.dead_letters.iter().map(|(d, _, _)| (d.origin.partition, d.origin.offset, d.reason.clone())).collect();
            dead.sort();
            let mut want: Vec<(i32, i64, String)> = expected.dead_letters.iter().map(|d| (d.origin.partition, d.origin.offset, d.reason.clone())).collect();
            want.sort();
            prop_assert_eq!(dead, want);
        }
    }

    /// A sensor forgotten and heard again within one input time: the
    /// windows and latest state it held stay emitted, and the new ones are
    /// added beside them, whatever the batching (regression: the operator
    /// folded the second incarnation into the first and lost the first).
    #[test]
    fn a_state_forgotten_within_one_time_keeps_what_it_emitted() {
        let config = DataflowConfig {
            forget_after_ms: 2_400_000,
            ..DataflowConfig::default()
        };
        let id = "tmp-f";
        // 41 minutes of silence, then a reading in the same hour window.
        let points = [(T0, 1.0), (T0 + 41 * 60_000, 2.0)];
        let input = Input {
            control: Vec::new(),
            readings: series(0, 0, id, &points),
            registry: vec![registered(sensor(id, "z", None), T0 - 1_000)],
            partitions: 1,
        };
        let expected = reference::compute(&with_clocks(&input), &input.registry, &config);
        assert_eq!(expected.latest.len(), 2, "the oracle keeps both");
        for batch in [1, 16] {
            let options = Options {
                batch,
                ..Options::default()
            };
            let out = run(
                timely::Config::process(1),
                config.clone(),
                input.clone(),
                options,
            )
            .unwrap_or_else(|e| panic!("timely: {e}"));
            let consolidated = out.consolidated();
            let total = |name: &str| consolidated[name].values().sum::<isize>();
            assert_eq!(
                total("windows"),
                expected.windows.len() as isize,
                "batch {batch}"
            );
            assert_eq!(
                total("latest"),
                expected.latest.len() as isize,
                "batch {batch}"
            );
            let hour: Vec<(u64, bool)> = out
                .windows
                .iter()
                .filter(|(w, _, d)| *d == 1 && w.size == WindowSize::OneHour && w.start_ms == T0)
                .map(|(w, _, _)| (w.count, w.partial))
                .collect();
            assert_eq!(hour, [(1, false), (1, true)], "batch {batch}");
        }
    }

    #[test]
    fn silent_sensors_leave_memory_and_duplicates_change_nothing() {
        let config = DataflowConfig {
            forget_after_ms: 600_000,
            ..DataflowConfig::default()
        };
        // 500 sensors that send once, then one that keeps sending for an
        // hour, each reading twice (a producer that retries) and once more
        // with another value.
        let mut readings = Vec::new();
        for s in 0..500i64 {
            let id = format!("tmp-once-{s}");
            readings.push(record(0, s, T0 + s, &id, json(&id, T0 + s, 1.0)));
        }
        let mut offset = 500;
        for i in 0..360i64 {
            let ts = T0 + 1_000 + i * 10_000;
            for value in [2.0, 2.0, 3.0] {
                readings.push(record(
                    0,
                    offset,
                    ts + 5,
                    "tmp-on",
                    json("tmp-on", ts, value),
                ));
                offset += 1;
            }
        }
        let last = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let seen = std::sync::Arc::clone(&last);
        let options = Options {
            batch: 50,
            observe: Some(std::sync::Arc::new(move |worker, _, footprint| {
                if let Ok(mut map) = seen.lock() {
                    map.insert(worker, footprint);
                }
            })),
            ..Options::default()
        };
        let input = Input {
            control: Vec::new(),
            readings,
            registry: Vec::new(),
            partitions: 1,
        };
        // One worker: its footprint after the last round is the whole state.
        run(
            timely::Config::process(1),
            config.clone(),
            input.clone(),
            options,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sensors: usize = last
            .lock()
            .map(|m| m.values().map(|f| f.sensors).sum())
            .unwrap_or(usize::MAX);
        assert!(sensors <= 2, "silent sensors still held: {sensors}");
        let out = run_with(2, input.clone(), &config);
        let on: Vec<_> = out
            .readings
            .iter()
            .filter(|(r, _, _)| r.sensor_id == "tmp-on")
            .collect();
        assert_eq!(on.len(), 360, "one stored reading per timestamp");
        assert!(on.iter().all(|(r, _, _)| r.value == 2.0), "the first wins");
        let conflicts = out
            .dead_letters
            .iter()
            .filter(|(d, _, _)| d.reason == "duplicate_conflict")
            .count();
        assert_eq!(conflicts, 360);
        let hour = out.consolidated()["windows"]
            .keys()
            .filter(|w| w.contains("\"tmp-on\"") && w.contains("OneHour"))
            .count();
        assert_eq!(hour, 1, "one 1 h window of tmp-on");
        assert!(
            out.windows
                .iter()
                .filter(|(w, _, _)| w.sensor_id == "tmp-on")
                .all(|(w, _, _)| w.sum == 2.0 * w.count as f64)
        );
        // The oracle agrees.
        let expected = reference::compute(&with_clocks(&input), &[], &config);
        assert_eq!(expected.readings.len(), out.readings.len());
    }

    #[test]
    fn outputs_are_identical_for_one_two_and_three_workers() {
        let config = DataflowConfig {
            min_samples: 5,
            zone_threshold: 3,
            ..DataflowConfig::default()
        };
        let mut readings = Vec::new();
        let mut registry = Vec::new();
        for s in 0..30i64 {
            let id = format!("tmp-w{s}");
            registry.push(registered(
                sensor(&id, &format!("zone-{}", s % 3), Some(40.0)),
                T0 - 1_000,
            ));
            let points: Vec<(i64, f64)> = (0..120)
                .map(|i| {
                    (
                        T0 + i * 5_000 + s,
                        20.0 + ((i * 7 + s) % 11) as f64 + if i % 37 == 0 { 30.0 } else { 0.0 },
                    )
                })
                .collect();
            readings.extend(series((s % 12) as i32, s * 1_000, &id, &points));
        }
        // Offsets follow the sensor blocks, so a partition's record times jump
        // back at each new sensor: clocks run ahead of record times.
        readings.sort_by_key(|r| (r.origin.partition, r.origin.offset));
        let input = Input {
            control: Vec::new(),
            readings,
            registry,
            partitions: 12,
        };
        let one = run_with(1, input.clone(), &config).consolidated();
        assert!(!one["incidents"].is_empty() && !one["anomalies"].is_empty());
        for workers in [2, 3] {
            let other = run_with(workers, input.clone(), &config).consolidated();
            assert!(one == other, "{workers} workers: {:#?}", diff(&one, &other));
        }
    }
}
