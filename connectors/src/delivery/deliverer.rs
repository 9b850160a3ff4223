//! Drains the delivery outbox: for each channel, the undelivered events in
//! event order. Each delivery is recorded as it succeeds (its own short
//! transaction), so a crash repeats at most the event that was on the wire.
//! A failure stops the channel's round and backs off exponentially (later
//! events wait: receivers see them in order):
//!
//! - the receiver *refused* the event (an HTTP error other than 408/429,
//!   a record the broker will never take): it counts toward the event's
//!   refusals; at `max_attempts` the event is parked (`failed`, with its
//!   last error, counted) and the channel goes on with the next one;
//! - the channel is unreachable or busy: no event is blamed; after
//!   `undelivered_after_attempts` failures in a row every waiting row is
//!   marked `failing` with the error, and they go out, in order, when the
//!   channel answers again.
//!
//! ```text
//!  PostgreSQL ── NOTIFY weir_alert_deliveries (on the sink's commit) ─┐
//!             └─ every poll_ms ───────────────────────────────────────┴─► round per channel:
//!     per event (pipelined channels: per chunk of 20):
//!       BEGIN; SELECT … WHERE channel = $1 AND state NOT IN ('delivered', 'failed')
//!              ORDER BY time LIMIT 1 FOR UPDATE SKIP LOCKED
//!       deliver ─► ok: delivered   refused: refusals + 1 (parked at max_attempts)   unreachable: back off
//!       COMMIT
//! ```
//!
//! At least once: an event delivered just before a crash, whose row was
//! not yet updated, is delivered again after the restart with the same
//! `Idempotency-Key` (its event id). Rows locked with `SKIP LOCKED` let
//! several deliverers (processes) share the outbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client};
use tracing::{info, warn};

use super::channel::{Channel, Failure, Payload};
use super::config::DeliveryConfig;
use crate::postgres::{NOTIFY_CHANNEL, PostgresConfig};

/// What happened to one delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The channel took it.
    Delivered,
    /// The channel failed; it will be retried.
    Failed,
    /// The receiver refused the event `max_attempts` times: parked as `failed`.
    Parked,
}

/// Called per attempt: (channel, outcome, seconds from the event's storage to now).
pub type Observer = Arc<dyn Fn(&str, Outcome, f64) + Send + Sync>;

/// Drains the outbox to its channels.
pub struct Deliverer {
    postgres: PostgresConfig,
    config: DeliveryConfig,
    channels: Vec<Box<dyn Channel>>,
    observe: Observer,
}

/// One channel's share of the deliverer: its own task and connection.
struct ChannelWorker {
    postgres: PostgresConfig,
    config: DeliveryConfig,
    channel: Box<dyn Channel>,
    observe: Observer,
}

