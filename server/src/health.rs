//! `GET /health`: whether weir is doing its job, and why not.
//!
//! | status        | HTTP | when |
//! |---------------|------|------|
//! | `ok`          | 200  | the broker and PostgreSQL answer, progress is durable, the outbox drains |
//! | `degraded`    | 503  | records were read and nothing was committed for `server.health_stall_ms`, or an alert event has waited on a channel for `server.health_outbox_ms` |
//! | `unavailable` | 503  | the broker or PostgreSQL does not answer |
//!
//! Every reason found is in `reasons`. A load balancer's readiness probe may
//! use the code; a liveness probe should not restart weir on `degraded`
//! (a webhook that is down is not weir's fault).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::ServerConfig;
use crate::db::Db;
pub use crate::metrics::Backlog;
use crate::metrics::{Metrics, Progress};

/// The answer of `/health`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Health {
    /// `ok`, `degraded` or `unavailable`.
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub broker: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// Why it is not `ok`.
    pub reasons: Vec<String>,
    /// Seconds since the last durable commit of this process (none yet: null).
    pub last_commit_age_seconds: Option<f64>,
    /// Waiting alert events per channel.
    pub outbox: BTreeMap<String, Backlog>,
    /// Records of the readings topic past the group's committed offsets,
    /// over all partitions (refreshed every few seconds; null until known).
    pub consumer_lag: Option<i64>,
    /// Connected WebSocket clients.
    pub websocket_clients: i64,
    /// The outside `weir heartbeat`'s latest `/health` (`server.heartbeat_url`;
    /// null when none is configured). Shown, never part of `status`.
    pub heartbeat: Option<serde_json::Value>,
}

impl Health {
    /// The HTTP status: 200 only when `ok`.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Durable progress stalled: something was read after the last durable
/// commit (or the start), and that commit is older than `stall_ms`. All
/// times are wall ms; 0 means never.
pub fn stall(progress: Progress, now_ms: i64, stall_ms: i64) -> Option<String> {
    let since = progress.durable_ms.max(progress.started_ms);
    (progress.read_ms > since && now_ms - since > stall_ms).then(|| {
        format!(
            "durable progress stalled: records read, nothing committed for {:.0} s (server.health_stall_ms = {stall_ms})",
            (now_ms - since) as f64 / 1e3
        )
    })
}

/// Channels whose oldest waiting event is older than `max_ms`.
pub fn backlog_reasons(outbox: &BTreeMap<String, Backlog>, max_ms: i64) -> Vec<String> {
    outbox
        .iter()
        .filter(|(_, b)| b.oldest_seconds * 1e3 > max_ms as f64)
        .map(|(channel, b)| {
            format!(
                "alert delivery to {channel} is behind: {} event(s) waiting, the oldest for {:.0} s (server.health_outbox_ms = {max_ms})",
                b.waiting, b.oldest_seconds
            )
        })
        .collect()
}

/// Looks at everything `/health` reports.
pub async fn check(
    brokers: &str,
    db: &Db,
    metrics: &Metrics,
    config: &ServerConfig,
    now_ms: i64,
    heartbeat: Option<serde_json::Value>,
) -> Health {
    let broker = reachable(brokers).await;
    let (database, outbox) = database(db).await;
    let mut reasons = Vec::new();
    if !broker {
        reasons.push(format!("the broker does not answer at {brokers}"));
    }
    if !database {
        reasons.push("PostgreSQL does not answer".to_string());
    }
    let progress = metrics.progress();
    reasons.extend(stall(progress, now_ms, config.health_stall_ms));
    reasons.extend(backlog_reasons(&outbox, config.health_outbox_ms));
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = match (broker && database, reasons.is_empty()) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    Health {
        status,
        broker: state(broker),
        database: state(database),
        reasons,
        last_commit_age_seconds: (progress.durable_ms > 0)
            .then(|| (now_ms - progress.durable_ms) as f64 / 1e3),
        outbox,
        consumer_lag: metrics.consumer_lag_total(),
        websocket_clients: metrics
            .ws_clients
            .load(std::sync::atomic::Ordering::Relaxed),
        heartbeat,
    }
}

async fn reachable(brokers: &str) -> bool {
    for address in brokers.split(',').map(str::trim) {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(address),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) {
            return true;
        }
    }
    false
}

/// Whether PostgreSQL answers, and the outbox's backlog (empty when the
/// schema has no outbox yet).
pub async fn database(db: &Db) -> (bool, BTreeMap<String, Backlog>) {
    let Ok(client) = db.client().await else {
        return (false, BTreeMap::new());
    };
    let query = client.query(
        "SELECT channel, count(*), extract(epoch FROM now() - min(created_at))::float8 \
         FROM alert_deliveries WHERE state NOT IN ('delivered', 'failed') GROUP BY channel",
        &[],
    );
    match tokio::time::timeout(Duration::from_secs(2), query).await {
        Ok(Ok(rows)) => (
            true,
            rows.iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        Backlog {
                            waiting: r.get(1),
                            oldest_seconds: r.get(2),
                        },
                    )
                })
                .collect(),
        ),
        // No outbox table yet (a store never migrated): PostgreSQL answers.
        Ok(Err(e)) if e.code().is_some_and(|c| c.code() == "42P01") => (true, BTreeMap::new()),
        _ => (false, BTreeMap::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_stalls_only_when_something_read_waits_past_the_limit() {
        let p = |read_ms, durable_ms| Progress {
            started_ms: 1_000,
            read_ms,
            durable_ms,
        };
        // Nothing read: idle, not stalled.
        assert_eq!(stall(p(0, 0), 100_000, 30_000), None);
        // Read and committed after: idle since.
        assert_eq!(stall(p(5_000, 6_000), 100_000, 30_000), None);
        // Read after the last commit, which is recent.
        assert_eq!(stall(p(9_000, 8_000), 20_000, 30_000), None);
        // Read after the last commit, which is old.
        assert!(stall(p(9_000, 8_000), 40_000, 30_000).is_some_and(|r| r.contains("32 s")));
        // Read, never committed since the start.
        assert!(stall(p(2_000, 0), 40_000, 30_000).is_some());
    }

    #[test]
    fn a_channel_behind_is_named_with_its_backlog() {
        let outbox = BTreeMap::from([
            (
                "kafka".to_string(),
                Backlog {
                    waiting: 2,
                    oldest_seconds: 1.0,
                },
            ),
            (
                "webhook:ops".to_string(),
                Backlog {
                    waiting: 7,
                    oldest_seconds: 90.0,
                },
            ),
        ]);
        let reasons = backlog_reasons(&outbox, 60_000);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("webhook:ops") && reasons[0].contains("7 event(s)"));
    }
}
