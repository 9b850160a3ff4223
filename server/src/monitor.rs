//! What only a query can tell, refreshed in the background for `/metrics`
//! and `/health`: the outbox backlog per channel (every 5 s) and the
//! consumer lag per readings partition (every 15 s: watermarks against the
//! group offsets the sources commit once offsets are durable).

use std::sync::Arc;
use std::time::Duration;

use weir_connectors::kafka::{KafkaConfig, group_lag};

use crate::db::Db;
use crate::metrics::Metrics;

/// Refreshes the metrics for ever (until the runtime stops).
pub async fn run(db: Db, kafka: KafkaConfig, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        let (_, outbox) = crate::health::database(&db).await;
        metrics.set_outbox(outbox);
        if round % 3 == 0 {
            let (kafka, topic) = (kafka.clone(), kafka.readings_topic.clone());
            if let Ok(Ok(lag)) =
                tokio::task::spawn_blocking(move || group_lag(&kafka, &topic)).await
            {
                metrics.set_lag(lag.into_iter().map(|(p, l)| (p, l.lag())).collect());
            }
        }
    }
}
