//! Creates weir's topics idempotently and checks what the broker made of them.
//!
//! Tansu 0.6 does not validate topic configs and has no auto-create, so weir
//! creates every topic explicitly and then reads the partition count back
//! from the broker's metadata rather than trusting the create response.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use tracing::info;

use super::KafkaConfig;
use super::metadata::partition_ids;
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};

/// One topic weir needs, with the configuration it is created with.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Topic-level configuration entries.
    pub configs: Vec<(&'static str, String)>,
}

/// What `ensure_topics` did for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicOutcome {
    /// The topic was created.
    Created,
    /// The topic was already there (with the expected partition count).
    AlreadyExisted,
}

/// The four topics of weir, from the configuration.
///
/// The registry topic has as many partitions as the readings topic, so a
/// sensor's registry record and its readings share a partition number under
/// the same key hash.
pub fn topic_specs(config: &KafkaConfig) -> Vec<TopicSpec> {
    let retention = config.retention_ms.to_string();
    let codec = config.compression.topic_codec();
    let deleting = |name: &str| TopicSpec {
        name: name.to_string(),
        partitions: config.partitions,
        configs: vec![
            ("compression.type", codec.into()),
            ("retention.ms", retention.clone()),
            ("cleanup.policy", "delete".into()),
        ],
    };
    vec![
        deleting(&config.readings_topic),
        TopicSpec {
            name: config.registry_topic.clone(),
            partitions: config.partitions,
            configs: vec![
                ("compression.type", codec.into()),
                // Only the latest record per sensor matters; a tombstone removes it.
                ("cleanup.policy", "compact".into()),
            ],
        },
        deleting(&config.alerts_topic),
        deleting(&config.dlq_topic),
        TopicSpec {
            name: config.control_topic.clone(),
            // Silences and acks are few; one partition keeps them in one order.
            partitions: 1,
            configs: vec![
                ("compression.type", codec.into()),
                // The latest version of each silence and ack is what applies.
                ("cleanup.policy", "compact".into()),
            ],
        },
    ]
}

/// Creates the given topics if missing, then verifies each one's partition count.
pub async fn ensure_topics(
    config: &KafkaConfig,
    specs: &[TopicSpec],
) -> Result<Vec<(String, TopicOutcome)>, ConnectorError> {
    check_reachable(
        KAFKA,
        &config.brokers,
        Duration::from_millis(config.connect_timeout_ms),
    )?;
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .map_err(|e| ConnectorError::kafka("create admin client", e))?;
    let request_timeout = Duration::from_millis(config.request_timeout_ms);
    // Bounded on both sides: a broker that never lets weir in (a refused
    // login, an untrusted certificate) fails within request_timeout_ms too.
    let options = AdminOptions::new()
        .operation_timeout(Some(request_timeout))
        .request_timeout(Some(request_timeout));

    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    // A broker that never lets the client in makes every call time out:
    // librdkafka's own report (a refused login, an untrusted certificate)
    // goes into the error.
    let because = |operation: &str| match super::diagnose(config, Duration::from_secs(5)) {
        Some(report) => format!("{operation} (librdkafka: {report})"),
        None => operation.to_string(),
    };
    let results = match admin.create_topics(new_topics.iter(), &options).await {
        Ok(results) => results,
        Err(e) => return Err(ConnectorError::kafka(because("create topics"), e)),
    };

    let mut outcomes = Vec::with_capacity(specs.len());
    for result in results {
        let (name, outcome) = match result {
            Ok(name) => (name, TopicOutcome::Created),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                (name, TopicOutcome::AlreadyExisted)
            }
            Err((topic, code)) => {
                return Err(ConnectorError::TopicCreate {
                    topic,
                    reason: because(&code.to_string()),
                });
            }
        };
        info!(topic = %name, ?outcome, "topic ensured");
        outcomes.push((name, outcome));
    }

    for spec in specs {
        let actual = partition_ids(admin.inner(), &spec.name, request_timeout)?.len();
        if actual != usize::try_from(spec.partitions).unwrap_or(0) {
            return Err(ConnectorError::PartitionMismatch {
                topic: spec.name.clone(),
                expected: spec.partitions,
                actual,
            });
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_follow_the_seed_configuration() {
        let specs = topic_specs(&KafkaConfig::default());
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sensor-readings",
                "sensor-registry",
                "alerts",
                "sensor-readings-dlq",
                "alert-control"
            ]
        );
        let readings = &specs[0];
        assert_eq!(readings.partitions, 12);
        assert!(
            readings
                .configs
                .contains(&("compression.type", "producer".into()))
        );
        assert!(
            readings
                .configs
                .contains(&("retention.ms", "604800000".into()))
        );
        assert!(
            readings
                .configs
                .contains(&("cleanup.policy", "delete".into()))
        );
        assert!(
            specs[1]
                .configs
                .contains(&("cleanup.policy", "compact".into()))
        );
    }
}
