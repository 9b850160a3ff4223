//! What the server sends: JSON views of the dataflow's outputs.

use serde::Serialize;
use weir_dataflow::records::{Anomaly, Severity, ThresholdKind, WindowAggregate, ZoneIncident};

/// A window's aggregate as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowView {
    /// Window start (ms).
    pub start: i64,
    /// Readings in it.
    pub count: u64,
    /// Mean value.
    pub avg: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl From<&WindowAggregate> for WindowView {
    fn from(w: &WindowAggregate) -> Self {
        WindowView {
            start: w.start_ms,
            count: w.count,
            avg: w.avg(),
            min: w.min,
            max: w.max,
        }
    }
}

/// A sensor's latest state as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SensorView {
    /// Sensor id.
    pub sensor_id: String,
    /// Zone.
    pub zone: String,
    /// Kind from the registry (`temperature`, …), if known.
    pub kind: Option<String>,
    /// Unit from the registry, if known.
    pub unit: Option<String>,
    /// Event time of the latest reading (ms).
    pub ts: Option<i64>,
    /// Latest value.
    pub value: Option<f64>,
    /// Rolling mean before it.
    pub mean: Option<f64>,
    /// Rolling standard deviation before it.
    pub stddev: Option<f64>,
    /// Severity of the latest reading's anomaly, if any.
    pub severity: Option<Severity>,
    /// The current 5-minute window.
    pub window_5m: Option<WindowView>,
    /// The current 1-hour window.
    pub window_1h: Option<WindowView>,
    /// When the latest reading entered Kafka (record timestamp, ms): end-to-end latency = receipt − this.
    pub ingest_ts: Option<i64>,
}

impl SensorView {
    /// A sensor known by its id only (in the unassigned zone until the
    /// registry or a reading says otherwise).
    pub fn empty(id: &str) -> SensorView {
        SensorView {
            sensor_id: id.to_string(),
            zone: weir_dataflow::records::UNASSIGNED_ZONE.to_string(),
            kind: None,
            unit: None,
            ts: None,
            value: None,
            mean: None,
            stddev: None,
            severity: None,
            window_5m: None,
            window_1h: None,
            ingest_ts: None,
        }
    }
}

/// An anomaly as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnomalyView {
    /// Sensor id.
    pub sensor_id: String,
    /// Zone.
    pub zone: String,
    /// Event time (ms).
    pub ts: i64,
    /// The value.
    pub value: f64,
    /// z-score, if scored.
    pub z: Option<f64>,
    /// Overall severity.
    pub severity: Severity,
    /// Registry threshold crossed, if any.
    pub threshold_kind: Option<ThresholdKind>,
    /// Its limit.
    pub threshold: Option<f64>,
    /// When the reading entered Kafka (ms).
    pub ingest_ts: i64,
}

impl From<&Anomaly> for AnomalyView {
    fn from(a: &Anomaly) -> Self {
        AnomalyView {
            sensor_id: a.sensor_id.clone(),
            zone: a.zone.clone(),
            ts: a.ts_ms,
            value: a.value,
            z: a.z,
            severity: a.severity,
            threshold_kind: a.threshold.map(|(k, _)| k),
            threshold: a.threshold.map(|(_, l)| l),
            ingest_ts: a.origin.record_ts_ms,
        }
    }
}

/// A zone incident as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentView {
    /// Zone.
    pub zone: String,
    /// Event time it started (ms).
    pub start: i64,
    /// Event time it ended, or will end unless more anomalies arrive (ms).
    pub end: i64,
    /// Most sensors active at once.
    pub peak_sensors: usize,
    /// Every sensor involved.
    pub sensors: Vec<String>,
    /// Whether the zone's event time has not passed its end yet.
    pub open: bool,
}

impl IncidentView {
    /// The view of `incident` when event time is at `now_ms`.
    pub fn new(incident: &ZoneIncident, now_ms: i64) -> Self {
        IncidentView {
            zone: incident.zone.clone(),
            start: incident.start_ms,
            end: incident.end_ms,
            peak_sensors: incident.peak_sensors,
            sensors: incident.sensors.clone(),
            open: incident.end_ms > now_ms,
        }
    }
}

/// One zone's summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneSummary {
    /// Zone.
    pub zone: String,
    /// Sensors known in it.
    pub sensors: usize,
    /// Sensors whose latest reading is a warning.
    pub warning: usize,
    /// Sensors whose latest reading is critical.
    pub critical: usize,
    /// Whether a zone incident is open.
    pub open_incident: bool,
}
