//! Alert delivery: the outbox in PostgreSQL (`alert_deliveries`) drained to
//! channels (the alerts topic, webhooks), in event order per channel, at
//! least once, with an idempotency key receivers can deduplicate on; and
//! the Watchdog, an always-firing event that proves the path works.

mod channel;
mod config;
mod deliverer;
pub mod http;
pub mod registry;
pub mod sign;
mod watchdog;

pub use channel::{Channel, Failure, KafkaChannel, Payload, WebhookChannel};
pub use config::{DeliveryConfig, KAFKA_CHANNEL, WebhookConfig};
pub use deliverer::{Deliverer, Outcome, wait_drained};
pub use watchdog::{WATCHDOG_ALERT_ID, run as run_watchdog, watchdog_event};
