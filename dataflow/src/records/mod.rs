//! The records that flow through the graph, from source to outputs.
//!
//! Every output is an update stream of `(record, time, diff)`: `+1` inserts,
//! `-1` retracts. A retraction paired with an insertion of the same key at the
//! same time is a change (`-old, +new`); the graph never emits a retraction
//! on its own (state that expires from memory is dropped silently), so a sink
//! can upsert every `+1` and ignore every `-1`.

use serde::{Deserialize, Serialize};

use crate::{Format, Reading, Sensor};

mod alerts;
mod dead_letter;
mod outputs;

pub use alerts::{
    Ack, Alert, AlertChange, AlertEvent, AlertEventKind, AlertKind, AlertScope, AlertState,
    AlertTransition, Control, ControlRecord, Level, Silence, Status,
};
pub use dead_letter::{DeadLetter, DeadReason, MAX_DEAD_KEY_BYTES, MAX_DETAIL_BYTES, store_text};
pub(crate) use outputs::each_output;
pub use outputs::{OutputKind, OutputRecord, OutputUpdates, UpdatesVisitor};

/// Timely time: the record-time clock of the partitions, in ms (see docs).
pub type Time = u64;
/// An update: the record, its timely time, and +1 / -1.
pub type Update<D> = (D, Time, isize);

/// Where a record came from: enough to find it again and to commit past it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// Kafka partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The record's timestamp (ms): the clock of record for this reading.
    pub record_ts_ms: i64,
    /// The partition's clock when the record was read: the largest record
    /// timestamp seen in the partition so far (ms). Never decreases along a
    /// partition; it orders this record against registry changes and zone expiry.
    pub clock_ms: i64,
}

/// A raw record of the readings topic, as the source hands it to the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Where it came from.
    pub origin: Origin,
    /// The record key (the sensor id, by convention).
    pub key: Vec<u8>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
    /// The source clamped the record timestamp (`origin.record_ts_ms`): the
    /// producer stamped it further ahead of the read time than the allowed
    /// skew (see `PartitionClocks` and docs/ARCHITECTURE.md).
    #[serde(default)]
    pub clock_skewed: bool,
}

/// A change to the sensor registry (one record of the compacted topic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistryRecord {
    /// The sensor the record is about (the record key).
    pub sensor_id: String,
    /// The new version; `None` for a tombstone (sensor removed).
    pub sensor: Option<Sensor>,
    /// The record's timestamp (ms): the version applies from here unless it says otherwise.
    pub record_ts_ms: i64,
    /// The registry partition's clock when the record was read (see [`Origin::clock_ms`]).
    pub clock_ms: i64,
}

impl RegistryRecord {
    /// Event time from which this version applies.
    pub fn valid_from_ms(&self) -> i64 {
        self.sensor
            .as_ref()
            .and_then(|s| s.valid_from_ms)
            .unwrap_or(self.record_ts_ms)
    }
}

/// A flag on a stored reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// `ts` more than `stale_after_ms` behind the record timestamp.
    StaleTimestamp,
    /// `ts` more than `future_after_ms` ahead of the record timestamp.
    FutureTimestamp,
    /// No registry version was in force at `ts`.
    Unregistered,
    /// Older than the sensor's watermark minus the allowed lateness: stored, not aggregated.
    TooLate,
    /// The record timestamp was ahead of the read time by more than the
    /// allowed skew: the clock of record is the clamped time.
    ClockSkew,
}

impl Flag {
    /// The label used in storage and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Flag::StaleTimestamp => "stale_timestamp",
            Flag::FutureTimestamp => "future_timestamp",
            Flag::Unregistered => "unregistered",
            Flag::TooLate => "too_late",
            Flag::ClockSkew => "clock_skew",
        }
    }
}

/// The zone of readings whose sensor is not in the registry.
pub const UNASSIGNED_ZONE: &str = "unassigned";

/// A decoded reading with its origin and timestamp flags, before enrichment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validated {
    /// The decoded reading.
    pub reading: Reading,
    /// Where it came from.
    pub origin: Origin,
    /// Timestamp flags set by validation.
    pub flags: Vec<Flag>,
    /// The raw payload, kept for the dead-letter output.
    pub payload: Vec<u8>,
}

/// A reading as stored: enriched, flagged.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct StoredReading {
    /// Sensor id.
    pub sensor_id: String,
    /// Event time (ms).
    pub ts_ms: i64,
    /// The value.
    pub value: f64,
    /// Zone from the registry version in force at `ts` (or `unassigned`).
    pub zone: String,
    /// Flags, sorted.
    pub flags: Vec<Flag>,
    /// The firmware schema / encoding it arrived in.
    pub format: Format,
    /// Where it came from.
    pub origin: Origin,
}

/// Which tumbling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WindowSize {
    /// 5 minutes.
    FiveMinutes,
    /// 1 hour.
    OneHour,
}

impl WindowSize {
    /// Both sizes.
    pub const ALL: [WindowSize; 2] = [WindowSize::FiveMinutes, WindowSize::OneHour];

    /// Length in ms.
    pub fn millis(self) -> i64 {
        match self {
            WindowSize::FiveMinutes => 300_000,
            WindowSize::OneHour => 3_600_000,
        }
    }

    /// Start of the window holding `ts`.
    pub fn start_of(self, ts: i64) -> i64 {
        ts.div_euclid(self.millis()) * self.millis()
    }

