//! Topic metadata as the broker reports it.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::client::Client;

use crate::ConnectorError;

/// The partition ids of `topic` (empty when the broker does not know it).
pub(crate) fn partition_ids<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, ConnectorError> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| ConnectorError::kafka(format!("fetch metadata of `{topic}`"), e))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Like [`partition_ids`], but a missing topic is an error that says how to create it.
pub(crate) fn require_topic<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, ConnectorError> {
    let ids = partition_ids(client, topic, timeout)?;
    if ids.is_empty() {
        return Err(ConnectorError::MissingTopic {
            topic: topic.to_string(),
        });
    }
    Ok(ids)
}
