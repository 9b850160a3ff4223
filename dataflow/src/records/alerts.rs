//! Alert records: per-sensor transitions, the lifecycle events and alert
//! states the policy emits, and the control records (silences, acks) that
//! people feed in through the `alert-control` topic.

use serde::{Deserialize, Serialize};

use super::{Origin, Severity};

/// What an alert is about: a kind of anomaly of one sensor, or a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// |z| above the warning limit.
    #[serde(rename = "zscore")]
    ZScore,
    /// Above a registry high threshold.
    ThresholdHigh,
    /// Below a registry low threshold.
    ThresholdLow,
    /// Several sensors of one zone at once (a grouped alert).
    Zone,
    /// A registered sensor stopped reporting for longer than its `silent_after`.
    Silent,
}

impl AlertKind {
    /// The kinds a sensor's readings raise.
    pub const ALL: [AlertKind; 3] = [
        AlertKind::ZScore,
        AlertKind::ThresholdHigh,
        AlertKind::ThresholdLow,
    ];

    /// The label used in storage, the API and ids.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::ZScore => "zscore",
            AlertKind::ThresholdHigh => "threshold_high",
            AlertKind::ThresholdLow => "threshold_low",
            AlertKind::Zone => "zone",
            AlertKind::Silent => "silent",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<AlertKind> {
        [
            AlertKind::ZScore,
            AlertKind::ThresholdHigh,
            AlertKind::ThresholdLow,
            AlertKind::Zone,
            AlertKind::Silent,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A change decided by one sensor's alert rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    /// A new alert.
    Fired,
    /// The condition persisted: notify becomes page.
    Escalated,
    /// The condition has been clear long enough.
    Resolved,
    /// A repeat within the cooldown (recorded once per cooldown).
    Suppressed,
}

/// One sensor's alert transition, caused by one reading.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct AlertTransition {
    /// `sensor:kind:fired_ms`.
    pub alert_id: String,
    /// Sensor.
    pub sensor_id: String,
    /// Zone of the registry version in force at the reading.
    pub zone: String,
    /// Kind.
    pub kind: AlertKind,
    /// What changed.
    pub change: AlertChange,
    /// Event time of the reading that caused it.
    pub ts_ms: i64,
    /// Event time the alert fired.
    pub fired_ms: i64,
    /// Worst severity seen while open.
    pub severity: Severity,
    /// Anomalous readings while open.
    pub occurrences: u64,
    /// The reading's value.
    pub value: f64,
    /// The reading.
    pub origin: Origin,
}

/// Whose alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertScope {
    /// One sensor's.
    Sensor,
    /// A zone's, grouping several sensors' alerts.
    Zone,
}

impl AlertScope {
    /// The label used in storage and payloads.
    pub fn name(self) -> &'static str {
        match self {
            AlertScope::Sensor => "sensor",
            AlertScope::Zone => "zone",
        }
    }
}

/// Open or over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds (or has not been clear long enough).
    Open,
    /// Cleared.
    Resolved,
}

impl AlertState {
    /// The label used in storage and payloads.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Resolved => "resolved",
        }
    }
}

/// Urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Tell someone.
    Notify,
    /// Wake someone up.
    Page,
}

impl Level {
    /// The label used in storage and payloads.
    pub fn name(self) -> &'static str {
        match self {
            Level::Notify => "notify",
            Level::Page => "page",
        }
    }
}

/// How the alert's notifications are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Delivered.
    Active,
    /// Matched a silence: recorded, not delivered.
    Silenced,
    /// A zone alert covers it (fired while one was open): recorded, not delivered.
    Inhibited,
    /// Delivered, then folded into a zone alert: its further changes are not delivered.
    Grouped,
}

impl Status {
    /// The label used in storage, payloads and reasons.
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Silenced => "silenced",
            Status::Inhibited => "inhibited",
            Status::Grouped => "grouped",
        }
    }
}

/// An acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ack {
    /// The alert acknowledged.
    pub alert_id: String,
    /// Who.
    pub author: String,
    /// Why, or what is being done.
    #[serde(default)]
    pub comment: String,
}

/// A silence: alerts matching every given matcher, with event time in
/// `[starts_ms, ends_ms)`, are recorded and not delivered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Silence {
    /// Id (chosen by the API).
    pub id: String,
    /// Match this sensor.
    #[serde(default)]
    pub sensor_id: Option<String>,
    /// Match this zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// Match this kind.
    #[serde(default)]
    pub kind: Option<AlertKind>,
    /// From (event time, ms).
    pub starts_ms: i64,
    /// Until (event time, ms, exclusive); a deleted silence ends when it was deleted.
    pub ends_ms: i64,
    /// Who.
    pub author: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

