//! The source's consumer context: librdkafka's reports, minus the ones
//! that are no error.

use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// The source's consumers.
pub type BaseConsumer = rdkafka::consumer::BaseConsumer<SourceContext>;

/// librdkafka's reports for the source's consumers, as rdkafka's default
/// context gives them, but for a partition's end (`PartitionEOF`): the
/// source asks for those (bounded runs stop at them) and reads them from
/// each partition's queue; librdkafka also reports them on the main queue,
/// where the default context logged every one as an error.
pub struct SourceContext;

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF)
        {
            tracing::trace!(%reason, "partition end (also read from its queue)");
            return;
        }
        tracing::error!(%error, %reason, "librdkafka error");
    }
}

impl ConsumerContext for SourceContext {}
