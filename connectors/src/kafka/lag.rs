//! Consumer lag as the broker sees it: per partition, the log end and the
//! offset weir's group committed (weir commits the offsets PostgreSQL holds
//! as durable, after the fact, for exactly this).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaConfig;
use super::metadata::require_topic;
use crate::ConnectorError;
use crate::preflight::{KAFKA, check_reachable};

/// One partition's offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    /// First offset still held.
    pub low: i64,
    /// Log end offset (next offset to be written).
    pub high: i64,
    /// The group's committed offset, if it committed one.
    pub committed: Option<i64>,
}

impl PartitionLag {
    /// Records not yet committed by the group (all of them when it never committed).
    pub fn lag(&self) -> i64 {
        self.high - self.committed.unwrap_or(self.low).max(self.low)
    }
}

/// Watermarks and `kafka.group_id`'s committed offsets for every partition of `topic`.
pub fn group_lag(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<BTreeMap<i32, PartitionLag>, ConnectorError> {
    check_reachable(
        KAFKA,
        &kafka.brokers,
        Duration::from_millis(kafka.connect_timeout_ms),
    )?;
    let timeout = Duration::from_millis(kafka.request_timeout_ms);
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| ConnectorError::kafka("create consumer", e))?;
    let partitions = require_topic(consumer.client(), topic, timeout)?;
    let mut list = TopicPartitionList::new();
    for p in &partitions {
        list.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(list, timeout)
        .map_err(|e| ConnectorError::kafka(format!("committed offsets of `{topic}`"), e))?;
    let mut out = BTreeMap::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| ConnectorError::kafka(format!("watermarks of `{topic}`/{p}"), e))?;
        let committed = committed
            .find_partition(topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        out.insert(
            p,
            PartitionLag {
                low,
                high,
                committed,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_start() {
        let p = |committed| PartitionLag {
            low: 10,
            high: 50,
            committed,
        };
        assert_eq!(p(Some(45)).lag(), 5);
        assert_eq!(p(None).lag(), 40, "never committed: everything held");
        assert_eq!(p(Some(3)).lag(), 40, "committed below the retained start");
    }
}
