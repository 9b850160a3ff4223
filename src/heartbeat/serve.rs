//! The heartbeat's own state and its two routes: `GET /metrics`
//! (Prometheus text) and `GET /health` (JSON: per path × check status,
//! last end-to-end time and last success; the open incident and its reasons).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde_json::{Value, json};
use warp::Filter;

use super::config::{Check, HeartbeatConfig, Path};
use super::incident::Action;

/// Upper bounds of the end-to-end histogram, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Clone, Debug, Default)]
struct Cell {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    failures: u64,
    ok: Option<bool>,
    last_e2e_ms: Option<f64>,
    last_success_ms: Option<i64>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    cells: BTreeMap<(Path, Check), Cell>,
    send_failures: BTreeMap<Path, u64>,
    rounds: u64,
    incident: Option<(String, i64)>,
    reasons: Vec<String>,
    watchdog_last_ms: i64,
    notices: BTreeMap<(&'static str, &'static str, &'static str), u64>,
}

/// What `/metrics` and `/health` show, updated by the round loop.
pub struct Status {
    config: HeartbeatConfig,
    state: Mutex<State>,
}

/// One (path, check) result of a round.
pub struct Outcome {
    /// The path.
    pub path: Path,
    /// The check.
    pub check: Check,
    /// Seconds from send to seen, or why it was not seen.
    pub result: Result<f64, String>,
}

impl Status {
    /// Nothing measured yet.
    pub fn new(config: &HeartbeatConfig) -> Status {
        let mut state = State::default();
        for path in &config.paths {
            for check in &config.checks {
                state.cells.insert((*path, *check), Cell::default());
            }
        }
        Status {
            config: config.clone(),
            state: Mutex::new(state),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Records a round: each outcome, and the sends that failed.
    pub fn round(&self, now_ms: i64, outcomes: &[Outcome], send_failed: &[Path]) {
        self.with(|state| {
            state.rounds += 1;
            for path in send_failed {
                *state.send_failures.entry(*path).or_default() += 1;
            }
            for outcome in outcomes {
                let cell = state
                    .cells
                    .entry((outcome.path, outcome.check))
                    .or_default();
                match &outcome.result {
                    Ok(seconds) => {
                        let slot = BUCKETS.iter().position(|b| seconds <= b);
                        for i in slot.into_iter().flat_map(|s| s..BUCKETS.len()) {
                            cell.counts[i] += 1;
                        }
                        cell.count += 1;
                        cell.sum += seconds;
                        cell.ok = Some(true);
                        cell.last_e2e_ms = Some(seconds * 1000.0);
                        cell.last_success_ms = Some(now_ms);
                        cell.last_error = None;
                    }
                    Err(why) => {
                        cell.failures += 1;
                        cell.ok = Some(false);
                        cell.last_error = Some(why.clone());
                    }
                }
            }
        });
    }

    /// Records the incident state after an evaluation.
    pub fn incident(&self, open: Option<(&str, i64)>, reasons: &[String], watchdog_last_ms: i64) {
        self.with(|state| {
            state.incident = open.map(|(id, since)| (id.to_string(), since));
            state.reasons = reasons.to_vec();
            state.watchdog_last_ms = watchdog_last_ms;
        });
    }

    /// Counts a notice's outcome on `channel`.
    pub fn notified(&self, channel: &'static str, action: Action, sent: bool) {
        let outcome = if sent { "sent" } else { "failed" };
        self.with(|state| {
            *state
                .notices
                .entry((channel, action.name(), outcome))
                .or_default() += 1
        });
    }

    /// `/health`'s body.
    pub fn health(&self) -> Value {
        self.with(|state| {
            let checks: Vec<Value> = state
                .cells
                .iter()
                .map(|((path, check), cell)| {
                    json!({
                        "path": path.name(),
                        "check": check.name(),
                        "ok": cell.ok,
                        "last_e2e_ms": cell.last_e2e_ms.map(|ms| (ms * 10.0).round() / 10.0),
                        "last_success_ms": cell.last_success_ms,
                        "last_error": cell.last_error,
                    })
                })
                .collect();
            let status = if state.rounds == 0 {
                "starting"
            } else if state.incident.is_some() {
                "failing"
            } else {
                "ok"
            };
            json!({
                "status": status,
                "name": self.config.name,
                "zone": self.config.zone,
                "rounds": state.rounds,
                "incident": state.incident.as_ref().map(|(id, since)| json!({
                    "id": id, "since_ms": since, "reasons": state.reasons,
                })),
                "checks": checks,
                "watchdog": {"last_seen_ms": state.watchdog_last_ms, "after_ms": self.config.watchdog_after_ms},
            })
        })
    }

    /// `/metrics`' body (Prometheus text format 0.0.4).
    pub fn metrics(&self) -> String {
        self.with(|state| {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_e2e_seconds From sending a heartbeat reading to seeing it, per path and check.\n\
                 # TYPE weir_heartbeat_e2e_seconds histogram"
            );
            for ((path, check), cell) in &state.cells {
                let labels = format!("path=\"{}\",check=\"{}\"", path.name(), check.name());
                for (bound, count) in BUCKETS.iter().zip(cell.counts) {
                    let _ = writeln!(out, "weir_heartbeat_e2e_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "weir_heartbeat_e2e_seconds_bucket{{{labels},le=\"+Inf\"}} {}", cell.count);
                let _ = writeln!(out, "weir_heartbeat_e2e_seconds_sum{{{labels}}} {}", cell.sum);
                let _ = writeln!(out, "weir_heartbeat_e2e_seconds_count{{{labels}}} {}", cell.count);
            }
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_last_success_timestamp_seconds When a check last saw its reading in time.\n\
                 # TYPE weir_heartbeat_last_success_timestamp_seconds gauge"
            );
            for ((path, check), cell) in &state.cells {
                if let Some(ms) = cell.last_success_ms {
                    let _ = writeln!(
                        out,
                        "weir_heartbeat_last_success_timestamp_seconds{{path=\"{}\",check=\"{}\"}} {}",
                        path.name(),
                        check.name(),
                        ms as f64 / 1000.0
                    );
                }
            }
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_check_failures_total Readings a check did not see within the deadline.\n\
                 # TYPE weir_heartbeat_check_failures_total counter"
            );
            for ((path, check), cell) in &state.cells {
                let _ = writeln!(
                    out,
                    "weir_heartbeat_check_failures_total{{path=\"{}\",check=\"{}\"}} {}",
                    path.name(),
                    check.name(),
                    cell.failures
                );
            }
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_send_failures_total Heartbeat readings that could not be sent.\n\
                 # TYPE weir_heartbeat_send_failures_total counter"
            );
            for path in &self.config.paths {
                let n = state.send_failures.get(path).copied().unwrap_or(0);
                let _ = writeln!(out, "weir_heartbeat_send_failures_total{{path=\"{}\"}} {n}", path.name());
            }
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_rounds_total Rounds evaluated.\n# TYPE weir_heartbeat_rounds_total counter\n\
                 weir_heartbeat_rounds_total {}",
                state.rounds
            );
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_incident_open 1 while an incident is open.\n# TYPE weir_heartbeat_incident_open gauge\n\
                 weir_heartbeat_incident_open {}",
                u8::from(state.incident.is_some())
            );
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_watchdog_last_seen_timestamp_seconds When weir's latest Watchdog event arrived.\n\
                 # TYPE weir_heartbeat_watchdog_last_seen_timestamp_seconds gauge\n\
                 weir_heartbeat_watchdog_last_seen_timestamp_seconds {}",
                state.watchdog_last_ms as f64 / 1000.0
            );
            let _ = writeln!(
                out,
                "# HELP weir_heartbeat_notices_total Incident notices per channel, action and outcome.\n\
                 # TYPE weir_heartbeat_notices_total counter"
            );
            for ((channel, action, outcome), n) in &state.notices {
                let _ = writeln!(
                    out,
                    "weir_heartbeat_notices_total{{channel=\"{channel}\",action=\"{action}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            out
        })
    }
}

/// Binds `listen` and serves `/metrics` and `/health` in the background.
pub async fn start(listen: &str, status: Arc<Status>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("heartbeat.listen {listen}"))?;
    let bound = listener.local_addr().context("heartbeat.listen")?;
    let metrics = {
        let status = Arc::clone(&status);
        warp::path!("metrics").and(warp::get()).map(move || {
            warp::reply::with_header(
                status.metrics(),
                "content-type",
                "text/plain; version=0.0.4",
            )
        })
    };
    let health = warp::path!("health")
        .and(warp::get())
        .map(move || warp::reply::json(&status.health()));
    tokio::spawn(warp::serve(metrics.or(health)).incoming(listener).run());
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_show_in_metrics_and_health() {
        let config = HeartbeatConfig {
            paths: vec![Path::Http],
            checks: vec![Check::Ws, Check::Postgres],
            ..HeartbeatConfig::default()
        };
        let status = Status::new(&config);
        assert_eq!(status.health()["status"], "starting");
        status.round(
            1_000,
            &[
                Outcome {
                    path: Path::Http,
                    check: Check::Ws,
                    result: Ok(0.3),
                },
                Outcome {
                    path: Path::Http,
                    check: Check::Postgres,
                    result: Err("late".into()),
                },
            ],
            &[],
        );
        status.incident(
            Some(("hb-1", 1_000)),
            &["http → postgres: late".into()],
            900,
        );
        status.notified("mail", Action::Trigger, true);
        let text = status.metrics();
        for line in [
            "weir_heartbeat_e2e_seconds_bucket{path=\"http\",check=\"ws\",le=\"0.25\"} 0",
            "weir_heartbeat_e2e_seconds_bucket{path=\"http\",check=\"ws\",le=\"0.5\"} 1",
            "weir_heartbeat_e2e_seconds_bucket{path=\"http\",check=\"ws\",le=\"+Inf\"} 1",
            "weir_heartbeat_e2e_seconds_count{path=\"http\",check=\"postgres\"} 0",
            "weir_heartbeat_last_success_timestamp_seconds{path=\"http\",check=\"ws\"} 1",
            "weir_heartbeat_check_failures_total{path=\"http\",check=\"postgres\"} 1",
            "weir_heartbeat_incident_open 1",
            "weir_heartbeat_notices_total{channel=\"mail\",action=\"trigger\",outcome=\"sent\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        let health = status.health();
        assert_eq!(health["status"], "failing");
        assert_eq!(health["incident"]["reasons"][0], "http → postgres: late");
        assert_eq!(health["checks"][0]["check"], "ws");
        assert_eq!(health["checks"][0]["last_e2e_ms"], 300.0);
        assert_eq!(health["checks"][1]["ok"], false);
    }
}
