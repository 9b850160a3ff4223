//! A consumer of explicitly assigned partitions (no group rebalancing).
//!
//! weir owns partition placement itself (`partition % peers == worker`), so
//! consumers never join a rebalancing group; librdkafka still wants a
//! `group.id`, which is only used for committed-offset bookkeeping.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaConfig;
use super::metadata::require_topic;
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};

/// Where an assigned partition starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The earliest retained record.
    Beginning,
    /// Only records produced from now on.
    End,
}

/// A consumer over an explicit set of partitions of one topic.
pub struct PartitionConsumer {
    inner: BaseConsumer,
    topic: String,
    partitions: Vec<i32>,
}

impl PartitionConsumer {
    /// Assigns `partitions` of `topic` (all of them when `None`) starting at `start`.
    pub fn assign(
        config: &KafkaConfig,
        topic: &str,
        partitions: Option<&[i32]>,
        start: StartAt,
    ) -> Result<Self, ConnectorError> {
        check_reachable(
            KAFKA,
            &config.brokers,
            Duration::from_millis(config.connect_timeout_ms),
        )?;
        let mut client = config.client_config();
        client
            // Required by librdkafka even without group membership; never rebalanced.
            .set("group.id", "weir-partition-consumer")
            // weir records offsets with the data (PostgreSQL), not in the broker.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Tansu does not answer a waiting fetch early when data arrives:
            // a short wait bounds the added latency (../shared/STACK.md).
            .set("fetch.wait.max.ms", "10");
        let inner: BaseConsumer = client
            .create()
            .map_err(|e| ConnectorError::kafka("create consumer", e))?;
        let partitions = match partitions {
            Some(p) => p.to_vec(),
            None => require_topic(
                inner.client(),
                topic,
                Duration::from_millis(config.request_timeout_ms),
            )?,
        };
        let offset = match start {
            StartAt::Beginning => Offset::Beginning,
            StartAt::End => Offset::End,
        };
        let mut assignment = TopicPartitionList::new();
        for &p in &partitions {
            assignment
                .add_partition_offset(topic, p, offset)
                .map_err(|e| ConnectorError::kafka(format!("assign `{topic}`/{p}"), e))?;
        }
        inner
            .assign(&assignment)
            .map_err(|e| ConnectorError::kafka(format!("assign `{topic}`"), e))?;
        Ok(PartitionConsumer {
            inner,
            topic: topic.to_string(),
            partitions,
        })
    }

    /// The assigned partitions.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The underlying librdkafka consumer (poll it for messages).
    pub fn consumer(&self) -> &BaseConsumer {
        &self.inner
    }
}
