//! `weir ingest`: the gateways alone (HTTP, MQTT, gRPC → disk buffer →
//! Kafka), so they can scale apart from the dataflow. `weir run --ingest`
//! starts the same gateways next to the pipeline.

use std::time::Duration;

use anyhow::Context;
use tracing::info;
use weir_connectors::kafka::{ensure_topics, topic_specs};

use crate::cli::IngestArgs;
use crate::config::Config;

/// Runs until interrupted (or `--duration-secs`).
pub async fn run(config: &Config, args: &IngestArgs) -> anyhow::Result<()> {
    ensure_topics(&config.kafka, &topic_specs(&config.kafka)).await?;
    let postgres = config.ingest.auth.from_postgres.then_some(&config.postgres);
    let running = weir_connectors::ingest::start(&config.ingest, &config.kafka, postgres)
        .await
        .context("starting the ingest gateways")?;
    info!(http = ?running.http, grpc = ?running.grpc, mqtt = config.ingest.mqtt.enabled, "ingest running");
    match args.duration_secs {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
        }
    }
    info!("ingest stopping: sending what is buffered (up to 10 s)");
    running.shutdown().await;
    Ok(())
}