/// A channel's run of failures.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Deliverer {
    /// A deliverer for `channels` over the outbox of `postgres.schema`.
    pub fn new(
        postgres: PostgresConfig,
        config: DeliveryConfig,
        channels: Vec<Box<dyn Channel>>,
        observe: Observer,
    ) -> Self {
        Deliverer {
            postgres,
            config,
            channels,
            observe,
        }
    }

    /// Runs for ever: one task per channel (a slow channel never holds
    /// another up), each reconnecting to PostgreSQL after failures.
    pub async fn run(self) {
        let Deliverer {
            postgres,
            config,
            channels,
            observe,
        } = self;
        let tasks: Vec<_> = channels
            .into_iter()
            .map(|channel| {
                let worker = ChannelWorker {
                    postgres: postgres.clone(),
                    config: config.clone(),
                    channel,
                    observe: Arc::clone(&observe),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl ChannelWorker {
    async fn run(self) {
        let mut pause = Duration::from_millis(100);
        let mut down = false;
        loop {
            match self.session(&mut down).await {
                Ok(()) => return,
                Err(e) => {
                    if !down {
                        let detail = e
                            .as_db_error()
                            .map_or_else(|| e.to_string(), |d| d.message().to_string());
                        warn!(error = %detail, "alert delivery paused: postgres unavailable");
                        down = true;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(self.config.max_backoff_ms));
                }
            }
        }
    }

    async fn session(&self, down: &mut bool) -> Result<(), tokio_postgres::Error> {
        let (mut client, mut connection) = crate::postgres::tls::tokio_config(&self.postgres)?
            .connect(crate::postgres::tls::MakeRustls::for_config(&self.postgres))
            .await?;
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => woken.notify_one(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            woken.notify_one(); // the session sees the closed client
        });
        client
            .batch_execute(&format!(
                "SET search_path TO {}; LISTEN {NOTIFY_CHANNEL}",
                self.postgres.schema
            ))
            .await?;
        if *down {
            info!("alert delivery resumed: postgres available again");
            *down = false;
        }
        let mut backoff = Backoff::default();
        loop {
            if backoff.retry_at.is_none_or(|at| at <= Instant::now()) {
                self.round(&mut client, &mut backoff).await?;
            }
            if client.is_closed() {
                // A closed connection surfaces as an error on the next query.
                client.simple_query("SELECT 1").await?;
            }
            let poll = Instant::now() + Duration::from_millis(self.config.poll_ms);
            let until = backoff.retry_at.map_or(poll, |r| r.min(poll));
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// Delivers what is waiting for the channel, in order, until a failure
    /// (a refused event that reaches `max_attempts` is parked, and the round
    /// goes on).
    async fn round(
        &self,
        client: &mut Client,
        backoff: &mut Backoff,
    ) -> Result<(), tokio_postgres::Error> {
        let chunk = if self.channel.pipelined() { 20 } else { 1 };
        let mut left = self.config.batch.max(1);
        while left > 0 {
            let (taken, stop) = self.chunk(client, backoff, chunk.min(left)).await?;
            left -= taken;
            if taken == 0 || stop {
                break;
            }
        }
        Ok(())
    }

    /// Delivers up to `limit` waiting events in one transaction; returns how
    /// many were taken and whether the round must stop (a failure).
    async fn chunk(
        &self,
        client: &mut Client,
        backoff: &mut Backoff,
        limit: i64,
    ) -> Result<(i64, bool), tokio_postgres::Error> {
        let channel = self.channel.as_ref();
        let name = channel.name();
        let mut client_tx = client.transaction().await?;
        let tx = &mut client_tx;
        let rows = tx
            .query(
                "SELECT d.event_id, e.alert_id, e.payload::text, \
                 extract(epoch from now() - e.recorded_at)::float8, d.refusals \
                 FROM alert_deliveries d JOIN alert_events e USING (event_id) \
                 WHERE d.channel = $1 AND d.state NOT IN ('delivered', 'failed') \
                 ORDER BY e.time, e.event_id LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
                &[&name, &limit],
            )
            .await?;
        let payloads: Vec<(Payload, f64, i32)> = rows
            .iter()
            .map(|row| {
                let event_id: String = row.get(0);
                let body = with_key(row.get::<_, &str>(2), &event_id);
                (
                    Payload {
                        event_id,
                        alert_id: row.get(1),
                        body,
                    },
                    row.get::<_, f64>(3),
                    row.get::<_, i32>(4),
                )
            })
            .collect();
        let taken = payloads.len() as i64;
        // Pipelined channels take the whole chunk at once (results in order).
        let mut early: Vec<Result<(), Failure>> = if channel.pipelined() {
            futures_util::future::join_all(payloads.iter().map(|(p, _, _)| channel.deliver(p)))
                .await
        } else {
            Vec::new()
        };
        early.reverse();
        let mut stop = false;
        for (payload, age, refusals) in &payloads {
            let result = match early.pop() {
                Some(result) => result,
                None => channel.deliver(payload).await,
            };
            match result {
                Ok(()) => {
                    tx.execute(
                        "UPDATE alert_deliveries SET state = 'delivered', delivered_at = now(), \
                         attempts = attempts + 1, last_error = NULL \
                         WHERE event_id = $1 AND channel = $2",
                        &[&payload.event_id, &name],
                    )
                    .await?;
                    if backoff.failures > 0 {
                        info!(channel = name, "alert channel delivering again");
                    }
                    *backoff = Backoff::default();
                    (self.observe)(name, Outcome::Delivered, *age);
                }
                Err(failure) if failure.refused && refusals + 1 >= self.config.max_attempts => {
                    // This event, not the channel: park it and go on.
                    tx.execute(
                        "UPDATE alert_deliveries SET state = 'failed', attempts = attempts + 1, \
                         refusals = refusals + 1, last_error = $3 WHERE event_id = $1 AND channel = $2",
                        &[&payload.event_id, &name, &failure.reason],
                    )
                    .await?;
                    warn!(channel = name, event = %payload.event_id, error = %failure.reason,
                          refusals = refusals + 1,
                          "alert event refused by the receiver every time: parked as failed; going on with the next");
                    *backoff = Backoff::default();
                    (self.observe)(name, Outcome::Parked, *age);
                }
                Err(failure) => {
                    self.failed(tx, backoff, payload, &failure).await?;
                    (self.observe)(name, Outcome::Failed, *age);
                    // Later events wait (a pipelined channel's later
                    // successes are delivered again: receivers deduplicate
                    // on the key).
                    stop = true;
                    break;
                }
            }
        }
        client_tx.commit().await?;
        Ok((taken, stop))
    }

    /// Records a failed attempt and backs the channel off.
    async fn failed(
        &self,
        tx: &mut tokio_postgres::Transaction<'_>,
        backoff: &mut Backoff,
        payload: &Payload,
        failure: &Failure,
    ) -> Result<(), tokio_postgres::Error> {
        let name = self.channel.name();
        backoff.failures += 1;
        let delay = self
            .config
            .initial_backoff_ms
            .saturating_mul(1 << backoff.failures.min(20).saturating_sub(1))
            .min(self.config.max_backoff_ms);
        backoff.retry_at = Some(Instant::now() + Duration::from_millis(delay));
        let refused = i32::from(failure.refused);
        tx.execute(
            "UPDATE alert_deliveries SET attempts = attempts + 1, refusals = refusals + $5, \
             last_error = $3, next_attempt_at = now() + make_interval(secs => $4::float8 / 1000) \
             WHERE event_id = $1 AND channel = $2",
            &[
                &payload.event_id,
                &name,
                &failure.reason,
                &(delay as f64),
                &refused,
            ],
        )
        .await?;
        let failing = !failure.refused
            && i32::try_from(backoff.failures).unwrap_or(i32::MAX)
                >= self.config.undelivered_after_attempts;
        if failing {
            // The channel is away: everything queued for it is undelivered for now.
            tx.execute(
                "UPDATE alert_deliveries SET state = 'failing', last_error = $2 \
                 WHERE channel = $1 AND state = 'pending'",
                &[&name, &failure.reason],
            )
            .await?;
        }
        if backoff.failures == 1
            || failing && backoff.failures == self.config.undelivered_after_attempts.unsigned_abs()
        {
            warn!(channel = name, error = %failure.reason, failures = backoff.failures,
                  refused = failure.refused, retry_ms = delay,
                  "alert delivery failed; retrying in order");
        }
        Ok(())
    }
}

/// The stored event JSON with `idempotency_key` added at the top.
fn with_key(payload: &str, event_id: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert(
                "idempotency_key".into(),
                serde_json::Value::String(event_id.to_string()),
            );
            serde_json::Value::Object(object).to_string()
        }
        _ => payload.to_string(),
    }
}

/// Waits up to `timeout` until no outbox row of `channels` is waiting
/// (any state but `delivered`): how a bounded run lets its alerts go out
/// before it ends. False when some still wait, or the store cannot be asked.
pub fn wait_drained(postgres: &PostgresConfig, channels: &[String], timeout: Duration) -> bool {
    let Ok(mut client) = crate::postgres::connect(postgres) else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let waiting: Option<i64> = client
            .query_one(
                "SELECT count(*) FROM alert_deliveries WHERE state <> 'delivered' AND channel = ANY($1)",
                &[&channels],
            )
            .map(|r| r.get(0))
            .ok();
        match waiting {
            Some(0) => return true,
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idempotency_key_is_added_to_the_event() {
        let body = with_key(r#"{"event_id":"a|fired|0:1","ts_ms":5}"#, "a|fired|0:1");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(v["idempotency_key"], "a|fired|0:1");
        assert_eq!(v["ts_ms"], 5);
    }
}
