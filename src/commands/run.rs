//! `weir run`: the pipeline, on one or more workers and processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tracing::{error, info};
use weir_connectors::kafka::{Bound, ensure_topics, topic_specs};

use crate::cli::RunArgs;
use crate::config::Config;
use crate::pipeline::{RunOptions, WorkerSummary, run_worker};

/// The timely configuration from the scale-out flags.
pub fn timely_config(args: &RunArgs) -> anyhow::Result<timely::Config> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let communication = if args.processes > 1 {
        let path = args
            .hostfile
            .as_ref()
            .context("--hostfile is required with --processes > 1")?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading hostfile {}", path.display()))?;
        let addresses: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        if addresses.len() != args.processes {
            bail!(
                "hostfile {} lists {} addresses for --processes {}",
                path.display(),
                addresses.len(),
                args.processes
            );
        }
        if args.process >= args.processes {
            bail!(
                "--process {} is not below --processes {}",
                args.process,
                args.processes
            );
        }
        timely::CommunicationConfig::Cluster {
            threads: args.workers,
            process: args.process,
            addresses,
            report: false,
            zerocopy: false,
        }
    } else if args.workers > 1 {
        timely::CommunicationConfig::Process(args.workers)
    } else {
        timely::CommunicationConfig::Thread
    };
    Ok(timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    })
}

