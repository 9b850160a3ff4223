//! `weir heartbeat`: the round loop (see [`crate::heartbeat`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use futures_util::future::join_all;
use tokio::sync::mpsc;
use tracing::{info, warn};
use weir_dataflow::clock::now_ms;

use crate::cli::HeartbeatArgs;
use crate::config::Config;
use crate::heartbeat::check::Checks;
use crate::heartbeat::send::Senders;
use crate::heartbeat::serve::{Outcome, Status};
use crate::heartbeat::{Incidents, Path, notify, serve, watchdog};

/// What one round found.
struct Round {
    seq: u64,
    outcomes: Vec<Outcome>,
    send_failed: Vec<(Path, String)>,
}

/// Runs the heartbeat until Ctrl-C or `--duration-secs`.
pub async fn run(config: Config, args: &HeartbeatArgs) -> anyhow::Result<()> {
    let hb = config.heartbeat.clone();
    hb.validate()
        .map_err(|e| anyhow!("invalid heartbeat settings: {e}"))?;
    if !config.postgres.schema_is_valid() {
        return Err(anyhow!(
            "postgres.schema `{}`: not a lowercase identifier",
            config.postgres.schema
        ));
    }
    let config = Arc::new(config);
    let status = Arc::new(Status::new(&hb));
    let bound = serve::start(&hb.listen, Arc::clone(&status)).await?;
    let senders = Arc::new(Senders::start(Arc::clone(&config))?);
    let checks = Arc::new(Checks::start(Arc::clone(&config)));
    let last_watchdog = watchdog::start(&config);
    info!(name = %hb.name, listen = %bound, interval_ms = hb.interval_ms, deadline_ms = hb.deadline_ms, "heartbeat started");

    // Register the sensors first, then let weir's reference delay pass, or
    // the first readings would find no registry record.
    let registering = Arc::clone(&senders);
    match tokio::task::spawn_blocking(move || registering.publish_registry(now_ms())).await {
        Ok(Ok(_)) => {
            let delay = u64::try_from(config.dataflow.reference_delay_ms).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay + 100)).await;
        }
        Ok(Err(error)) => {
            warn!(error = %format!("{error:#}"), "heartbeat registry not published yet (retried with the kafka path)")
        }
        Err(error) => warn!(%error, "heartbeat registry thread"),
    }

    let hb = Arc::new(hb);
    let (tx, mut rx) = mpsc::unbounded_channel::<Round>();
    let mut ticker = tokio::time::interval(Duration::from_millis(hb.interval_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut incidents = Incidents::new(&hb.name, hb.remind_every_ms);
    let stop = async {
        match args.duration_secs {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let (mut seq, mut evaluated) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                seq += 1;
                let (senders, checks, hb, tx) = (Arc::clone(&senders), Arc::clone(&checks), Arc::clone(&hb), tx.clone());
                tokio::spawn(async move {
                    let round = round(&senders, &checks, &hb, seq).await;
                    let _ = tx.send(round);
                });
            }
            Some(round) = rx.recv() => {
                // A later round already evaluated is newer news than this one.
                if round.seq < evaluated {
                    continue;
                }
                evaluated = round.seq;
                let now = now_ms();
                let failed: Vec<Path> = round.send_failed.iter().map(|(p, _)| *p).collect();
                status.round(now, &round.outcomes, &failed);
                // Reasons are stable names (an incident's list of what failed
                // must not grow with every round's error text); the errors
                // of this round go with a notice as details.
                let mut reasons = BTreeSet::new();
                let mut details = Vec::new();
                for (path, why) in &round.send_failed {
                    let reason = format!("{}: send failed", path.name());
                    details.push(format!("{reason}: {why}"));
                    reasons.insert(reason);
                }
                for o in round.outcomes.iter().filter(|o| !failed.contains(&o.path)) {
                    if let Err(why) = &o.result {
                        let reason = format!("{} -> {}: not seen within {} ms", o.path.name(), o.check.name(), hb.deadline_ms);
                        details.push(format!("{reason}: {why}"));
                        reasons.insert(reason);
                    }
                }
                let watchdog_ms = last_watchdog.load(Ordering::Relaxed);
                reasons.extend(watchdog::reason(watchdog_ms, now, hb.watchdog_after_ms, &config.kafka.alerts_topic));
                let notice = incidents.observe(now, &reasons);
                let listed: Vec<String> = reasons.iter().cloned().collect();
                status.incident(incidents.open(), &listed, watchdog_ms);
                if let Some(notice) = notice {
                    info!(incident = %notice.incident, action = notice.action.name(), reasons = ?notice.reasons, "heartbeat incident");
                    notify::send(&hb, notice, details, &status);
                }
            }
            () = &mut stop => break,
        }
    }
    info!("heartbeat stopped");
    Ok(())
}

/// Sends round `seq` through every path and waits for every check.
async fn round(
    senders: &Arc<Senders>,
    checks: &Arc<Checks>,
    hb: &crate::heartbeat::HeartbeatConfig,
    seq: u64,
) -> Round {
    let ts = now_ms();
    let sent_at = Instant::now();
    let until = sent_at + Duration::from_millis(hb.deadline_ms);
    let per_path = hb.paths.iter().map(|path| async move {
        if let Err(error) = senders.send(*path, ts, seq).await {
            return (*path, Err(format!("{error:#}")), Vec::new());
        }
        let sensor = hb.sensor(*path);
        let looks = hb.checks.iter().map(|check| {
            let sensor = sensor.clone();
            async move {
                let result = checks
                    .wait(*check, &sensor, ts, seq, until)
                    .await
                    .map(|at| at.saturating_duration_since(sent_at).as_secs_f64());
                Outcome {
                    path: *path,
                    check: *check,
                    result,
                }
            }
        });
        (*path, Ok(()), join_all(looks).await)
    });
    let mut out = Round {
        seq,
        outcomes: Vec::new(),
        send_failed: Vec::new(),
    };
    for (path, sent, outcomes) in join_all(per_path).await {
        if let Err(why) = sent {
            out.send_failed.push((path, why));
            for check in &hb.checks {
                out.outcomes.push(Outcome {
                    path,
                    check: *check,
                    result: Err("not sent".into()),
                });
            }
        }
        out.outcomes.extend(outcomes);
    }
    out
}
