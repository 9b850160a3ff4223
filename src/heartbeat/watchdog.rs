//! Listening for weir's Watchdog: an own consumer of the alerts topic,
//! every partition assigned at its end (no group offsets are committed),
//! noting the wall time of the latest `watchdog` event.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};
use weir_dataflow::clock::now_ms;

use crate::config::Config;

/// When the latest Watchdog event arrived (epoch ms; the start time until one does).
pub type LastSeen = Arc<AtomicI64>;

/// The incident reason when no Watchdog event came for longer than
/// `after_ms` (0: never a reason).
pub fn reason(last_seen_ms: i64, now_ms: i64, after_ms: u64, topic: &str) -> Option<String> {
    let after = i64::try_from(after_ms).unwrap_or(i64::MAX);
    (after > 0 && now_ms.saturating_sub(last_seen_ms) > after).then(|| {
        format!("watchdog: no `watchdog` event on `{topic}` for more than {after_ms} ms (weir's alerting is quiet)")
    })
}

/// Starts the listener on a thread of its own; the returned time moves with every event.
pub fn start(config: &Arc<Config>) -> LastSeen {
    let last = Arc::new(AtomicI64::new(now_ms()));
    if config.heartbeat.watchdog_after_ms > 0 {
        let (config, seen) = (Arc::clone(config), Arc::clone(&last));
        std::thread::spawn(move || {
            loop {
                if let Err(error) = listen(&config, &seen) {
                    warn!(error = %format!("{error:#}"), "heartbeat watchdog listener failed; retrying");
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
    }
    last
}

fn listen(config: &Config, last: &AtomicI64) -> anyhow::Result<()> {
    let topic = &config.kafka.alerts_topic;
    let consumer: BaseConsumer = config
        .kafka
        .client_config()
        // librdkafka wants a group even for assign(); nothing is committed under it.
        .set(
            "group.id",
            format!("weir-heartbeat-{}", config.heartbeat.name),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Tansu does not answer a waiting fetch early: bound the wait.
        .set(
            "fetch.wait.max.ms",
            config.kafka.fetch_wait_max_ms.to_string(),
        )
        .create()
        .context("create the watchdog consumer")?;
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .with_context(|| format!("metadata of `{topic}`"))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            assignment
                .add_partition_offset(topic, p.id(), Offset::End)
                .context("assignment")?;
        }
    }
    if assignment.count() == 0 {
        anyhow::bail!("`{topic}` has no partitions (run `weir topics`)");
    }
    consumer.assign(&assignment).context("assign")?;
    info!(%topic, partitions = assignment.count(), "heartbeat watching for the watchdog");
    loop {
        // An error or nothing: the broker is away, librdkafka reconnects on its own.
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            let watchdog = message
                .payload()
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                .is_some_and(|v| v["event"] == "watchdog");
            if watchdog {
                last.store(now_ms(), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_longer_than_after_is_a_reason_and_zero_is_off() {
        assert!(reason(0, 3_000, 3_000, "alerts").is_none());
        let why = reason(0, 3_001, 3_000, "alerts").unwrap_or_default();
        assert!(
            why.starts_with("watchdog:") && why.contains("`alerts`"),
            "{why}"
        );
        assert!(reason(0, i64::MAX, 0, "alerts").is_none());
    }
}