/// Runs until interrupted (or `--duration-secs`, or the end with `--until-end`).
pub async fn run(config: &Config, args: &RunArgs) -> anyhow::Result<()> {
    config
        .dataflow
        .validate()
        .and_then(|()| config.alerts.validate())
        .map_err(|e| anyhow!("invalid settings: {e}"))?;
    if config.server.enabled && !args.no_server {
        weir_server::refuse_open_bind(&config.server)?;
    }
    let timely = timely_config(args)?;
    ensure_topics(&config.kafka, &topic_specs(&config.kafka)).await?;
    let metrics = std::sync::Arc::new(weir_server::Metrics::default());
    // The server runs in process 0 (a cluster exchanges live changes there).
    let server = if config.server.enabled && args.process == 0 && !args.no_server {
        let metrics = std::sync::Arc::clone(&metrics);
        let server =
            weir_server::start(&config.server, &config.postgres, &config.kafka, metrics).await?;
        info!(address = %server.address, "dashboard at http://{}/", server.address);
        Some(server)
    } else {
        None
    };
    // The ingest gateways, when enabled (process 0 of a cluster).
    let ingest_on = (config.ingest.enabled || args.ingest) && !args.no_ingest && args.process == 0;
    let ingest = if ingest_on {
        let postgres = config.ingest.auth.from_postgres.then_some(&config.postgres);
        let running = weir_connectors::ingest::start(&config.ingest, &config.kafka, postgres)
            .await
            .context("starting the ingest gateways")?;
        metrics.set_extra(std::sync::Arc::clone(&running.metrics));
        Some(running)
    } else {
        None
    };
    // Alert delivery from the outbox (process 0; others would only share
    // it), once the schema it reads exists.
    let deliverer = if args.process == 0 && !args.no_store {
        let postgres = config.postgres.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut client = weir_connectors::postgres::connect(&postgres)?;
            weir_connectors::postgres::migrate(&mut client, &postgres)?;
            Ok(())
        })
        .await
        .context("migrations")??;
        Some(tokio::spawn(deliverer(config, &metrics)?.run()))
    } else {
        None
    };
    // The Watchdog (live runs, with the deliverer): an always-firing event
    // on every channel, whose absence says alerting is down.
    let watchdog = match (&deliverer, args.until_end, config.delivery.watchdog_ms) {
        (Some(_), false, ms) if ms > 0 => {
            Some(tokio::spawn(weir_connectors::delivery::run_watchdog(
                config.postgres.clone(),
                weir_connectors::delivery::registry::channels(&config.delivery),
                Duration::from_millis(ms),
            )))
        }
        _ => None,
    };
    let options = RunOptions {
        publisher: server.as_ref().map(|s| s.publisher.clone()),
        processes: args.processes,
        metrics,
        bound: if args.until_end {
            Bound::AtEnd
        } else {
            Bound::Live
        },
        output_dir: args.output_dir.clone(),
        report_secs: args.report_secs,
        duration: args.duration_secs.map(Duration::from_secs),
        store: !args.no_store,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_on_signal.store(true, Ordering::Relaxed);
        }
    });
    let shared = config.clone();
    let summaries = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<WorkerSummary>> {
        let guards = timely::execute(timely, move |worker| {
            let result = run_worker(worker, &shared, &options, &stop).map_err(|e| format!("{e:#}"));
            // Timely would otherwise wait for the dataflow to complete, which
            // after a stop or a failed peer never happens. Whatever was not
            // committed is re-read on the next start.
            for id in worker.installed_dataflows() {
                worker.drop_dataflow(id);
            }
            if let Err(e) = &result {
                // The other workers stop too: the run fails as a whole, now.
                error!(worker = worker.index(), error = %e, "worker failed; stopping");
                stop.store(true, Ordering::Relaxed);
            }
            result
        })
        .map_err(|e| anyhow!("starting timely: {e}"))?;
        let mut summaries = Vec::new();
        for result in guards.join() {
            summaries.push(
                result
                    .map_err(|e| anyhow!("worker failed: {e}"))?
                    .map_err(|e| anyhow!(e))?,
            );
        }
        Ok(summaries)
    })
    .await
    .context("pipeline thread")??;
    for summary in &summaries {
        info!(summary = %serde_json::to_string(summary).unwrap_or_default(), "worker finished");
        println!("{}", serde_json::to_string(summary).unwrap_or_default());
    }
    let records: u64 = summaries.iter().map(|s| s.records).sum();
    let busy = summaries.iter().map(|s| s.busy_secs).fold(0.0, f64::max);
    if busy > 0.0 {
        info!(
            records,
            seconds = format!("{busy:.2}"),
            per_second = format!("{:.0}", records as f64 / busy),
            "run finished"
        );
    }
    if let Some(ingest) = ingest {
        ingest.shutdown().await;
    }
    if let Some(task) = watchdog {
        task.abort();
    }
    if let Some(task) = deliverer {
        if args.until_end {
            drain_outbox(config).await;
        }
        task.abort();
    }
    let gaps: u64 = summaries.iter().map(|s| s.gaps).sum();
    if gaps > 0 {
        bail!("the broker skipped records at {gaps} place(s): see the ERROR lines above");
    }
    Ok(())
}

/// The alert deliverer over the configured channels.
fn deliverer(
    config: &Config,
    metrics: &Arc<weir_server::Metrics>,
) -> anyhow::Result<weir_connectors::delivery::Deliverer> {
    use weir_connectors::delivery::{Deliverer, registry};
    let channels = registry::build(&config.kafka, &config.delivery)?;
    let metrics = Arc::clone(metrics);
    Ok(Deliverer::new(
        config.postgres.clone(),
        config.delivery.clone(),
        channels,
        Arc::new(move |channel, outcome, seconds| {
            metrics.alert_delivery(channel, outcome, seconds)
        }),
    ))
}

/// A bounded run waits (up to 30 s) for the outbox to drain before it ends.
async fn drain_outbox(config: &Config) {
    let postgres = config.postgres.clone();
    let channels = weir_connectors::delivery::registry::channels(&config.delivery);
    let drained = tokio::task::spawn_blocking(move || {
        weir_connectors::delivery::wait_drained(&postgres, &channels, Duration::from_secs(30))
    })
    .await;
    if !matches!(drained, Ok(true)) {
        tracing::warn!(
            "alert deliveries still waiting at the end of the run: see alert_deliveries"
        );
    }
}
