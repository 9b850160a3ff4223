//! Where alert events go. A channel takes one event at a time, in order;
//! adding one (a pager, e-mail, the heartbeat's independent path) is a type
//! implementing [`Channel`] and a name in the outbox.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use super::config::WebhookConfig;
use super::http::{PostError, Url, post};
use super::sign;
use crate::ConnectorError;
use crate::kafka::KafkaConfig;

/// One event to deliver.
#[derive(Clone, Debug)]
pub struct Payload {
    /// The event id: receivers deduplicate on it (the `Idempotency-Key`).
    pub event_id: String,
    /// The alert it belongs to (the Kafka key).
    pub alert_id: String,
    /// The event as JSON, with `idempotency_key` added.
    pub body: String,
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What happened, recorded with the row.
    pub reason: String,
    /// The receiver answered and refused *this* event (an HTTP error other
    /// than 408 or 429, a record the broker will never take): it counts
    /// toward the event's attempts, and an event refused
    /// `delivery.max_attempts` times is parked. Otherwise the channel is
    /// unreachable or busy: it backs off, and no event is blamed.
    pub refused: bool,
}

/// The future a delivery returns.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// A destination of alert events.
pub trait Channel: Send + Sync {
    /// Its name in `alert_deliveries.channel`.
    fn name(&self) -> &str;
    /// Delivers one event; `Err` carries the reason, recorded with the row.
    fn deliver<'a>(&'a self, payload: &'a Payload) -> Delivery<'a>;
    /// Whether a round may start all its deliveries at once (the channel
    /// keeps their order itself, as a Kafka producer does per partition);
    /// otherwise each waits for the one before.
    fn pipelined(&self) -> bool {
        false
    }
}

/// POSTs each event as JSON to a URL.
pub struct WebhookChannel {
    name: String,
    url: Url,
    timeout: Duration,
    secret: String,
    headers: Vec<(String, String)>,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl WebhookChannel {
    /// The channel of `hook` (named by [`WebhookConfig::channel_name`]).
    pub fn new(hook: &WebhookConfig, timeout: Duration) -> Result<Self, ConnectorError> {
        let invalid = |setting, reason| ConnectorError::InvalidSetting { setting, reason };
        let url = Url::parse(&hook.url).map_err(|r| invalid("delivery.webhooks.url", r))?;
        let secret = match (hook.secret.is_empty(), hook.secret_file.is_empty()) {
            (_, true) => hook.secret.clone(),
            (true, false) => std::fs::read_to_string(&hook.secret_file)
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    invalid(
                        "delivery.webhooks.secret_file",
                        format!("{}: {e}", hook.secret_file),
                    )
                })?,
            (false, false) => {
                return Err(invalid(
                    "delivery.webhooks.secret_file",
                    "give `secret` or `secret_file`, not both".into(),
                ));
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &hook.headers {
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return Err(invalid(
                    "delivery.webhooks.headers",
                    format!("`{}` is not a header name", name.escape_default()),
                ));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(invalid(
                    "delivery.webhooks.headers",
                    format!("the value of `{name}` holds a control character"),
                ));
            }
            headers.push((name.clone(), value.clone()));
        }
        let tls = match (url.tls, hook.ca_file.is_empty()) {
            (true, _) => Some(
                super::http::connector(&hook.ca_file)
                    .map_err(|r| invalid("delivery.webhooks.ca_file", r))?,
            ),
            (false, true) => None,
            (false, false) => {
                return Err(invalid(
                    "delivery.webhooks.ca_file",
                    "only for https:// URLs".into(),
                ));
            }
        };
        Ok(WebhookChannel {
            name: hook.channel_name(),
            url,
            timeout,
            secret,
            headers,
            tls,
        })
    }
}

impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, payload: &'a Payload) -> Delivery<'a> {
        Box::pin(async move {
            // Signed at each attempt: a retry is a fresh, recent request.
            let now = weir_dataflow::clock::now_ms();
            let timestamp = now.to_string();
            let signature = (!self.secret.is_empty())
                .then(|| sign::signature(&self.secret, now, payload.body.as_bytes()));
            let mut headers: Vec<(&str, &str)> = self
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            headers.push(("Idempotency-Key", payload.event_id.as_str()));
            if let Some(signature) = &signature {
                headers.push((sign::TIMESTAMP_HEADER, timestamp.as_str()));
                headers.push((sign::SIGNATURE_HEADER, signature.as_str()));
            }
            post(
                &self.url,
                self.tls.as_ref(),
                &headers,
                payload.body.as_bytes(),
                self.timeout,
            )
            .await
            .map(|_| ())
            .map_err(|e| match e {
                PostError::Unreachable(reason) => Failure {
                    reason,
                    refused: false,
                },
                PostError::Status(code, reason) => Failure {
                    reason,
                    refused: code != 408 && code != 429,
                },
            })
        })
    }
}

/// Produces each event to the alerts topic, keyed by alert id.
pub struct KafkaChannel {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl KafkaChannel {
    /// A producer for `kafka.alerts_topic`.
    pub fn new(kafka: &KafkaConfig, timeout: Duration) -> Result<Self, ConnectorError> {
        let producer = kafka
            .producer_config()
            // A round's events go at once; no batching wait beyond that.
            .set("linger.ms", "0")
            .create()
            .map_err(|e| ConnectorError::kafka("create alerts producer", e))?;
        Ok(KafkaChannel {
            producer,
            topic: kafka.alerts_topic.clone(),
            timeout,
        })
    }
}

impl Channel for KafkaChannel {
    fn name(&self) -> &str {
        super::KAFKA_CHANNEL
    }

    fn pipelined(&self) -> bool {
        // Keyed by alert id, idempotent: one alert's events stay in order.
        true
    }

    fn deliver<'a>(&'a self, payload: &'a Payload) -> Delivery<'a> {
        Box::pin(async move {
            let record = FutureRecord::to(&self.topic)
                .key(payload.alert_id.as_str())
                .payload(payload.body.as_str());
            self.producer
                .send(record, self.timeout)
                .await
                .map(|_| ())
                .map_err(|(e, _)| {
                    use rdkafka::types::RDKafkaErrorCode as Code;
                    // Errors no retry can mend; the rest wait for the broker.
                    let refused = matches!(
                        e.rdkafka_error_code(),
                        Some(
                            Code::MessageSizeTooLarge
                                | Code::InvalidMessage
                                | Code::InvalidMessageSize
                                | Code::InvalidRecord
                                | Code::TopicAuthorizationFailed
                        )
                    );
                    Failure {
                        reason: format!("produce to `{}`: {e}", self.topic),
                        refused,
                    }
                })
        })
    }
}
