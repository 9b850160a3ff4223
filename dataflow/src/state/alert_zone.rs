//! The alert policy past one sensor: zone grouping and inhibition,
//! silences and acknowledgements, and what is delivered. One `AlertBook`
//! per worker holds the zones it owns and every control record.
//!
//! ```text
//!  sensor transitions (sorted: ts, sensor, kind, partition, offset)
//!     Fired ─┬─ zone alert open ─────────────────────► inhibited (member joins: zone alert updated)
//!            ├─ ≥ group_threshold sensors fired within group_window ─► zone alert fired;
//!            │      earlier members grouped, this one inhibited
//!            ├─ a silence matches ─────────────────────► silenced
//!            └─ else ───────────────────────────────────► fired (delivered)
//!     Escalated ─► delivered unless silenced, inhibited, grouped or acked (a member's
//!                  escalation escalates its zone alert)
//!     Resolved  ─► delivered if the alert was; a zone alert resolves with its last member
//!  control (visible reference_delay_ms after its clock):
//!     ack ─► acked (delivered); no escalation after it
//!     silence ends (frontier passes its end) ─► its open alerts fired (delivered at last)
//! ```
//!
//! Every decision is a function of the transitions, the control records and
//! their clocks; wall time plays no part.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::AlertPolicy;
use crate::records::{
    Ack, Alert, AlertChange, AlertEvent, AlertEventKind, AlertKind, AlertScope, AlertState,
    AlertTransition, Control, ControlRecord, Level, Origin, Silence, Status, UNASSIGNED_ZONE,
};

/// One zone's open alerts and recent fires.
#[derive(Clone, Debug, Default)]
struct ZoneAlerts {
    /// Open alerts (sensor and zone), by id.
    open: BTreeMap<String, Alert>,
    /// Fires within the group window: (event time, sensor).
    recent: Vec<(i64, String)>,
    /// The open zone alert.
    group: Option<String>,
}

/// Alerts of the zones one worker owns, and every control record.
#[derive(Clone, Debug, Default)]
pub struct AlertBook {
    zones: BTreeMap<String, ZoneAlerts>,
    /// Silence versions by id: (visible from clock, silence), in arrival order.
    silences: BTreeMap<String, Vec<(i64, Silence)>>,
    /// Acks by alert id: (visible from clock, ack, origin).
    acks: BTreeMap<String, (i64, Ack, Origin)>,
    /// Acks already applied (alert ids).
    applied_acks: BTreeSet<String>,
    /// Silences whose end has been handled, by (id, end).
    ended: BTreeSet<(String, i64)>,
}

impl AlertBook {
    /// Starts from the open alerts the store holds (recovery).
    pub fn seed(&mut self, open: impl Iterator<Item = Alert>, policy: &AlertPolicy) {
        for alert in open {
            if alert.state != AlertState::Open {
                continue;
            }
            let zone = self.zones.entry(alert.zone.clone()).or_default();
            match (&alert.scope, &alert.sensor_id) {
                (AlertScope::Zone, _) => zone.group = Some(alert.alert_id.clone()),
                (AlertScope::Sensor, Some(sensor)) => {
                    zone.recent.push((alert.fired_ms, sensor.clone()))
                }
                (AlertScope::Sensor, None) => {}
            }
            if alert.acked_by.is_some() {
                self.applied_acks.insert(alert.alert_id.clone());
            }
            zone.open.insert(alert.alert_id.clone(), alert);
        }
        for zone in self.zones.values_mut() {
            zone.recent.sort();
            let latest = zone.recent.last().map_or(i64::MIN, |(ts, _)| *ts);
            let from = latest.saturating_sub(policy.group_window_ms);
            zone.recent.retain(|(ts, _)| *ts >= from);
        }
    }

    /// Records a control record; it becomes visible `delay` ms of record time after its clock.
    pub fn control(&mut self, record: ControlRecord, delay: i64) {
        let visible = record.origin.clock_ms.saturating_add(delay);
        match record.control {
            Control::Silence(s) => self
                .silences
                .entry(s.id.clone())
                .or_default()
                .push((visible, s)),
            Control::Ack(a) => {
                // The first ack of an alert counts.
                self.acks
                    .entry(a.alert_id.clone())
                    .or_insert((visible, a, record.origin));
            }
        }
    }

