//! Checking: is round `seq`'s reading of a sensor where people look, with
//! its exact event time and value?
//!
//! ```text
//!  ws       ─ one dashboard subscriber of the heartbeat zone (reconnects) ─► seen map (receipt time)
//!  rest     ─ GET /api/sensors/{id}/history?from=ts&to=ts+1&resolution=raw, polled
//!  postgres ─ SELECT … FROM <schema>.readings WHERE sensor_id AND time, polled
//! ```
//!
//! The WebSocket gives the exact receipt time; the polled checks ask every
//! `POLL` (25 ms) for the first second, then every `SLOW_POLL` (250 ms), so
//! they are late by at most one poll plus the query, without hammering a
//! weir that is down for the whole deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tracing::{info, warn};

use super::config::Check;
use super::http;
use crate::config::Config;

/// How often the polled checks ask during the first second after sending.
pub const POLL: Duration = Duration::from_millis(25);
/// How often they ask after that.
pub const SLOW_POLL: Duration = Duration::from_millis(250);

/// What a WebSocket subscriber saw: (sensor, event time) → (value, receipt).
type Seen = Mutex<HashMap<(String, i64), (f64, Instant)>>;

/// The checks of one heartbeat process.
pub struct Checks {
    config: Arc<Config>,
    seen: Arc<Seen>,
    pg: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl Checks {
    /// Starts the WebSocket subscriber (when `ws` is checked).
    pub fn start(config: Arc<Config>) -> Checks {
        let seen: Arc<Seen> = Arc::default();
        if config.heartbeat.checks.contains(&Check::Ws) {
            let (config, seen) = (Arc::clone(&config), Arc::clone(&seen));
            tokio::spawn(async move { subscribe(config, seen).await });
        }
        Checks {
            config,
            seen,
            pg: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits until `check` sees (`sensor`, `ts_ms`, `seq`) or `until`;
    /// `Ok(when)` it was seen, or why not.
    pub async fn wait(
        &self,
        check: Check,
        sensor: &str,
        ts_ms: i64,
        seq: u64,
        until: Instant,
    ) -> Result<Instant, String> {
        let mut last_error = None;
        let fast_until = Instant::now() + Duration::from_secs(1);
        loop {
            let found = match check {
                Check::Ws => Ok(self.ws_seen(sensor, ts_ms, seq)),
                Check::Rest => self
                    .rest_seen(sensor, ts_ms, seq, until)
                    .await
                    .map(|ok| ok.then(Instant::now)),
                Check::Postgres => self
                    .pg_seen(sensor, ts_ms, seq, until)
                    .await
                    .map(|ok| ok.then(Instant::now)),
            };
            match found {
                Ok(Some(at)) => return Ok(at),
                Ok(None) => {}
                Err(error) => last_error = Some(format!("{error:#}")),
            }
            let now = Instant::now();
            if now >= until {
                return Err(match last_error {
                    Some(error) => format!("not seen in time; last error: {error}"),
                    None => "not seen in time".into(),
                });
            }
            let pause = if now < fast_until { POLL } else { SLOW_POLL };
            // One last look at the deadline itself.
            tokio::time::sleep(pause.min(until - now)).await;
        }
    }

    fn ws_seen(&self, sensor: &str, ts_ms: i64, seq: u64) -> Option<Instant> {
        let seen = self.seen.lock().ok()?;
        let (value, at) = seen.get(&(sensor.to_string(), ts_ms))?;
        (*value == seq as f64).then_some(*at)
    }

    async fn rest_seen(
        &self,
        sensor: &str,
        ts_ms: i64,
        seq: u64,
        until: Instant,
    ) -> anyhow::Result<bool> {
        let path = format!(
            "/api/sensors/{sensor}/history?from={ts_ms}&to={}&resolution=raw",
            ts_ms + 1
        );
        let timeout = until.saturating_duration_since(Instant::now()).max(POLL);
        let token = &self.config.heartbeat.api_token;
        let authorization = format!("Bearer {token}");
        let headers: &[(&str, &str)] = if token.is_empty() {
            &[]
        } else {
            &[("authorization", authorization.as_str())]
        };
        let hb = &self.config.heartbeat;
        let target = http::Target::parse("server", &hb.server, &hb.ca_file)
            .map_err(|e| anyhow::anyhow!(e))?;
        let (status, body) = http::request(&target, "GET", &path, headers, b"", timeout).await?;
        if status == 404 {
            return Ok(false); // not known yet
        }
        if status != 200 {
            bail!("GET {path}: {status}");
        }
        let answer: Value = serde_json::from_slice(&body).context("history answer")?;
        Ok(answer["points"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["t"].as_i64() == Some(ts_ms) && p["value"].as_f64() == Some(seq as f64)))
    }

    async fn pg_seen(
        &self,
        sensor: &str,
        ts_ms: i64,
        seq: u64,
        until: Instant,
    ) -> anyhow::Result<bool> {
        let timeout = until.saturating_duration_since(Instant::now()).max(POLL);
        let mut slot = self.pg.lock().await;
        if slot.is_none() {
            let pg = &self.config.postgres;
            let (client, connection) = tokio::time::timeout(
                timeout,
                weir_connectors::postgres::tls::tokio_config(pg)
                    .context("postgres.url")?
                    .connect(weir_connectors::postgres::tls::MakeRustls::for_config(pg)),
            )
            .await
            .map_err(|_| anyhow!("postgres connect: no answer in time"))?
            .context("postgres connect")?;
            tokio::spawn(connection);
            *slot = Some(client);
        }
        let Some(client) = slot.as_ref() else {
            return Ok(false);
        };
        let schema = &self.config.postgres.schema;
        // Around the event time (the index), then exact in milliseconds.
        let sql = format!(
            "SELECT (extract(epoch FROM time) * 1000)::bigint, value FROM {schema}.readings \
             WHERE sensor_id = $1 AND time BETWEEN to_timestamp($2) AND to_timestamp($3)"
        );
        let around = ts_ms as f64 / 1000.0;
        let (from, to) = (around - 1.0, around + 1.0);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&sensor, &from, &to];
        let query = client.query(&sql, &params);
        let rows = match tokio::time::timeout(timeout, query).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                if error.is_closed() || error.code().is_none() {
                    *slot = None;
                }
                // No table yet (weir has not migrated) is "not seen".
                if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                    return Ok(false);
                }
                return Err(error).context("postgres query");
            }
            Err(_) => {
                *slot = None;
                bail!("postgres query: no answer in time");
            }
        };
        Ok(rows.iter().any(|row| {
            row.try_get::<_, i64>(0).ok() == Some(ts_ms)
                && row.try_get::<_, f64>(1).ok() == Some(seq as f64)
        }))
    }
}

