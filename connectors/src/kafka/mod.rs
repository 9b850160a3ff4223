//! Kafka: configuration, topic administration, the record producer and the source.

mod admin;
mod config;
mod lag;
mod metadata;
mod producer;
mod source;

pub use admin::{TopicOutcome, TopicSpec, ensure_topics, topic_specs};
pub use config::{Compression, GapPolicy, KafkaConfig};
pub use lag::{PartitionLag, group_lag};
pub use producer::{Header, KafkaProducer, OutgoingRecord};
pub use source::{
    Bound, Checkpoint, Gap, RawRecord, Role, SourceRules, Sources, Spec, resume_gaps,
};