    /// The silences visible at `clock` (latest version of each).
    fn silences_at(&self, clock: i64) -> impl Iterator<Item = &Silence> {
        self.silences.values().filter_map(move |versions| {
            versions
                .iter()
                .rev()
                .find(|(visible, _)| *visible <= clock)
                .map(|(_, s)| s)
        })
    }

    fn silence_for(&self, alert: &Alert, ts: i64, clock: i64) -> Option<String> {
        self.silences_at(clock)
            .find(|s| s.matches(alert.sensor_id.as_deref(), &alert.zone, alert.kind, ts))
            .map(|s| s.id.clone())
    }

    fn acked_at(&self, alert_id: &str, clock: i64) -> Option<&Ack> {
        self.acks
            .get(alert_id)
            .filter(|(visible, _, _)| *visible <= clock)
            .map(|(_, a, _)| a)
    }

    /// Applies one sensor transition; returns the events it causes.
    pub fn transition(&mut self, t: &AlertTransition, policy: &AlertPolicy) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let clock = t.origin.clock_ms;
        let cause = format!("{}:{}", t.origin.partition, t.origin.offset);
        match t.change {
            AlertChange::Suppressed => {
                let alert = sensor_alert(t, Status::Active);
                out.push(event(
                    alert,
                    AlertEventKind::Suppressed,
                    t,
                    false,
                    Some(format!("cooldown of {} ms", policy.cooldown_ms(&t.zone))),
                    &cause,
                ));
            }
            AlertChange::Fired => self.fired(t, policy, &cause, &mut out),
            AlertChange::Escalated => {
                let Some(mut alert) = self.open_alert(t) else {
                    return out;
                };
                alert.level = Level::Page;
                alert.severity = t.severity;
                alert.occurrences = t.occurrences;
                alert.value = Some(t.value);
                alert.updated_ms = t.ts_ms;
                let reason = match (alert.status, self.acked_at(&t.alert_id, clock)) {
                    (_, Some(ack)) => Some(format!("acknowledged by {}", ack.author)),
                    (Status::Silenced, _) => {
                        alert.silence_id.clone().map(|s| format!("silenced by {s}"))
                    }
                    (Status::Inhibited | Status::Grouped, _) => alert
                        .group_id
                        .clone()
                        .map(|g| format!("covered by zone alert {g}")),
                    (Status::Active, _) => None,
                };
                if self.acked_at(&t.alert_id, clock).is_some() {
                    // Acknowledged alerts do not escalate.
                    alert.level = Level::Notify;
                }
                let deliver = reason.is_none();
                let group = alert.group_id.clone();
                self.put(alert.clone());
                out.push(event(
                    alert,
                    AlertEventKind::Escalated,
                    t,
                    deliver,
                    reason,
                    &cause,
                ));
                // A member's escalation escalates its zone alert.
                if let Some(group) = group {
                    self.escalate_group(&group, t, &cause, &mut out);
                }
            }
            AlertChange::Resolved => {
                let Some(mut alert) = self.open_alert(t) else {
                    return out;
                };
                alert.state = AlertState::Resolved;
                alert.resolved_ms = Some(t.ts_ms);
                alert.updated_ms = t.ts_ms;
                alert.occurrences = t.occurrences;
                alert.value = Some(t.value);
                let deliver = alert.status == Status::Active;
                let reason = (!deliver).then(|| format!("{} alert", alert.status.name()));
                let group = alert.group_id.clone();
                if let Some(zone) = self.zones.get_mut(&t.zone) {
                    zone.open.remove(&t.alert_id);
                }
                out.push(event(
                    alert,
                    AlertEventKind::Resolved,
                    t,
                    deliver,
                    reason,
                    &cause,
                ));
                if let Some(group) = group {
                    self.resolve_group_if_done(&t.zone, &group, t, &cause, &mut out);
                }
            }
        }
        out
    }

    fn open_alert(&self, t: &AlertTransition) -> Option<Alert> {
        self.zones.get(&t.zone)?.open.get(&t.alert_id).cloned()
    }

    fn put(&mut self, alert: Alert) {
        self.zones
            .entry(alert.zone.clone())
            .or_default()
            .open
            .insert(alert.alert_id.clone(), alert);
    }

    fn fired(
        &mut self,
        t: &AlertTransition,
        policy: &AlertPolicy,
        cause: &str,
        out: &mut Vec<AlertEvent>,
    ) {
        let clock = t.origin.clock_ms;
        let mut alert = sensor_alert(t, Status::Active);
        let grouping = t.zone != UNASSIGNED_ZONE;
        let zone = self.zones.entry(t.zone.clone()).or_default();
        if grouping {
            zone.recent.push((t.ts_ms, t.sensor_id.clone()));
            let from = t.ts_ms.saturating_sub(policy.group_window_ms);
            zone.recent.retain(|(ts, _)| *ts >= from);
        }
        // A zone alert is open: this one is covered by it.
        if let Some(group) = zone.group.clone() {
            self.inhibit(alert, &group, t, cause, out);
            self.join_group(&group, &t.sensor_id, t, cause, out);
            return;
        }
        // Enough sensors of the zone alerting at once: one zone alert.
        let sensors: BTreeSet<&String> = zone
            .recent
            .iter()
            .filter(|(ts, _)| *ts <= t.ts_ms)
            .map(|(_, s)| s)
            .collect();
        if grouping && sensors.len() >= policy.group_threshold {
            let members: Vec<String> = sensors.into_iter().cloned().collect();
            let group_id = format!("zone:{}:{}", t.zone, t.ts_ms);
            let mut group = Alert {
                alert_id: group_id.clone(),
                scope: AlertScope::Zone,
                sensor_id: None,
                zone: t.zone.clone(),
                kind: AlertKind::Zone,
                state: AlertState::Open,
                level: Level::Notify,
                severity: t.severity,
                status: Status::Active,
                fired_ms: t.ts_ms,
                updated_ms: t.ts_ms,
                resolved_ms: None,
                occurrences: members.len() as u64,
                value: None,
                acked_by: None,
                members: members.clone(),
                group_id: None,
                silence_id: None,
            };
            // Open members already delivered are folded into the group.
            let mut grouped = Vec::new();
            if let Some(zone) = self.zones.get_mut(&t.zone) {
                zone.group = Some(group_id.clone());
                for member in zone.open.values_mut() {
                    if member.scope == AlertScope::Sensor
                        && member
                            .sensor_id
                            .as_ref()
                            .is_some_and(|s| members.contains(s))
                    {
                        group.severity = group.severity.max(member.severity);
                        member.group_id = Some(group_id.clone());
                        if member.status == Status::Active {
                            member.status = Status::Grouped;
                            member.updated_ms = t.ts_ms;
                            grouped.push(member.clone());
                        }
                    }
                }
            }
            let silence = self.silence_for(&group, t.ts_ms, clock);
            let (kind, deliver, reason) = match &silence {
                Some(s) => (
                    AlertEventKind::Silenced,
                    false,
                    Some(format!("silenced by {s}")),
                ),
                None => (AlertEventKind::Fired, true, None),
            };
            if let Some(s) = silence {
                group.status = Status::Silenced;
                group.silence_id = Some(s);
            }
            self.put(group.clone());
            out.push(event(group, kind, t, deliver, reason, cause));
            for member in grouped {
                out.push(event(
                    member,
                    AlertEventKind::Grouped,
                    t,
                    false,
                    Some(format!("grouped into zone alert {group_id}")),
                    cause,
                ));
            }
            self.inhibit(alert, &group_id, t, cause, out);
            return;
        }
        match self.silence_for(&alert, t.ts_ms, clock) {
            Some(s) => {
                alert.status = Status::Silenced;
                alert.silence_id = Some(s.clone());
                self.put(alert.clone());
                out.push(event(
                    alert,
                    AlertEventKind::Silenced,
                    t,
                    false,
                    Some(format!("silenced by {s}")),
                    cause,
                ));
            }
            None => {
                self.put(alert.clone());
                out.push(event(alert, AlertEventKind::Fired, t, true, None, cause));
            }
        }
    }

    /// A new sensor alert covered by the open zone alert `group`: recorded, not sent.
    fn inhibit(
        &mut self,
        mut alert: Alert,
        group: &str,
        t: &AlertTransition,
        cause: &str,
        out: &mut Vec<AlertEvent>,
    ) {
        alert.status = Status::Inhibited;
        alert.group_id = Some(group.to_string());
        self.put(alert.clone());
        out.push(event(
            alert,
            AlertEventKind::Inhibited,
            t,
            false,
            Some(format!("covered by zone alert {group}")),
            cause,
        ));
    }

    fn join_group(
        &mut self,
        group_id: &str,
        sensor: &str,
        t: &AlertTransition,
        cause: &str,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(mut group) = self
            .zones
            .get(&t.zone)
            .and_then(|z| z.open.get(group_id))
            .cloned()
        else {
            return;
        };
        if group.members.iter().any(|m| m == sensor) {
            return;
        }
        group.members.push(sensor.to_string());
        group.members.sort();
        group.occurrences = group.members.len() as u64;
        group.severity = group.severity.max(t.severity);
        group.updated_ms = t.ts_ms;
        let deliver = group.status == Status::Active;
        let reason = (!deliver).then(|| format!("{} alert", group.status.name()));
        self.put(group.clone());
        out.push(event(
            group,
            AlertEventKind::Updated,
            t,
            deliver,
            reason,
            cause,
        ));
    }

    fn escalate_group(
        &mut self,
        group_id: &str,
        t: &AlertTransition,
        cause: &str,
        out: &mut Vec<AlertEvent>,
    ) {
        let clock = t.origin.clock_ms;
        let Some(mut group) = self
            .zones
            .get(&t.zone)
            .and_then(|z| z.open.get(group_id))
            .cloned()
        else {
            return;
        };
        if group.level == Level::Page {
            return;
        }
        let acked = self.acked_at(group_id, clock).map(|a| a.author.clone());
        group.severity = group.severity.max(t.severity);
        group.updated_ms = t.ts_ms;
        if acked.is_none() {
            group.level = Level::Page;
        }
        let reason = match (acked, group.status) {
            (Some(by), _) => Some(format!("acknowledged by {by}")),
            (None, Status::Active) => None,
            (None, status) => Some(format!("{} alert", status.name())),
        };
        let deliver = reason.is_none();
        self.put(group.clone());
        out.push(event(
            group,
            AlertEventKind::Escalated,
            t,
            deliver,
            reason,
            cause,
        ));
    }

    fn resolve_group_if_done(
        &mut self,
        zone: &str,
        group_id: &str,
        t: &AlertTransition,
        cause: &str,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(state) = self.zones.get_mut(zone) else {
            return;
        };
        let members_open = state
            .open
            .values()
            .any(|a| a.group_id.as_deref() == Some(group_id));
        if members_open {
            return;
        }
        let Some(mut group) = state.open.remove(group_id) else {
            return;
        };
        if state.group.as_deref() == Some(group_id) {
            state.group = None;
        }
        group.state = AlertState::Resolved;
        group.resolved_ms = Some(t.ts_ms);
        group.updated_ms = t.ts_ms;
        let deliver = group.status == Status::Active;
        let reason = (!deliver).then(|| format!("{} alert", group.status.name()));
        out.push(event(
            group,
            AlertEventKind::Resolved,
            t,
            deliver,
            reason,
            cause,
        ));
    }

    /// The sequence of transitions (in clock order) has reached record-time
    /// clock `upto`: acks visible by then are recorded, and alerts silenced
    /// by a silence that ended by then are delivered at last. Called before
    /// each transition (with its clock) and when the frontier moves on, so
    /// these events fall at the same place in the sequence on every run.
    pub fn advance(&mut self, upto: i64) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let mut due: Vec<(i64, String, Ack, Origin)> = self
            .acks
            .iter()
            .filter(|(id, (visible, _, _))| *visible <= upto && !self.applied_acks.contains(*id))
            .map(|(id, (visible, ack, origin))| (*visible, id.clone(), ack.clone(), origin.clone()))
            .collect();
        due.sort();
        for (visible, id, ack, origin) in due {
            self.applied_acks.insert(id.clone());
            let Some(mut alert) = self.zones.values().find_map(|z| z.open.get(&id)).cloned() else {
                continue; // not an open alert of this worker's zones
            };
            alert.acked_by = Some(ack.author.clone());
            self.put(alert.clone());
            out.push(AlertEvent {
                event_id: format!("{id}|acked|c{}:{}", origin.partition, origin.offset),
                event: AlertEventKind::Acked,
                ts_ms: visible,
                deliver: true,
                reason: (!ack.comment.is_empty()).then(|| ack.comment.clone()),
                alert,
                origin,
            });
        }
        // Silences that ended by `upto` (as seen then).
        let mut ended: Vec<(i64, String)> = self
            .silences_at(upto)
            .filter(|s| s.ends_ms <= upto)
            .map(|s| (s.ends_ms, s.id.clone()))
            .filter(|(end, id)| !self.ended.contains(&(id.clone(), *end)))
            .collect();
        ended.sort();
        for (end, id) in ended {
            self.ended.insert((id.clone(), end));
            let silenced: Vec<Alert> = self
                .zones
                .values()
                .flat_map(|z| z.open.values())
                .filter(|a| a.status == Status::Silenced && a.silence_id.as_deref() == Some(&id))
                .cloned()
                .collect();
            for mut alert in silenced {
                let still = self.silence_for(&alert, end, upto);
                alert.silence_id = still.clone();
                // A member of a zone alert stays covered by it.
                let covered = alert.group_id.as_ref().is_some_and(|g| {
                    self.zones
                        .get(&alert.zone)
                        .is_some_and(|z| z.open.contains_key(g))
                });
                match (&still, covered) {
                    (Some(_), _) => {}
                    (None, true) => alert.status = Status::Grouped,
                    (None, false) => alert.status = Status::Active,
                }
                alert.updated_ms = end;
                self.put(alert.clone());
                if alert.status != Status::Active {
                    continue;
                }
                out.push(AlertEvent {
                    event_id: format!("{}|fired|unsilenced:{id}@{end}", alert.alert_id),
                    event: AlertEventKind::Fired,
                    ts_ms: end,
                    deliver: true,
                    reason: Some(format!("silence {id} ended")),
                    alert,
                    origin: Origin {
                        partition: -1,
                        offset: -1,
                        record_ts_ms: end,
                        clock_ms: end,
                    },
                });
            }
        }
        out
    }

    /// Zones and open alerts held (for the memory checks).
    pub fn footprint(&self) -> (usize, usize) {
        (
            self.zones.len(),
            self.zones.values().map(|z| z.open.len()).sum(),
        )
    }
}

