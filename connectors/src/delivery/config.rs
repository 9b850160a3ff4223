//! `[delivery]` in weir.toml: where alert events go, and how hard to try.

use serde::{Deserialize, Serialize};

/// `[delivery]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Publish every deliverable alert event to `kafka.alerts_topic` (keyed by alert id).
    pub kafka: bool,
    /// Webhooks: each gets every deliverable event as a JSON POST.
    pub webhooks: Vec<WebhookConfig>,
    /// How long one webhook request may take.
    pub timeout_ms: u64,
    /// First retry delay; doubled after each failure up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// Longest retry delay.
    pub max_backoff_ms: u64,
    /// After this many failed attempts an event is recorded as undelivered
    /// (state `failing`, with the error); it is still retried.
    pub undelivered_after_attempts: i32,
    /// An event the receiver refuses this many times (an answer that is an
    /// error other than 408/429; a record the broker will never take) is
    /// parked: state `failed` with its last error, counted, and the channel
    /// goes on with the next event. An unreachable receiver blames no event.
    pub max_attempts: i32,
    /// Events handed to a channel per round.
    pub batch: i64,
    /// Polls for due deliveries at least this often (notifications wake it sooner).
    pub poll_ms: u64,
    /// A live `weir run` writes an always-firing `watchdog` event to every
    /// channel this often (its absence means alerting is down); 0 turns it off.
    pub watchdog_ms: u64,
}

/// `[[delivery.webhooks]]`: one receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A short name (the channel is `webhook:<name>`).
    pub name: String,
    /// `http://` or `https://host[:port]/path` (the certificate is verified).
    pub url: String,
    /// Signs every request (`X-Weir-Signature: sha256=<HMAC>` over
    /// `"<X-Weir-Timestamp>.<body>"`); empty: unsigned.
    #[serde(default)]
    pub secret: String,
    /// A file holding the secret (trimmed), instead of `secret` in the
    /// configuration; read at start.
    #[serde(default)]
    pub secret_file: String,
    /// Extra request headers, e.g. `{ Authorization = "Bearer …" }`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// For `https://`: a PEM file of the CAs to trust instead of the
    /// system's bundle (a private CA).
    #[serde(default)]
    pub ca_file: String,
}

impl WebhookConfig {
    /// Its channel: `webhook:<name>` (outbox rows and the channel's name).
    pub fn channel_name(&self) -> String {
        format!("webhook:{}", self.name)
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            kafka: true,
            webhooks: Vec::new(),
            timeout_ms: 5_000,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            undelivered_after_attempts: 5,
            max_attempts: 5,
            batch: 200,
            poll_ms: 1_000,
            watchdog_ms: 60_000,
        }
    }
}

/// The channel of the alerts topic.
pub const KAFKA_CHANNEL: &str = "kafka";
