//! The oracle: a naive, single-threaded recomputation of what the graph must
//! produce, written for clarity rather than speed (quadratic in places).
//!
//! Tests feed the same input to the graph (any number of workers) and to
//! [`compute`], and compare the consolidated outputs. It shares only the
//! pure pieces whose own tests stand alone: decoding/validation of one
//! record, the anomaly rule for one value, and the incident function.

use std::collections::BTreeMap;

use crate::config::DataflowConfig;
use crate::operators::validate_record;
use crate::records::{
    Anomaly, DeadLetter, DeadReason, Flag, LatestState, RegistryRecord, SourceRecord,
    StoredReading, UNASSIGNED_ZONE, Validated, WindowAggregate, WindowSize, ZoneIncident, zone_of,
};
use crate::state::incidents_of;
use crate::{Sensor, state};

/// The expected final contents of each output.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// Stored readings.
    pub readings: Vec<StoredReading>,
    /// Final window aggregates.
    pub windows: Vec<WindowAggregate>,
    /// Final latest state per sensor.
    pub latest: Vec<LatestState>,
    /// Anomalies.
    pub anomalies: Vec<Anomaly>,
    /// Zone incidents.
    pub incidents: Vec<ZoneIncident>,
    /// Dead letters.
    pub dead_letters: Vec<DeadLetter>,
}

/// The version of `sensor` in force at `ts` (at `floor` if `ts` is before
/// it) among registry records with clock `<= visible`.
fn version_at<'a>(
    registry: &'a [RegistryRecord],
    sensor: &str,
    ts: i64,
    floor: Option<i64>,
    visible: i64,
) -> Option<&'a Sensor> {
    let ts = floor.map_or(ts, |f| ts.max(f));
    registry
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sensor_id == sensor && r.valid_from_ms() <= ts && r.clock_ms <= visible)
        .max_by_key(|(i, r)| (r.valid_from_ms(), r.clock_ms, *i))
        .and_then(|(_, r)| r.sensor.as_ref())
}

/// One sensor, as the oracle follows it.
#[derive(Default)]
struct Followed {
    /// The accepted readings since the state last started: (ts, value, record_ts).
    history: Vec<(i64, f64, i64)>,
    latest: Option<LatestState>,
    windows: BTreeMap<(WindowSize, i64), WindowAggregate>,
    /// Alert keys (only whether one is open matters here).
    alerts: state::SensorAlerts,
    last_clock: Option<i64>,
    complete_from: Option<i64>,
    /// Registry lookups before this event time are made at it.
    floor: Option<i64>,
}

