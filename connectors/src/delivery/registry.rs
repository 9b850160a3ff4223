//! The one place alert channels are named and built: the outbox gets a row
//! per event for each name in [`channels`], and [`build`] makes the channel
//! that delivers each of those rows. A new channel is a module of its own
//! (implementing [`Channel`]), its settings in `config.rs`, and one arm
//! here in each function, which a test keeps in step.

use std::time::Duration;

use super::channel::{Channel, KafkaChannel, WebhookChannel};
use super::config::{DeliveryConfig, KAFKA_CHANNEL, WebhookConfig};
use crate::ConnectorError;
use crate::kafka::KafkaConfig;

/// The channels every deliverable event gets an outbox row for.
pub fn channels(config: &DeliveryConfig) -> Vec<String> {
    let mut channels = Vec::new();
    if config.kafka {
        channels.push(KAFKA_CHANNEL.to_string());
    }
    channels.extend(config.webhooks.iter().map(WebhookConfig::channel_name));
    channels
}

/// The configured channels, in the order of [`channels`].
pub fn build(
    kafka: &KafkaConfig,
    config: &DeliveryConfig,
) -> Result<Vec<Box<dyn Channel>>, ConnectorError> {
    let timeout = Duration::from_millis(config.timeout_ms);
    let mut built: Vec<Box<dyn Channel>> = Vec::new();
    if config.kafka {
        built.push(Box::new(KafkaChannel::new(kafka, timeout)?));
    }
    for hook in &config.webhooks {
        built.push(Box::new(WebhookChannel::new(hook, timeout)?));
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_the_topic_and_each_webhook() {
        let config = DeliveryConfig {
            webhooks: vec![WebhookConfig {
                name: "ops".into(),
                url: "http://127.0.0.1:9/hook".into(),
                ..WebhookConfig::default()
            }],
            ..DeliveryConfig::default()
        };
        assert_eq!(channels(&config), ["kafka", "webhook:ops"]);
        let none = DeliveryConfig {
            kafka: false,
            ..DeliveryConfig::default()
        };
        assert!(channels(&none).is_empty());
    }

    /// What is built is what is named: the outbox never holds a row no
    /// channel delivers. (librdkafka creates a producer without reaching
    /// the broker, so no broker is needed here.)
    #[test]
    fn built_channels_carry_the_names_the_outbox_uses() -> Result<(), ConnectorError> {
        let config = DeliveryConfig {
            webhooks: vec![
                WebhookConfig {
                    name: "ops".into(),
                    url: "http://127.0.0.1:9/hook".into(),
                    secret: "s3cret".into(),
                    headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
                    ..WebhookConfig::default()
                },
                WebhookConfig {
                    name: "pager".into(),
                    url: "http://127.0.0.1:9/pager".into(),
                    ..WebhookConfig::default()
                },
            ],
            ..DeliveryConfig::default()
        };
        let built = build(&KafkaConfig::default(), &config)?;
        let names: Vec<&str> = built.iter().map(|c| c.name()).collect();
        assert_eq!(names, channels(&config));
        Ok(())
    }

    #[test]
    fn bad_webhook_headers_and_secret_files_are_named() {
        let build_one = |hook: WebhookConfig| {
            let config = DeliveryConfig {
                kafka: false,
                webhooks: vec![hook],
                ..DeliveryConfig::default()
            };
            build(&KafkaConfig::default(), &config)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let hook = |headers: &[(&str, &str)], secret_file: &str| WebhookConfig {
            name: "ops".into(),
            url: "http://127.0.0.1:9/hook".into(),
            secret_file: secret_file.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..WebhookConfig::default()
        };
        assert!(build_one(hook(&[("X-Bad\r\nInjected", "1")], "")).contains("header name"));
        assert!(build_one(hook(&[("X-Ok", "a\r\nInjected: 1")], "")).contains("control"));
        assert!(build_one(hook(&[], "/nonexistent/secret")).contains("secret_file"));
    }
}
