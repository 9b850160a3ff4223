//! Kafka: configuration, topic administration and the record producer.

mod admin;
mod config;
mod consumer;
mod metadata;
mod producer;

pub use admin::{TopicOutcome, TopicSpec, ensure_topics, topic_specs};
pub use config::KafkaConfig;
pub use consumer::{PartitionConsumer, StartAt};
pub use producer::{Header, KafkaProducer, OutgoingRecord};
