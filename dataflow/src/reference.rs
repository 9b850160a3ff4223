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
    Anomaly, DeadLetter, Flag, LatestState, RegistryRecord, SourceRecord, StoredReading,
    UNASSIGNED_ZONE, Validated, WindowAggregate, WindowSize, ZoneIncident, zone_of,
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

fn version_at<'a>(
    registry: &'a [RegistryRecord],
    sensor: &str,
    ts: i64,
    visible: i64,
) -> Option<&'a Sensor> {
    registry
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sensor_id == sensor && r.valid_from_ms() <= ts && r.clock_ms <= visible)
        .max_by_key(|(i, r)| (r.valid_from_ms(), r.clock_ms, *i))
        .and_then(|(_, r)| r.sensor.as_ref())
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

    // Per sensor, in partition order: the accepted history so far.
    let mut history: BTreeMap<String, Vec<(i64, f64, i64)>> = BTreeMap::new(); // (ts, value, record_ts)
    let mut latest: BTreeMap<String, LatestState> = BTreeMap::new();
    let mut windows: BTreeMap<(String, WindowSize, i64), WindowAggregate> = BTreeMap::new();
    let mut zone_anomalies: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();

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
        let version = version_at(
            registry,
            &id,
            ts,
            origin.clock_ms - config.reference_delay_ms,
        );
        if let Some(sensor) = version {
            let physical = sensor.kind.physical_range();
            if !physical.contains(value) || !sensor.valid_range.contains(value) {
                expected.dead_letters.push(DeadLetter {
                    origin: origin.clone(),
                    key: id.clone(),
                    payload,
                    reason: "out_of_range".into(),
                    detail: String::new(),
                });
                continue;
            }
        } else {
            flags.push(Flag::Unregistered);
        }
        let past = history.entry(id.clone()).or_default();
        let watermark = past
            .iter()
            .map(|(t, _, rts)| (*t).min(rts + config.future_after_ms))
            .max();
        let too_late = watermark.is_some_and(|w| ts < w - config.allowed_lateness_ms);
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
                reason: "too_late".into(),
                detail: String::new(),
            });
            continue;
        }
        for size in WindowSize::ALL {
            let start = size.start_of(ts);
            windows
                .entry((id.clone(), size, start))
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
                });
        }
        // Two-pass statistics over the earlier accepted readings in the horizon.
        let xs: Vec<f64> = past
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
        let score = state::score(value, n as u64, mean, stddev, &thresholds, config);
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
        past.push((ts, value, origin.record_ts_ms));
        if latest.get(&id).is_none_or(|l| ts >= l.ts_ms) {
            latest.insert(
                id.clone(),
                LatestState {
                    sensor_id: id.clone(),
                    zone: zone.clone(),
                    ts_ms: ts,
                    value,
                    mean,
                    stddev,
                    severity: anomaly.as_ref().map(|a| a.severity),
                },
            );
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
    expected.windows = windows.into_values().collect();
    expected.latest = latest.into_values().collect();
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