fn sensor_alert(t: &AlertTransition, status: Status) -> Alert {
    Alert {
        alert_id: t.alert_id.clone(),
        scope: AlertScope::Sensor,
        sensor_id: Some(t.sensor_id.clone()),
        zone: t.zone.clone(),
        kind: t.kind,
        state: AlertState::Open,
        level: Level::Notify,
        severity: t.severity,
        status,
        fired_ms: t.fired_ms,
        updated_ms: t.ts_ms,
        resolved_ms: None,
        occurrences: t.occurrences,
        value: Some(t.value),
        acked_by: None,
        members: Vec::new(),
        group_id: None,
        silence_id: None,
    }
}

fn event(
    alert: Alert,
    kind: AlertEventKind,
    t: &AlertTransition,
    deliver: bool,
    reason: Option<String>,
    cause: &str,
) -> AlertEvent {
    AlertEvent {
        event_id: format!("{}|{}|{cause}", alert.alert_id, kind.name()),
        event: kind,
        ts_ms: t.ts_ms,
        deliver,
        reason,
        alert,
        origin: t.origin.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Severity;

    fn origin(offset: i64, clock_ms: i64) -> Origin {
        Origin {
            partition: 0,
            offset,
            record_ts_ms: clock_ms,
            clock_ms,
        }
    }

    /// A transition of `sensor`'s z-score alert (fired at `fired_ms`) caused
    /// by a reading at `ts_ms`, whose partition clock is `ts_ms` too.
    fn transition(sensor: &str, change: AlertChange, fired_ms: i64, ts_ms: i64) -> AlertTransition {
        AlertTransition {
            alert_id: format!("{sensor}:zscore:{fired_ms}"),
            sensor_id: sensor.to_string(),
            zone: "z1".to_string(),
            kind: AlertKind::ZScore,
            change,
            ts_ms,
            fired_ms,
            severity: Severity::Warning,
            occurrences: 1,
            value: 9.0,
            origin: origin(ts_ms, ts_ms),
        }
    }

    fn kinds(events: &[AlertEvent]) -> Vec<(AlertEventKind, bool)> {
        events.iter().map(|e| (e.event, e.deliver)).collect()
    }

    fn policy() -> AlertPolicy {
        AlertPolicy {
            group_threshold: 3,
            group_window_ms: 60_000,
            ..AlertPolicy::default()
        }
    }

    #[test]
    fn an_alert_alone_is_delivered_when_it_fires_and_when_it_resolves() {
        let mut book = AlertBook::default();
        let fired = book.transition(
            &transition("s1", AlertChange::Fired, 1_000, 1_000),
            &policy(),
        );
        assert_eq!(kinds(&fired), [(AlertEventKind::Fired, true)]);
        let resolved = book.transition(
            &transition("s1", AlertChange::Resolved, 1_000, 9_000),
            &policy(),
        );
        assert_eq!(kinds(&resolved), [(AlertEventKind::Resolved, true)]);
        assert_eq!(resolved[0].alert.resolved_ms, Some(9_000));
        // Nothing is left open: a second resolve is no event.
        let again = book.transition(
            &transition("s1", AlertChange::Resolved, 1_000, 9_500),
            &policy(),
        );
        assert!(again.is_empty());
    }

    #[test]
    fn enough_sensors_at_once_make_one_zone_alert_and_cover_the_rest() {
        let mut book = AlertBook::default();
        let p = policy();
        let mut events = Vec::new();
        for (i, sensor) in ["s1", "s2", "s3"].iter().enumerate() {
            let ts = 1_000 + i as i64 * 1_000;
            events.push(book.transition(&transition(sensor, AlertChange::Fired, ts, ts), &p));
        }
        assert_eq!(kinds(&events[0]), [(AlertEventKind::Fired, true)]);
        assert_eq!(kinds(&events[1]), [(AlertEventKind::Fired, true)]);
        let third = &events[2];
        let zone = third
            .iter()
            .find(|e| e.alert.scope == AlertScope::Zone)
            .map(|e| (e.event, e.deliver, e.alert.members.clone()));
        assert_eq!(
            zone,
            Some((
                AlertEventKind::Fired,
                true,
                vec!["s1".into(), "s2".into(), "s3".into()]
            ))
        );
        assert!(
            third
                .iter()
                .filter(|e| e.alert.scope == AlertScope::Sensor)
                .all(|e| !e.deliver),
            "members are grouped or inhibited, not delivered: {:?}",
            kinds(third)
        );
        // A fourth sensor while the zone alert is open: inhibited, and the
        // zone alert gains a member.
        let fourth = book.transition(&transition("s4", AlertChange::Fired, 5_000, 5_000), &p);
        let what: Vec<AlertEventKind> = fourth.iter().map(|e| e.event).collect();
        assert!(what.contains(&AlertEventKind::Inhibited), "{what:?}");
        assert!(what.contains(&AlertEventKind::Updated), "{what:?}");
        assert!(fourth.iter().all(|e| e.event != AlertEventKind::Fired));
    }

    #[test]
    fn a_silence_holds_delivery_until_it_ends() {
        let mut book = AlertBook::default();
        book.control(
            ControlRecord {
                control: Control::Silence(Silence {
                    id: "mute-1".into(),
                    sensor_id: None,
                    zone: Some("z1".into()),
                    kind: None,
                    starts_ms: 0,
                    ends_ms: 10_000,
                    author: "ops".into(),
                    comment: String::new(),
                }),
                origin: origin(0, 0),
            },
            0,
        );
        let fired = book.transition(
            &transition("s1", AlertChange::Fired, 2_000, 2_000),
            &policy(),
        );
        assert_eq!(kinds(&fired), [(AlertEventKind::Silenced, false)]);
        assert_eq!(fired[0].alert.silence_id.as_deref(), Some("mute-1"));
        assert!(book.advance(9_999).is_empty(), "the silence still holds");
        let ended = book.advance(10_000);
        assert_eq!(kinds(&ended), [(AlertEventKind::Fired, true)]);
        assert!(book.advance(20_000).is_empty(), "delivered once");
    }

    #[test]
    fn an_acknowledged_alert_does_not_page() {
        let mut book = AlertBook::default();
        let p = policy();
        book.transition(&transition("s1", AlertChange::Fired, 1_000, 1_000), &p);
        // Visible 500 ms of record time after its clock of 2,000.
        book.control(
            ControlRecord {
                control: Control::Ack(Ack {
                    alert_id: "s1:zscore:1000".into(),
                    author: "ops".into(),
                    comment: "on it".into(),
                }),
                origin: origin(7, 2_000),
            },
            500,
        );
        assert!(book.advance(2_499).is_empty());
        let acked = book.advance(2_500);
        assert_eq!(kinds(&acked), [(AlertEventKind::Acked, true)]);
        assert_eq!(acked[0].alert.acked_by.as_deref(), Some("ops"));
        let escalated = book.transition(
            &transition("s1", AlertChange::Escalated, 1_000, 700_000),
            &p,
        );
        assert_eq!(kinds(&escalated), [(AlertEventKind::Escalated, false)]);
        assert_eq!(escalated[0].alert.level, Level::Notify);
    }
}
