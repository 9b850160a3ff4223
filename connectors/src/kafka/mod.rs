//! Kafka: configuration, topic administration, the record producer, the
//! source, its records decoded into the graph's inputs (`decode`), and the
//! source as the driver's partition reader (`reader`).

mod admin;
mod align;
mod assign;
mod config;
mod context;
mod decode;
mod diagnose;
mod gaps;
mod lag;
mod metadata;
mod partitions;
mod producer;
mod reader;
mod source;

pub use admin::{TopicOutcome, TopicSpec, ensure_topics, topic_specs};
pub use assign::Assignment;
pub use config::{Compression, GapPolicy, KafkaConfig};
pub use decode::{control_record, registry_record, source_record};
pub use diagnose::diagnose;
pub use gaps::{Gap, resume_gaps};
pub use lag::{PartitionLag, group_lag};
pub use partitions::{Bound, Checkpoint, RawRecord, SourceRules};
pub use producer::{Header, KafkaProducer, OutgoingRecord};
pub use source::{Sources, Spec};
pub use weir_dataflow::driver::Role;
