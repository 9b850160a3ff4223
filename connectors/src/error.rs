//! The connectors' error type.

use rdkafka::error::KafkaError;

/// What went wrong at the edge, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A service did not accept a TCP connection on any address it was given.
    #[error(
        "cannot reach {service} at {addresses}: {reason}; start the local services with `scripts/services.sh` or point `{setting}` at a running {service}"
    )]
    Unreachable {
        /// The service's name, e.g. "Kafka".
        service: &'static str,
        /// The addresses that were tried, comma-separated.
        addresses: String,
        /// The last connection error.
        reason: String,
        /// The configuration key that sets the address.
        setting: &'static str,
    },
    /// A configured address is not `host:port`.
    #[error("invalid {setting} `{value}`: {reason}")]
    InvalidAddress {
        /// The configuration key.
        setting: &'static str,
        /// The offending value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A Kafka client operation failed.
    #[error("kafka {operation} failed")]
    Kafka {
        /// What we were doing, e.g. "create topics".
        operation: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The broker refused to create a topic.
    #[error("kafka: creating topic `{topic}` failed: {reason}")]
    TopicCreate {
        /// The topic.
        topic: String,
        /// The broker's error code.
        reason: String,
    },
    /// A topic exists with a different partition count than configured.
    #[error(
        "kafka: topic `{topic}` has {actual} partitions, configured {expected}; weir does not repartition an existing topic"
    )]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// Partitions configured.
        expected: i32,
        /// Partitions found on the broker.
        actual: usize,
    },
    /// A PostgreSQL operation failed.
    #[error("postgres: {operation} failed")]
    Postgres {
        /// What we were doing.
        operation: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// A setting is invalid.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// The configuration key.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// A topic weir needs does not exist.
    #[error("kafka: topic `{topic}` does not exist; create weir's topics with `weir topics`")]
    MissingTopic {
        /// The topic.
        topic: String,
    },
    /// Records could not be delivered to the broker.
    #[error("kafka: {failed} record(s) to `{topic}` were not delivered: {last_error}")]
    Undelivered {
        /// The topic.
        topic: String,
        /// How many records failed.
        failed: u64,
        /// The last delivery error seen.
        last_error: String,
    },
    /// Records of a partition were never read: weir will not pass over them silently.
    #[error(
        "kafka: `{topic}` partition {partition}: {detail}. To accept the loss and go on, set kafka.on_gap = \"record\" (each gap is then a row in source_gaps and counted in weir_source_gaps_total); to keep it from happening, keep the topic's retention above the longest outage of PostgreSQL or weir"
    )]
    Gap {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offsets, and what happened.
        detail: String,
    },
    /// A local file could not be written.
    #[error("{context}")]
    Io {
        /// What was being done, and the path.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The PostgreSQL writer thread stopped without saying why (it panicked).
    #[error("postgres: the writer thread stopped")]
    WriterGone,
}

impl ConnectorError {
    /// Wraps a PostgreSQL error with what was being done.
    pub fn postgres(operation: impl Into<String>, source: postgres::Error) -> Self {
        ConnectorError::Postgres {
            operation: operation.into(),
            source,
        }
    }

    /// Wraps a Kafka client error with what was being done.
    pub fn kafka(operation: impl Into<String>, source: KafkaError) -> Self {
        ConnectorError::Kafka {
            operation: operation.into(),
            source,
        }
    }
}
