//! Why librdkafka cannot get in. A refused SASL login, a certificate it
//! does not trust or plaintext to a TLS listener show up only as reports on
//! a client's main queue, which the admin client never serves: its calls
//! just time out. `diagnose` connects a short-lived producer with the same
//! settings and returns the first error librdkafka reports, for the message
//! of the call that failed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

use super::config::KafkaConfig;

/// Keeps librdkafka's first error report that says why; "all brokers are
/// down" only says that something did, so it is kept only as a fallback.
#[derive(Default)]
struct FirstError {
    first: Mutex<Option<String>>,
    fallback: Mutex<Option<String>>,
}

impl FirstError {
    fn keep(&self, report: String, generic: bool) {
        let slot = if generic { &self.fallback } else { &self.first };
        if let Ok(mut slot) = slot.lock() {
            slot.get_or_insert(report);
        }
    }

    fn first(&self) -> Option<String> {
        self.first.lock().ok().and_then(|first| first.clone())
    }

    fn any(&self) -> Option<String> {
        self.first()
            .or_else(|| self.fallback.lock().ok().and_then(|f| f.clone()))
    }
}

impl ClientContext for FirstError {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let error = matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
        );
        // `FAIL` is a connection that failed, whatever its level (a peer
        // that resets it is only a notice).
        if error || fac == "FAIL" {
            self.keep(format!("{fac}: {message}"), false);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let generic = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        self.keep(format!("{error}: {reason}"), generic);
    }
}

/// It produces nothing: no deliveries to report.
impl ProducerContext for FirstError {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// The first error librdkafka reports within `wait` while connecting with
/// `config`'s settings; `None` if it connects, or says nothing in time.
pub fn diagnose(config: &KafkaConfig, wait: Duration) -> Option<String> {
    let report = first_report(config, wait)?;
    // Plaintext to a TLS listener: the listener resets the connection at
    // the first request, which librdkafka reports without a hint.
    let protocol = config
        .properties
        .get("security.protocol")
        .map_or("plaintext", String::as_str)
        .to_ascii_lowercase();
    if report.contains("APIVERSION_QUERY") && !protocol.ends_with("ssl") {
        return Some(format!(
            "{report}; a TLS listener? security.protocol is {protocol}"
        ));
    }
    Some(report)
}

fn first_report(config: &KafkaConfig, wait: Duration) -> Option<String> {
    let mut client = config.client_config();
    // Connection failures are notices (6) when the peer resets.
    client
        .set("log_level", "6")
        .set_log_level(RDKafkaLogLevel::Info);
    let producer: BaseProducer<FirstError> = client
        .create_with_context(FirstError::default())
        .map_err(|e| e.to_string())
        .ok()?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        // Serves the main queue: its reports reach the context. Metadata
        // makes it connect to a broker.
        let connected = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(200))
            .is_ok();
        producer.poll(Duration::from_millis(50));
        if let Some(first) = producer.context().first() {
            return Some(first);
        }
        if connected {
            return None;
        }
    }
    producer.context().any()
}