impl Silence {
    /// Whether it covers an alert of `sensor` (none for a zone alert) in
    /// `zone` of `kind` at event time `ts`.
    pub fn matches(&self, sensor: Option<&str>, zone: &str, kind: AlertKind, ts: i64) -> bool {
        (self.starts_ms..self.ends_ms).contains(&ts)
            && self.sensor_id.as_deref().is_none_or(|s| sensor == Some(s))
            && self.zone.as_deref().is_none_or(|z| z == zone)
            && self.kind.is_none_or(|k| k == kind)
    }
}

/// A record of the `alert-control` topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// A silence, new or changed (a deletion sets its end).
    Silence(Silence),
    /// An acknowledgement.
    Ack(Ack),
}

impl Control {
    /// The record with every text field made storable (no NUL, bounded:
    /// see [`super::store_text`]); an outside producer may write anything.
    pub fn sanitized(self) -> Control {
        let text = |s: String, max: usize| super::store_text(&s, max);
        match self {
            Control::Silence(s) => Control::Silence(Silence {
                id: text(s.id, 128),
                sensor_id: s.sensor_id.map(|v| text(v, 128)),
                zone: s.zone.map(|v| text(v, 64)),
                kind: s.kind,
                starts_ms: s.starts_ms,
                ends_ms: s.ends_ms,
                author: text(s.author, 256),
                comment: text(s.comment, 1_024),
            }),
            Control::Ack(a) => Control::Ack(Ack {
                alert_id: text(a.alert_id, 256),
                author: text(a.author, 256),
                comment: text(a.comment, 1_024),
            }),
        }
    }
}

/// A control record as read, with its partition clock (it applies to
/// readings read `reference_delay_ms` of record time after it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ControlRecord {
    /// The record.
    pub control: Control,
    /// Where it came from (partition, offset of `alert-control`; clocks).
    pub origin: Origin,
}

/// An alert's state, as the `alerts` table holds it.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Alert {
    /// `sensor:kind:fired_ms`, or `zone:<zone>:fired_ms`.
    pub alert_id: String,
    /// Sensor or zone.
    pub scope: AlertScope,
    /// The sensor (sensor alerts).
    pub sensor_id: Option<String>,
    /// Zone.
    pub zone: String,
    /// Kind.
    pub kind: AlertKind,
    /// Open or resolved.
    pub state: AlertState,
    /// Notify or page.
    pub level: Level,
    /// Worst severity seen.
    pub severity: Severity,
    /// Delivered, silenced, inhibited or grouped.
    pub status: Status,
    /// Event time it fired.
    pub fired_ms: i64,
    /// Event time of its latest change.
    pub updated_ms: i64,
    /// Event time it resolved.
    pub resolved_ms: Option<i64>,
    /// Anomalous readings while open (sensor alerts).
    pub occurrences: u64,
    /// The latest value seen (sensor alerts).
    pub value: Option<f64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Sensors in the group (zone alerts), sorted.
    pub members: Vec<String>,
    /// The zone alert this one was grouped into or inhibited by.
    pub group_id: Option<String>,
    /// The silence that silenced it.
    pub silence_id: Option<String>,
}

/// A lifecycle event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEventKind {
    /// Opened (or, after a silence ended, delivered at last).
    Fired,
    /// Notify became page.
    Escalated,
    /// Folded into a zone alert.
    Grouped,
    /// Fired while its zone's alert was open.
    Inhibited,
    /// Fired while a silence matched it.
    Silenced,
    /// Acknowledged.
    Acked,
    /// A zone alert gained a member.
    Updated,
    /// Cleared.
    Resolved,
    /// A repeat within the cooldown.
    Suppressed,
}

impl AlertEventKind {
    /// The label used in storage and payloads.
    pub fn name(self) -> &'static str {
        match self {
            AlertEventKind::Fired => "fired",
            AlertEventKind::Escalated => "escalated",
            AlertEventKind::Grouped => "grouped",
            AlertEventKind::Inhibited => "inhibited",
            AlertEventKind::Silenced => "silenced",
            AlertEventKind::Acked => "acked",
            AlertEventKind::Updated => "updated",
            AlertEventKind::Resolved => "resolved",
            AlertEventKind::Suppressed => "suppressed",
        }
    }
}

/// One lifecycle event, with the alert as it stands after it. Its id is
/// stable across replays: receivers use it as an idempotency key.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct AlertEvent {
    /// `alert_id|event|cause`.
    pub event_id: String,
    /// What happened.
    pub event: AlertEventKind,
    /// Event time.
    pub ts_ms: i64,
    /// Whether receivers (webhooks, the alerts topic) get it.
    pub deliver: bool,
    /// Why it is not delivered, or a note.
    pub reason: Option<String>,
    /// The alert after the event.
    pub alert: Alert,
    /// The record that caused it (a reading, or a control record).
    pub origin: Origin,
}
