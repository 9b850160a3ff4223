//! Reading a topic back in the tests: every record of every partition, by
//! assignment (no group), until the expected count arrived (then a little
//! longer, to catch extras) or the broker stayed silent for a minute.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::unique;

/// One record as read.
#[derive(Clone, Debug)]
pub struct Read {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers (name, value as text).
    pub headers: Vec<(String, String)>,
}

impl Read {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `topic` (all `partitions`) on `brokers` until `expected` records.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Result<Vec<Read>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader")) // required by librdkafka, never joined
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut records = Vec::new();
    let mut last_progress = Instant::now();
    let mut done_at: Option<Instant> = None;
    while last_progress.elapsed() < Duration::from_secs(60) {
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Read {
            partition: message.partition(),
            offset: message.offset(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
        last_progress = Instant::now();
        if records.len() >= expected && done_at.is_none() {
            done_at = Some(Instant::now());
        }
    }
    Ok(records)
}
