//! `weir topics`: create weir's Kafka topics.

use weir_connectors::kafka::{TopicOutcome, ensure_topics, topic_specs};

use crate::config::Config;

/// Creates the topics (idempotent) and prints one line per topic.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let specs = topic_specs(&config.kafka);
    let outcomes = ensure_topics(&config.kafka, &specs).await?;
    for spec in &specs {
        let what = match outcomes.iter().find(|(name, _)| *name == spec.name) {
            Some((_, TopicOutcome::Created)) => "created",
            Some((_, TopicOutcome::AlreadyExisted)) => "exists",
            None => "checked",
        };
        let configs: Vec<String> = spec
            .configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{what:<8} {} ({} partitions; {})",
            spec.name,
            spec.partitions,
            configs.join(", ")
        );
    }
    Ok(())
}
