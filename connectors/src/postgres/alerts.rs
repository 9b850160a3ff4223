//! Alerts in PostgreSQL: lifecycle events, alert states, and the delivery
//! outbox, written in the epoch's transaction; and what a restart seeds
//! the alert rules with.
//!
//! ```text
//!  alert events (one batch) ─► alert_events      INSERT … ON CONFLICT (event_id) DO NOTHING
//!                           ─► alerts            the last state of each alert in the batch, upserted
//!                           ─► alert_deliveries  one 'pending' row per (deliverable event, channel),
//!                                                ON CONFLICT DO NOTHING: a replay never re-delivers
//!                           ─► NOTIFY weir_alert_deliveries (sent on COMMIT: the deliverer wakes)
//! ```

use std::collections::BTreeMap;
use std::time::SystemTime;

use postgres::{Client, Transaction};
use weir_dataflow::records::{Alert, AlertEvent, Update};

use super::schema::time;

/// The channel the deliverer listens on.
pub const NOTIFY_CHANNEL: &str = "weir_alert_deliveries";

/// Writes a batch's alert events, the alerts' latest states and the
/// outbox rows for `channels`.
pub fn write_alert_events(
    tx: &mut Transaction<'_>,
    events: &[Update<AlertEvent>],
    channels: &[String],
) -> Result<(), postgres::Error> {
    let rows: Vec<&AlertEvent> = events
        .iter()
        .filter(|(_, _, d)| *d > 0)
        .map(|(e, _, _)| e)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> = rows
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect();
    tx.execute(
        "INSERT INTO alert_events (event_id, alert_id, event, time, deliver, reason, payload, \
         kafka_partition, kafka_offset) \
         SELECT e, a, k, t, d, r, p::jsonb, kp, ko FROM UNNEST($1::text[], $2::text[], $3::text[], \
         $4::timestamptz[], $5::bool[], $6::text[], $7::text[], $8::int[], $9::bigint[]) \
         AS u(e, a, k, t, d, r, p, kp, ko) ON CONFLICT (event_id) DO NOTHING",
        &[
            &rows
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<&str>>(),
            &rows
                .iter()
                .map(|e| e.alert.alert_id.as_str())
                .collect::<Vec<&str>>(),
            &rows.iter().map(|e| e.event.name()).collect::<Vec<&str>>(),
            &rows
                .iter()
                .map(|e| time(e.ts_ms))
                .collect::<Vec<SystemTime>>(),
            &rows.iter().map(|e| e.deliver).collect::<Vec<bool>>(),
            &rows
                .iter()
                .map(|e| e.reason.as_deref())
                .collect::<Vec<Option<&str>>>(),
            &payloads,
            &rows
                .iter()
                .map(|e| e.origin.partition)
                .collect::<Vec<i32>>(),
            &rows.iter().map(|e| e.origin.offset).collect::<Vec<i64>>(),
        ],
    )?;
    // The alert after its last event in the batch (events of one alert
    // come from one worker, in order).
    let mut last: BTreeMap<&str, &Alert> = BTreeMap::new();
    for e in &rows {
        last.insert(e.alert.alert_id.as_str(), &e.alert);
    }
    let alerts: Vec<&Alert> = last.into_values().collect();
    let docs: Vec<String> = alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap_or_default())
        .collect();
    tx.execute(
        "INSERT INTO alerts (alert_id, scope, sensor_id, zone, kind, state, level, severity, status, \
         fired_at, updated_at, resolved_at, occurrences, value, acked_by, members, group_id, silence_id, doc) \
         SELECT i, sc, s, z, k, st, l, sev, stat, f, u, r, o, v, ack, \
         ARRAY(SELECT jsonb_array_elements_text(d::jsonb -> 'members')), g, sil, d::jsonb \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::bigint[], \
         $14::float8[], $15::text[], $16::text[], $17::text[], $18::text[]) \
         AS u(i, sc, s, z, k, st, l, sev, stat, f, u, r, o, v, ack, g, sil, d) \
         ON CONFLICT (alert_id) DO UPDATE SET state = EXCLUDED.state, level = EXCLUDED.level, \
         severity = EXCLUDED.severity, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, \
         resolved_at = EXCLUDED.resolved_at, occurrences = EXCLUDED.occurrences, value = EXCLUDED.value, \
         acked_by = EXCLUDED.acked_by, members = EXCLUDED.members, group_id = EXCLUDED.group_id, \
         silence_id = EXCLUDED.silence_id, doc = EXCLUDED.doc, stored_at = now()",
        &[
            &alerts.iter().map(|a| a.alert_id.as_str()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.scope.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.sensor_id.as_deref()).collect::<Vec<Option<&str>>>(),
            &alerts.iter().map(|a| a.zone.as_str()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.kind.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.state.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.level.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.severity.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| a.status.name()).collect::<Vec<&str>>(),
            &alerts.iter().map(|a| time(a.fired_ms)).collect::<Vec<SystemTime>>(),
            &alerts.iter().map(|a| time(a.updated_ms)).collect::<Vec<SystemTime>>(),
            &alerts.iter().map(|a| a.resolved_ms.map(time)).collect::<Vec<Option<SystemTime>>>(),
            &alerts
                .iter()
                .map(|a| i64::try_from(a.occurrences).unwrap_or(i64::MAX))
                .collect::<Vec<i64>>(),
            &alerts.iter().map(|a| a.value).collect::<Vec<Option<f64>>>(),
            &alerts.iter().map(|a| a.acked_by.as_deref()).collect::<Vec<Option<&str>>>(),
            &alerts.iter().map(|a| a.group_id.as_deref()).collect::<Vec<Option<&str>>>(),
            &alerts.iter().map(|a| a.silence_id.as_deref()).collect::<Vec<Option<&str>>>(),
            &docs,
        ],
    )?;
    let deliverable: Vec<&str> = rows
        .iter()
        .filter(|e| e.deliver)
        .map(|e| e.event_id.as_str())
        .collect();
    if !deliverable.is_empty() && !channels.is_empty() {
        let inserted = tx.execute(
            "INSERT INTO alert_deliveries (event_id, channel) \
             SELECT e, c FROM UNNEST($1::text[]) AS e, UNNEST($2::text[]) AS c \
             ON CONFLICT DO NOTHING",
            &[&deliverable, &channels],
        )?;
        if inserted > 0 {
            tx.execute(&format!("NOTIFY {NOTIFY_CHANNEL}"), &[])?;
        }
    }
    Ok(())
}

/// Alerts a restart seeds the rules with: the latest alert of every key
/// that is open, or changed within a day (event time) of the latest change
/// (its cooldown may still run).
pub fn alerts_to_seed(client: &mut Client) -> Result<Vec<Alert>, postgres::Error> {
    let rows = client.query(
        "SELECT DISTINCT ON (coalesce(sensor_id, alert_id), kind) doc::text FROM alerts \
         WHERE state = 'open' OR updated_at > (SELECT max(updated_at) FROM alerts) - interval '1 day' \
         ORDER BY coalesce(sensor_id, alert_id), kind, fired_at DESC",
        &[],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| serde_json::from_str::<Alert>(r.get::<_, &str>(0)).ok())
        .collect())
}
