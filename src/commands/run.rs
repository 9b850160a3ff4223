//! `weir run`: the pipeline in one process.
//!
//! Until the dataflow lands (issue 3) this is the pipeline's first stage on
//! its own: it consumes `sensor-readings` from every partition, decodes each
//! record (v1, v2, protobuf) and reports what it saw, by format and by
//! rejection reason. Nothing is stored yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::Message;
use rdkafka::message::Headers;
use tracing::{info, warn};
use weir_connectors::kafka::{PartitionConsumer, StartAt, ensure_topics, topic_specs};
use weir_connectors::preflight::{POSTGRES, check_reachable};
use weir_dataflow::{CONTENT_TYPE_HEADER, decode};

use crate::cli::RunArgs;
use crate::config::Config;

/// Runs until interrupted (or `--duration-secs`).
pub async fn run(config: &Config, args: &RunArgs) -> anyhow::Result<()> {
    ensure_topics(&config.kafka, &topic_specs(&config.kafka)).await?;
    let pg = config
        .postgres
        .address()
        .context("postgres.url has no host")?;
    check_reachable(
        POSTGRES,
        &pg,
        Duration::from_millis(config.kafka.connect_timeout_ms),
    )?;
    let kafka = config.kafka.clone();
    let args = (args.duration_secs, args.report_secs.max(1));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_on_signal = std::sync::Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_on_signal.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    tokio::task::spawn_blocking(move || consume(&kafka, args, &stop))
        .await
        .context("consumer thread")?
}

fn consume(
    kafka: &weir_connectors::kafka::KafkaConfig,
    (duration_secs, report_secs): (Option<u64>, u64),
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<()> {
    let consumer = PartitionConsumer::assign(kafka, &kafka.readings_topic, None, StartAt::End)?;
    info!(
        topic = consumer.topic(),
        partitions = consumer.partitions().len(),
        "consuming"
    );
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut decoded: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut rejected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut window = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed)
        && duration_secs.is_none_or(|d| started.elapsed() < Duration::from_secs(d))
    {
        if let Some(message) = consumer.consumer().poll(Duration::from_millis(100)) {
            match message {
                Ok(message) => {
                    window += 1;
                    let content_type = message.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key.eq_ignore_ascii_case(CONTENT_TYPE_HEADER))
                            .and_then(|h| h.value)
                            .and_then(|v| std::str::from_utf8(v).ok())
                    });
                    match decode(message.payload().unwrap_or_default(), content_type) {
                        Ok(reading) => *decoded.entry(reading.format.name()).or_default() += 1,
                        Err(error) => *rejected.entry(error.reason().code()).or_default() += 1,
                    }
                }
                Err(error) => warn!(%error, "kafka consumer error"),
            }
        }
        if last_report.elapsed() >= Duration::from_secs(report_secs) {
            let rate = window as f64 / last_report.elapsed().as_secs_f64();
            info!(
                rate = format!("{rate:.0}/s"),
                decoded = ?decoded,
                rejected = ?rejected,
                "consumer progress"
            );
            window = 0;
            last_report = Instant::now();
        }
    }
    info!(decoded = ?decoded, rejected = ?rejected, "stopped");
    Ok(())
}
