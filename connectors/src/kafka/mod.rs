//! Kafka: configuration, topic administration, the record producer, the
//! source and the decoding of its records into the graph's inputs.

mod admin;
mod config;
mod decode;
mod lag;
mod metadata;
mod producer;
mod source;

pub use admin::{TopicOutcome, TopicSpec, ensure_topics, topic_specs};
pub use config::{Compression, GapPolicy, KafkaConfig};
pub use decode::{control_record, registry_record, source_record};
pub use lag::{PartitionLag, group_lag};
pub use producer::{Header, KafkaProducer, OutgoingRecord};
pub use source::{
    Bound, Checkpoint, Gap, RawRecord, Role, SourceRules, Sources, Spec, resume_gaps,
};