/// Computes the expected outputs. `readings` must carry their partition clocks.
pub fn compute(
    readings: &[SourceRecord],
    registry: &[RegistryRecord],
    config: &DataflowConfig,
) -> Expected {
    let mut expected = Expected::default();
    let mut ordered: Vec<&SourceRecord> = readings.iter().collect();
    ordered.sort_by_key(|r| (r.origin.partition, r.origin.offset));

    // Per sensor, in partition order.
    let mut sensors: BTreeMap<String, Followed> = BTreeMap::new();
    let mut zone_anomalies: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let policy = crate::config::AlertPolicy::default();

    for record in ordered {
        let Validated {
            reading,
            origin,
            mut flags,
            payload,
        } = match validate_record(record.clone(), config) {
            Ok(v) => v,
            Err(dead) => {
                expected.dead_letters.push(*dead);
                continue;
            }
        };
        let id = reading.sensor_id.as_str().to_string();
        let (ts, value) = (reading.ts_ms, reading.value);
        let clock = origin.clock_ms;
        let s = sensors.entry(id.clone()).or_default();
        // The silent-sensor rule: a state untouched for `forget_after_ms` of
        // clock (and without an open alert) starts afresh; what it held
        // stays emitted as it was.
        let fresh = s
            .last_clock
            .is_none_or(|last| clock - last > config.forget_after_ms && !s.alerts.any_open());
        if fresh {
            expected
                .windows
                .extend(std::mem::take(&mut s.windows).into_values());
            expected.latest.extend(s.latest.take());
            s.history.clear();
            s.alerts = state::SensorAlerts::default();
            let from = clock - config.forget_after_ms + config.future_after_ms;
            s.complete_from = Some(s.complete_from.map_or(from, |c| c.max(from)));
        }
        s.last_clock = Some(s.last_clock.map_or(clock, |c| c.max(clock)));
        let watermark = s
            .history
            .iter()
            .map(|(t, _, rts)| (*t).min(rts + config.future_after_ms))
            .max();
        let too_late = watermark.is_some_and(|w| ts < w - config.allowed_lateness_ms);
        let version = version_at(
            registry,
            &id,
            ts,
            s.floor,
            clock - config.reference_delay_ms,
        );
        if let Some(sensor) = version {
            let physical = sensor.kind.physical_range();
            if physical.is_some_and(|r| !r.contains(value)) || !sensor.valid_range.contains(value) {
                expected.dead_letters.push(DeadLetter {
                    origin: origin.clone(),
                    key: id.clone(),
                    payload,
                    reason: DeadReason::OutOfRange.name().into(),
                    detail: String::new(),
                });
                continue;
            }
        } else {
            flags.push(Flag::Unregistered);
        }
        // One reading per (sensor, ts): the first accepted wins.
        if !too_late && let Some(&(_, first, _)) = s.history.iter().find(|(t, _, _)| *t == ts) {
            if first != value {
                expected.dead_letters.push(DeadLetter {
                    origin: origin.clone(),
                    key: id.clone(),
                    payload,
                    reason: DeadReason::DuplicateConflict.name().into(),
                    detail: String::new(),
                });
            }
            continue;
        }
        if too_late {
            flags.push(Flag::TooLate);
        }
        flags.sort();
        flags.dedup();
        let zone = zone_of(version);
        expected.readings.push(StoredReading {
            sensor_id: id.clone(),
            ts_ms: ts,
            value,
            zone: zone.clone(),
            flags,
            format: reading.format,
            origin: origin.clone(),
        });
        if too_late {
            expected.dead_letters.push(DeadLetter {
                origin: origin.clone(),
                key: id.clone(),
                payload,
                reason: DeadReason::TooLate.name().into(),
                detail: String::new(),
            });
            continue;
        }
        for size in WindowSize::ALL {
            let start = size.start_of(ts);
            let partial = s.complete_from.is_some_and(|from| start < from);
            s.windows
                .entry((size, start))
                .and_modify(|w| {
                    w.count += 1;
                    w.sum += value;
                    w.min = w.min.min(value);
                    w.max = w.max.max(value);
                })
                .or_insert(WindowAggregate {
                    sensor_id: id.clone(),
                    size,
                    start_ms: start,
                    count: 1,
                    sum: value,
                    min: value,
                    max: value,
                    partial,
                });
        }
        // Two-pass statistics over the earlier accepted readings in the horizon.
        let xs: Vec<f64> = s
            .history
            .iter()
            .filter(|(t, _, _)| *t >= ts - config.stats_horizon_ms && *t < ts)
            .map(|(_, v, _)| *v)
            .collect();
        let n = xs.len();
        let mean = (n > 0).then(|| xs.iter().sum::<f64>() / n as f64);
        let stddev = mean
            .filter(|_| n >= 2)
            .map(|m| (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt());
        let thresholds = version.map(|s| s.thresholds).unwrap_or_default();
        let score = state::score(value, n as u64, mean, stddev, &thresholds, config)
            .filter(|_| version.is_none_or(|v| v.kind.scored()));
        let anomaly = score.map(|s| Anomaly {
            sensor_id: id.clone(),
            zone: zone.clone(),
            ts_ms: ts,
            value,
            mean,
            stddev,
            samples: n as u64,
            z: s.z,
            z_severity: s.z_severity,
            threshold: s.threshold,
            severity: s.severity,
            origin: origin.clone(),
        });
        s.history.push((ts, value, origin.record_ts_ms));
        let reach = s
            .history
            .iter()
            .map(|(t, _, rts)| (*t).min(rts + config.future_after_ms))
            .max()
            .map(|w| w - config.allowed_lateness_ms);
        s.floor = reach.map(|r| s.floor.map_or(r, |f| f.max(r)));
        s.alerts.observe(
            &state::Observation {
                sensor_id: &id,
                zone: &zone,
                ts_ms: ts,
                value,
                origin: &origin,
                anomaly: anomaly.as_ref(),
            },
            &policy,
        );
        if s.latest.as_ref().is_none_or(|l| ts >= l.ts_ms) {
            s.latest = Some(LatestState {
                sensor_id: id.clone(),
                zone: zone.clone(),
                ts_ms: ts,
                value,
                mean,
                stddev,
                severity: anomaly.as_ref().map(|a| a.severity),
            });
        }
        if let Some(a) = anomaly {
            if a.zone != UNASSIGNED_ZONE && a.ts_ms >= origin.clock_ms - config.stale_after_ms {
                zone_anomalies
                    .entry(a.zone.clone())
                    .or_default()
                    .push((a.ts_ms, a.sensor_id.clone()));
            }
            expected.anomalies.push(a);
        }
    }
    for (_, s) in sensors {
        expected.windows.extend(s.windows.into_values());
        expected.latest.extend(s.latest);
    }
    for (zone, anomalies) in zone_anomalies {
        expected.incidents.extend(incidents_of(
            &zone,
            anomalies.iter().map(|(t, s)| (*t, s.as_str())),
            config.zone_window_ms,
            config.zone_threshold,
        ));
    }
    expected
}