/// A dashboard subscriber of the heartbeat zone, for the life of the
/// process: records every sensor state it is sent, reconnects after a second.
async fn subscribe(config: Arc<Config>, seen: Arc<Seen>) {
    let hb = &config.heartbeat;
    let path = format!("/ws?zone={}", hb.zone);
    let keep =
        Duration::from_millis(config.heartbeat.deadline_ms + config.heartbeat.interval_ms) * 4;
    let mut connected_before = true;
    loop {
        // The target is made at each connect: a replaced CA file is read again.
        let target = http::Target::parse("server", &hb.server, &hb.ca_file);
        let url = target
            .as_ref()
            .map_or_else(|_| hb.server.clone(), |t| t.ws_url(&path));
        let followed = match target {
            Ok(target) => follow(&target, &url, &hb.api_token, &seen, keep).await,
            Err(e) => Err(anyhow!(e)),
        };
        match followed {
            Ok(()) => {
                info!(%url, "heartbeat websocket closed by the server");
                connected_before = true;
            }
            Err(error) => {
                if connected_before {
                    warn!(%url, error = %format!("{error:#}"), "heartbeat websocket down");
                }
                connected_before = false;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn follow(
    target: &http::Target,
    url: &str,
    token: &str,
    seen: &Seen,
    keep: Duration,
) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().context("websocket url")?;
    if !token.is_empty() {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .context("heartbeat.api_token is not a header value")?,
        );
    }
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), async {
        let stream = target.connect().await?;
        tokio_tungstenite::client_async(request, stream)
            .await
            .context("websocket handshake")
    })
    .await
    .map_err(|_| anyhow!("connect: no answer in 10 s"))??;
    info!(%url, "heartbeat websocket subscribed");
    while let Some(message) = socket.next().await {
        let text = match message.context("read")? {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(()),
            _ => continue,
        };
        let Ok(body) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let now = Instant::now();
        let Ok(mut map) = seen.lock() else {
            bail!("seen map poisoned");
        };
        for sensor in body["sensors"].as_array().into_iter().flatten() {
            if let (Some(id), Some(ts), Some(value)) = (
                sensor["sensor_id"].as_str(),
                sensor["ts"].as_i64(),
                sensor["value"].as_f64(),
            ) {
                map.entry((id.to_string(), ts)).or_insert((value, now));
            }
        }
        map.retain(|_, (_, at)| now.duration_since(*at) < keep);
    }
    Ok(())
}
