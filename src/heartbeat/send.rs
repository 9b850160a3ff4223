//! Sending: one reading per path and round, through the same doors real
//! sensors use, and the heartbeat sensors' registry records.
//!
//! ```text
//!  round (seq, ts) ─┬─ http  ─► POST /ingest (Bearer token)    ─► weir's gateway ─► Kafka
//!                   ├─ mqtt  ─► publish QoS 1 <filter with id> ─► Mosquitto ─► weir's bridge ─► Kafka
//!                   └─ kafka ─► produce to the readings topic (keyed by sensor id)
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tracing::{info, warn};
use weir_connectors::kafka::{KafkaProducer, OutgoingRecord};
use weir_dataflow::{CONTENT_TYPE_HEADER, Sensor, SensorId, SensorKind, Thresholds, ValidRange};

use super::config::{HeartbeatConfig, Path};
use super::http;
use crate::config::Config;
use crate::simulate::REGISTRY_LEAD_MS;

const JSON: &[u8] = b"application/json";

/// One heartbeat reading, as a v1 JSON payload.
pub fn payload(sensor: &str, ts_ms: i64, seq: u64) -> String {
    format!(r#"{{"sensorId":"{sensor}","timestamp":{ts_ms},"value":{seq}}}"#)
}

/// The registry record of the heartbeat sensor of `path`: kind `heartbeat`,
/// in the configured zone, valid from `REGISTRY_LEAD_MS` before `now_ms` so
/// that every reading it sends is enriched.
pub fn registry_record(
    config: &HeartbeatConfig,
    path: Path,
    now_ms: i64,
) -> anyhow::Result<Sensor> {
    let kind = SensorKind::HEARTBEAT;
    Ok(Sensor {
        sensor_id: SensorId::new(config.sensor(path))
            .map_err(|e| anyhow!("heartbeat.name: {e}"))?,
        kind,
        location: format!("weir heartbeat {}: the {} path", config.name, path.name()),
        zone: config.zone.clone(),
        unit: "seq".into(),
        thresholds: Thresholds::default(),
        valid_range: kind.physical_range().unwrap_or(ValidRange::WIDEST),
        valid_from_ms: Some(now_ms - REGISTRY_LEAD_MS),
        // Stated, though a heartbeat sensor is never silent-alerted: its
        // absence is `weir heartbeat`'s own business.
        expected_interval_ms: i64::try_from(config.interval_ms).ok(),
    })
}

/// The MQTT topic of `sensor`: the bridge's filter with its `+` level filled in.
pub fn mqtt_topic(filter: &str, sensor: &str) -> String {
    filter
        .split('/')
        .map(|level| if level == "+" { sensor } else { level })
        .collect::<Vec<_>>()
        .join("/")
}

/// The senders of one heartbeat process.
pub struct Senders {
    config: Arc<Config>,
    mqtt: Option<AsyncClient>,
    kafka: Mutex<Option<Arc<KafkaProducer>>>,
    registry_sent: std::sync::atomic::AtomicBool,
}

impl Senders {
    /// Starts the MQTT client (its event loop reconnects on its own); Kafka
    /// connects on first use.
    pub fn start(config: Arc<Config>) -> anyhow::Result<Senders> {
        let hb = &config.heartbeat;
        let mqtt = if hb.paths.contains(&Path::Mqtt) {
            let (host, port) = hb
                .mqtt_broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    anyhow!("heartbeat.mqtt_broker `{}`: not host:port", hb.mqtt_broker)
                })?;
            let mut options = MqttOptions::new(hb.mqtt_client_id.clone(), host, port);
            options.set_keep_alive(Duration::from_secs(15));
            if !hb.mqtt_username.is_empty() {
                options.set_credentials(hb.mqtt_username.clone(), hb.mqtt_password.clone());
            }
            if hb.mqtt_tls.enabled {
                options.set_transport(
                    weir_connectors::ingest::mqtt::transport(&hb.mqtt_tls)
                        .map_err(|e| anyhow!("heartbeat.mqtt_tls: {e}"))?,
                );
            }
            let (client, mut events) = AsyncClient::new(options, 16);
            tokio::spawn(async move {
                let mut down = false;
                loop {
                    match events.poll().await {
                        Ok(_) if down => {
                            down = false;
                            info!("heartbeat mqtt connected");
                        }
                        Ok(_) => {}
                        Err(error) => {
                            if !down {
                                warn!(%error, "heartbeat mqtt disconnected");
                                down = true;
                            }
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
            Some(client)
        } else {
            None
        };
        Ok(Senders {
            config,
            mqtt,
            kafka: Mutex::new(None),
            registry_sent: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The Kafka producer, connecting (and publishing the registry) when it
    /// has not been done yet. Blocking: call from a blocking thread.
    fn producer(&self) -> anyhow::Result<Arc<KafkaProducer>> {
        let mut slot = self
            .kafka
            .lock()
            .map_err(|_| anyhow!("kafka producer lock poisoned"))?;
        if let Some(producer) = slot.as_ref() {
            return Ok(Arc::clone(producer));
        }
        let producer = Arc::new(KafkaProducer::connect(&self.config.kafka).context("kafka")?);
        *slot = Some(Arc::clone(&producer));
        Ok(producer)
    }

    /// Publishes the heartbeat sensors to the registry topic and waits for
    /// the broker's acknowledgement (blocking). Done once per process.
    pub fn publish_registry(&self, now_ms: i64) -> anyhow::Result<bool> {
        use std::sync::atomic::Ordering;
        if self.registry_sent.load(Ordering::Acquire) {
            return Ok(false);
        }
        let producer = self.producer()?;
        let kafka = &self.config.kafka;
        let timeout = Duration::from_millis(kafka.request_timeout_ms);
        producer.require_topic(&kafka.registry_topic, timeout)?;
        for path in &self.config.heartbeat.paths {
            let sensor = registry_record(&self.config.heartbeat, *path, now_ms)?;
            producer.send(OutgoingRecord {
                topic: &kafka.registry_topic,
                key: sensor.sensor_id.as_str().as_bytes(),
                payload: Some(&sensor.encode()),
                headers: &[(CONTENT_TYPE_HEADER, JSON)],
                timestamp_ms: None,
            })?;
        }
        producer.finish(&kafka.registry_topic, timeout)?;
        self.registry_sent.store(true, Ordering::Release);
        info!(topic = %kafka.registry_topic, zone = %self.config.heartbeat.zone, "heartbeat sensors registered");
        Ok(true)
    }

    /// Sends round `seq`'s reading (event time `ts_ms`) through `path`.
    pub async fn send(self: &Arc<Self>, path: Path, ts_ms: i64, seq: u64) -> anyhow::Result<()> {
        let hb = &self.config.heartbeat;
        let sensor = hb.sensor(path);
        let body = payload(&sensor, ts_ms, seq);
        let timeout = Duration::from_millis(hb.deadline_ms.min(10_000));
        match path {
            Path::Http => {
                let auth = format!("Bearer {}", hb.ingest_token);
                let mut headers = vec![("Content-Type", "application/json")];
                if !hb.ingest_token.is_empty() {
                    headers.push(("Authorization", &auth));
                }
                let target = http::Target::parse("ingest_http", &hb.ingest_http, &hb.ca_file)
                    .map_err(|e| anyhow::anyhow!(e))?;
                let (status, answer) = http::request(
                    &target,
                    "POST",
                    "/ingest",
                    &headers,
                    body.as_bytes(),
                    timeout,
                )
                .await?;
                if status != 202 {
                    bail!(
                        "POST /ingest: {status} {}",
                        String::from_utf8_lossy(&answer)
                    );
                }
                Ok(())
            }
            Path::Mqtt => {
                let client = self
                    .mqtt
                    .as_ref()
                    .ok_or_else(|| anyhow!("mqtt not started"))?;
                let topic = mqtt_topic(&self.config.ingest.mqtt.topic_filter, &sensor);
                client
                    .try_publish(topic, QoS::AtLeastOnce, false, body.into_bytes())
                    .context("mqtt publish (client queue full: Mosquitto unreachable?)")
            }
            Path::Kafka => {
                let this = Arc::clone(self);
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = this.publish_registry(weir_dataflow::clock::now_ms()) {
                        warn!(error = %format!("{error:#}"), "heartbeat registry not published yet");
                    }
                    let producer = this.producer()?;
                    producer.send(OutgoingRecord {
                        topic: &this.config.kafka.readings_topic,
                        key: sensor.as_bytes(),
                        payload: Some(body.as_bytes()),
                        headers: &[(CONTENT_TYPE_HEADER, JSON)],
                        timestamp_ms: None,
                    })?;
                    Ok(())
                })
                .await
                .context("kafka send thread")?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_topics_and_registry_records_are_what_weir_reads() -> anyhow::Result<()> {
        let reading =
            weir_dataflow::decode(payload("hb-a-http", 1_764_000_000_123, 7).as_bytes(), None)?;
        assert_eq!(reading.sensor_id.as_str(), "hb-a-http");
        assert_eq!((reading.ts_ms, reading.value), (1_764_000_000_123, 7.0));
        assert_eq!(
            mqtt_topic("sensors/+/readings", "hb-a-mqtt"),
            "sensors/hb-a-mqtt/readings"
        );
        let config = HeartbeatConfig {
            name: "a".into(),
            ..HeartbeatConfig::default()
        };
        let sensor = registry_record(&config, Path::Kafka, 1_000_000_000_000)?;
        let back = Sensor::decode(&sensor.encode())?;
        assert_eq!(back.kind, SensorKind::HEARTBEAT);
        assert_eq!(back.zone, "heartbeat");
        assert_eq!(
            back.valid_from_ms,
            Some(1_000_000_000_000 - REGISTRY_LEAD_MS)
        );
        assert!(!back.kind.scored());
        Ok(())
    }
}
