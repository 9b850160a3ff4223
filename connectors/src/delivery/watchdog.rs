//! The Watchdog: an alert event that always fires. Every
//! `delivery.watchdog_ms` `weir run` writes one to the outbox for every
//! channel, as Prometheus Alertmanager's Watchdog does, so that something
//! outside weir (`weir heartbeat`, a dead man's switch service) can raise
//! the alarm when they stop: then the pipeline, PostgreSQL, the deliverer
//! or a channel is down. It goes the way real alert events go (outbox,
//! deliverer, channel), so its arrival proves that path works end to end.
//!
//! ```text
//!  every watchdog_ms: BEGIN
//!    INSERT alert_events (watchdog|<seq>|<wall ms>, alert_id 'watchdog', event 'watchdog')
//!    INSERT alert_deliveries (one row per channel)
//!    DELETE watchdog events older than a day (their deliveries cascade)
//!  COMMIT; NOTIFY ─► deliverer ─► alerts topic, webhooks
//! ```
//!
//! Its time is wall time, not record time: it says that weir is alive now,
//! which no record can say (a liveness signal, outside the determinism
//! contract like the idle rule of the clock).

use std::time::Duration;

use serde_json::json;
use tracing::{info, warn};
use weir_dataflow::clock::now_ms;

use crate::postgres::{NOTIFY_CHANNEL, PostgresConfig, connect_async};

/// The alert id of every Watchdog event.
pub const WATCHDOG_ALERT_ID: &str = "watchdog";

/// The body of one Watchdog event (the deliverer adds `idempotency_key`).
pub fn watchdog_event(seq: u64, ts_ms: i64) -> serde_json::Value {
    json!({
        "event_id": event_id(seq, ts_ms),
        "event": "watchdog",
        "ts_ms": ts_ms,
        "deliver": true,
        "reason": "always firing: its absence means weir's alerting is down",
        "alert": {
            "alert_id": WATCHDOG_ALERT_ID,
            "kind": "watchdog",
            "state": "open",
            "fired_ms": ts_ms,
            "updated_ms": ts_ms,
        },
        "seq": seq,
    })
}

fn event_id(seq: u64, ts_ms: i64) -> String {
    format!("{WATCHDOG_ALERT_ID}|{seq}|{ts_ms}")
}

/// Writes a Watchdog event for each of `channels` every `every`, for ever
/// (until the task is aborted). A failure (PostgreSQL away) is logged once
/// and retried at the next tick: the missing events are the signal.
pub async fn run(postgres: PostgresConfig, channels: Vec<String>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut client: Option<tokio_postgres::Client> = None;
    let mut failing = false;
    let mut seq = 0u64;
    loop {
        tick.tick().await;
        seq += 1;
        match emit(&postgres, &mut client, &channels, seq).await {
            Ok(()) if failing => {
                info!("watchdog events written again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                client = None;
                if !failing {
                    warn!(error = %e, "watchdog event not written; retried every tick (its absence is the alarm)");
                    failing = true;
                }
            }
        }
    }
}

async fn emit(
    postgres: &PostgresConfig,
    client: &mut Option<tokio_postgres::Client>,
    channels: &[String],
    seq: u64,
) -> Result<(), tokio_postgres::Error> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        *client = Some(connect_async(postgres).await?);
    }
    let Some(client) = client.as_mut() else {
        return Ok(());
    };
    let ts_ms = now_ms();
    let id = event_id(seq, ts_ms);
    let payload = watchdog_event(seq, ts_ms).to_string();
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO alert_events (event_id, alert_id, event, time, deliver, reason, payload, \
         kafka_partition, kafka_offset) \
         VALUES ($1, $2, 'watchdog', to_timestamp($3::float8 / 1000), true, NULL, $4::text::jsonb, -1, $5) \
         ON CONFLICT DO NOTHING",
        &[
            &id,
            &WATCHDOG_ALERT_ID,
            &(ts_ms as f64),
            &payload,
            &i64::try_from(seq).unwrap_or(i64::MAX),
        ],
    )
    .await?;
    for channel in channels {
        tx.execute(
            "INSERT INTO alert_deliveries (event_id, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, channel],
        )
        .await?;
    }
    tx.execute(
        "DELETE FROM alert_events WHERE alert_id = $1 AND time < now() - interval '1 day'",
        &[&WATCHDOG_ALERT_ID],
    )
    .await?;
    tx.batch_execute(&format!("NOTIFY {NOTIFY_CHANNEL}"))
        .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_has_its_own_id_and_says_what_it_is() {
        let a = watchdog_event(1, 1_000);
        let b = watchdog_event(2, 1_000);
        assert_ne!(a["event_id"], b["event_id"]);
        assert_eq!(a["alert"]["alert_id"], WATCHDOG_ALERT_ID);
        assert_eq!(a["event"], "watchdog");
        assert_eq!(a["ts_ms"], 1_000);
    }
}