    /// Label: "5m" or "1h".
    pub fn name(self) -> &'static str {
        match self {
            WindowSize::FiveMinutes => "5m",
            WindowSize::OneHour => "1h",
        }
    }

    /// The store's table of these windows: `sensor_5m`, `sensor_1h`.
    pub fn table(self) -> &'static str {
        match self {
            WindowSize::FiveMinutes => "sensor_5m",
            WindowSize::OneHour => "sensor_1h",
        }
    }
}

/// Aggregate of one sensor's readings in one window.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct WindowAggregate {
    /// Sensor id.
    pub sensor_id: String,
    /// Window size.
    pub size: WindowSize,
    /// Window start (ms, inclusive).
    pub start_ms: i64,
    /// Readings in the window.
    pub count: u64,
    /// Sum of their values.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The window began before this sensor's state history does (a
    /// restart's rewind point, or state forgotten after a long silence): it
    /// may lack readings that only the store holds, so a sink rebuilds it
    /// from the stored readings instead of writing these figures.
    #[serde(default)]
    pub partial: bool,
}

impl WindowAggregate {
    /// Mean value.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// The latest reading of a sensor (by event time).
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct LatestState {
    /// Sensor id.
    pub sensor_id: String,
    /// Zone.
    pub zone: String,
    /// Event time of the latest reading.
    pub ts_ms: i64,
    /// Its value.
    pub value: f64,
    /// Rolling mean at that reading (before it), if there were samples.
    pub mean: Option<f64>,
    /// Rolling standard deviation at that reading, if there were samples.
    pub stddev: Option<f64>,
    /// Severity of that reading's anomaly, if any.
    pub severity: Option<Severity>,
}

/// How bad an anomaly is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// The label used in storage and payloads.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A registry threshold that a value crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdKind {
    /// Above `warn_high`.
    WarnHigh,
    /// Above `crit_high`.
    CritHigh,
    /// Below `warn_low`.
    WarnLow,
    /// Below `crit_low`.
    CritLow,
}

/// An anomalous reading with its context.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Anomaly {
    /// Sensor id.
    pub sensor_id: String,
    /// Zone at `ts`.
    pub zone: String,
    /// Event time of the reading.
    pub ts_ms: i64,
    /// The value.
    pub value: f64,
    /// Rolling mean and standard deviation it was scored against, and their sample count.
    pub mean: Option<f64>,
    /// Rolling standard deviation.
    pub stddev: Option<f64>,
    /// Samples behind mean and stddev.
    pub samples: u64,
    /// z-score, when there were enough samples and a non-zero spread.
    pub z: Option<f64>,
    /// Severity from the z-score, if |z| crossed a limit.
    pub z_severity: Option<Severity>,
    /// The most severe registry threshold crossed, and its limit.
    pub threshold: Option<(ThresholdKind, f64)>,
    /// Overall severity: the worse of the two.
    pub severity: Severity,
    /// Where the reading came from.
    pub origin: Origin,
}

/// A zone incident: an event-time interval during which at least the zone
/// threshold of distinct sensors had an anomaly within the zone window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ZoneIncident {
    /// Zone.
    pub zone: String,
    /// Event time the threshold was reached.
    pub start_ms: i64,
    /// Event time the count fell below the threshold (anomalies age out after the zone window).
    pub end_ms: i64,
    /// Most distinct sensors active at once.
    pub peak_sensors: usize,
    /// Every sensor active during the incident, sorted.
    pub sensors: Vec<String>,
}

/// Convenience: the enrichment of a reading with the registry version in force.
pub(crate) fn zone_of(sensor: Option<&Sensor>) -> String {
    sensor.map_or_else(|| UNASSIGNED_ZONE.to_string(), |s| s.zone.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sensor, SensorId, SensorKind, Thresholds, ValidRange};

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
    ) {
        let bytes = bincode::serialize(value).unwrap_or_default();
        let back: Result<T, _> = bincode::deserialize(&bytes);
        assert_eq!(back.ok().as_ref(), Some(value), "bincode round trip");
    }

    /// Every record that crosses a process boundary survives timely's codec
    /// (skipped or reshaped serde fields would not).
    #[test]
    fn exchanged_records_round_trip_through_bincode() -> Result<(), crate::DecodeError> {
        let sensor = Sensor {
            sensor_id: SensorId::new("tmp-1")?,
            kind: SensorKind::VOLTAGE,
            location: String::new(),
            zone: "z".into(),
            unit: "V".into(),
            thresholds: Thresholds {
                warn_high: Some(253.0),
                ..Thresholds::default()
            },
            valid_range: ValidRange {
                min: 0.0,
                max: 500.0,
            },
            valid_from_ms: None,
            expected_interval_ms: None,
        };
        round_trip(&RegistryRecord {
            sensor_id: "tmp-1".into(),
            sensor: Some(sensor),
            record_ts_ms: 5,
            clock_ms: 6,
        });
        let origin = Origin {
            partition: 1,
            offset: 2,
            record_ts_ms: 3,
            clock_ms: 4,
        };
        let reading = crate::decode(
            br#"{"schemaVersion":2,"sensor_id":"tmp-1","ts":7,"value":1.5,"unit":"V","battery":50}"#,
            None,
        )?;
        round_trip(&Validated {
            reading,
            origin: origin.clone(),
            flags: vec![Flag::StaleTimestamp],
            payload: vec![1, 2, 3],
        });
        round_trip(&Anomaly {
            sensor_id: "tmp-1".into(),
            zone: "z".into(),
            ts_ms: 7,
            value: 300.0,
            mean: Some(230.0),
            stddev: None,
            samples: 3,
            z: None,
            z_severity: None,
            threshold: Some((ThresholdKind::WarnHigh, 253.0)),
            severity: Severity::Warning,
            origin,
        });
        Ok(())
    }
}
