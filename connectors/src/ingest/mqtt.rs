//! The MQTT bridge: a persistent QoS 1 subscription whose messages are
//! acknowledged to the MQTT broker only once they are in the disk buffer
//! (and so on their way to Kafka).
//!
//! ```text
//!  Mosquitto ─► rumqttc event loop (own task) ─► queue ─► batch: topic → sensor id, validate
//!                 ▲                                        ├─ valid ─► readings ─┐
//!                 └──── PUBACK, in order ◄── appended ◄────┴─ invalid ─► dead letters (reason) ─┴─► buffer
//! ```
//!
//! Nothing is acknowledged before it is durable: while the buffer refuses
//! (full, or over a rate limit) the batch waits and is retried, the broker
//! stops sending past its in-flight window, and on a restart it redelivers
//! what was not acknowledged — the session is persistent (fixed client id,
//! clean session off), so messages sent while weir was away arrive too.
//! A payload that is not a reading, or names another sensor than its
//! topic, is dead-lettered with its reason (MQTT has no one to answer),
//! and acknowledged. That includes a publish of any size MQTT allows: over
//! 64 KiB it is a `too_large` dead letter whose payload is cut to 64 KiB
//! (`x-weir-size` keeps the size), so the drainer never holds a record
//! Kafka cannot take, and the bridge never loops on a packet it cannot read.

use std::collections::BTreeMap;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Publish, QoS};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::config::MqttConfig;
use super::gateway::{Gateway, Rejection, validate};

/// The largest packet MQTT 3.1.1 can frame: a remaining length of at most
/// 268,435,455 bytes, plus the fixed header.
const MQTT_MAX_PACKET: usize = 268_435_455 + 5;

/// The sensor id in `topic` under `filter` (its `+` level), if it matches.
pub fn sensor_of<'a>(filter: &str, topic: &'a str) -> Option<&'a str> {
    let levels: Vec<&str> = filter.split('/').collect();
    let parts: Vec<&'a str> = topic.split('/').collect();
    if levels.len() != parts.len() {
        return None;
    }
    let mut sensor = None;
    for (level, part) in levels.iter().zip(&parts) {
        match *level {
            "+" => sensor = Some(*part),
            fixed if fixed == *part => {}
            _ => return None,
        }
    }
    sensor.filter(|s| !s.is_empty())
}

/// Starts the bridge on the current runtime.
pub fn start(config: &MqttConfig, gateway: Gateway) -> Result<(), String> {
    let (host, port) = config
        .broker
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("ingest.mqtt.broker `{}`: expected host:port", config.broker))?;
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(config.keep_alive_secs.max(5)))
        // Acknowledge only what is in the buffer.
        .set_manual_acks(true)
        // A persistent session: the broker keeps QoS 1 messages while weir is away.
        .set_clean_session(false)
        // Read every packet MQTT can carry: one larger than the client's
        // limit would fail the connection, and the persistent session
        // would redeliver it at every reconnect, for ever. Over 64 KiB it
        // becomes a `too_large` dead letter (payload cut, size kept).
        .set_max_packet_size(MQTT_MAX_PACKET, 1 << 20);
    if !config.username.is_empty() {
        options.set_credentials(config.username.clone(), config.password.clone());
    }
    if config.tls.enabled {
        options.set_transport(transport(&config.tls).map_err(|e| format!("ingest.mqtt.tls: {e}"))?);
    }
    let (client, eventloop) = AsyncClient::new(options, config.in_flight.max(10));
    // Unbounded, so the event loop never waits on the forwarder (which
    // waits on the event loop to send its acks): the broker's in-flight
    // window bounds it, as nothing is acknowledged before it is buffered.
    let (tx, rx) = mpsc::unbounded_channel::<Publish>();
    tokio::spawn(poll(
        eventloop,
        client.clone(),
        config.topic_filter.clone(),
        tx,
    ));
    tokio::spawn(forward(
        client,
        gateway,
        config.topic_filter.clone(),
        config.in_flight.max(1),
        rx,
    ));
    info!(broker = %config.broker, filter = %config.topic_filter, client_id = %config.client_id, "mqtt bridge started");
    Ok(())
}

/// MQTT over TLS with `tls`'s trust and client certificate (rustls on
/// ring, the same client as every other TLS connection weir makes).
pub fn transport(tls: &crate::tls::ClientTls) -> Result<rumqttc::Transport, String> {
    Ok(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(tls.client_config()?),
    ))
}

/// Drives the connection; hands publishes on; resubscribes at each connect.
async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filter: String,
    tx: mpsc::UnboundedSender<Publish>,
) {
    let mut down = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                if down {
                    info!("mqtt broker reachable again");
                    down = false;
                }
                // Subscribing again is harmless and covers a broker that lost the session.
                let client = client.clone();
                let filter = filter.clone();
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe(filter, QoS::AtLeastOnce).await {
                        warn!(error = %e, "mqtt subscribe failed");
                    }
                });
            }
            Ok(Event::Incoming(Incoming::Publish(publish))) => {
                if tx.send(publish).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                // Said every time: a refusal is a setting to fix, not a blip.
                tracing::error!(
                    ?code,
                    "mqtt broker refused the connection (check ingest.mqtt.username and password); retrying"
                );
                down = true;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(rumqttc::ConnectionError::Tls(e)) => {
                // Also a setting (CA, name, client certificate): said every time.
                tracing::error!(
                    error = %e,
                    "mqtt TLS handshake failed (check ingest.mqtt.tls and the broker's certificate); retrying"
                );
                down = true;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => {
                if !down {
                    warn!(error = %e, "mqtt broker unreachable; reconnecting (unacknowledged messages will be redelivered)");
                    down = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Validates, buffers and acknowledges, in order, a batch at a time.
async fn forward(
    client: AsyncClient,
    gateway: Gateway,
    filter: String,
    batch: usize,
    mut rx: mpsc::UnboundedReceiver<Publish>,
) {
    while let Some(first) = rx.recv().await {
        let mut publishes = vec![first];
        while publishes.len() < batch {
            match rx.try_recv() {
                Ok(p) => publishes.push(p),
                Err(_) => break,
            }
        }
        // Until the buffer takes them: nothing is acknowledged before that.
        loop {
            match buffer(&gateway, &filter, &publishes).await {
                Ok(()) => break,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
        for publish in &publishes {
            if let Err(e) = client.ack(publish).await {
                warn!(error = %e, "mqtt ack failed (the broker will redeliver)");
            }
        }
    }
}

/// Puts one batch of publishes in the buffer; `Err(wait)` when refused.
async fn buffer(gateway: &Gateway, filter: &str, publishes: &[Publish]) -> Result<(), Duration> {
    let mut valid = Vec::new();
    let mut dead = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for publish in publishes {
        let topic = publish.topic.as_str();
        let Some(sensor) = sensor_of(filter, topic) else {
            dead.push((
                String::new(),
                publish,
                Rejection {
                    index: 0,
                    field: "topic".into(),
                    reason: "bad_topic".into(),
                    detail: format!("topic `{topic}` does not match `{filter}`"),
                },
            ));
            continue;
        };
        match validate(publish.payload.to_vec(), None, 0) {
            Ok(v) if v.sensor_id == sensor => {
                *counts.entry(format!("sensor:{sensor}")).or_default() += 1;
                valid.push(v);
            }
            Ok(v) => dead.push((
                sensor.to_string(),
                publish,
                Rejection {
                    index: 0,
                    field: "sensorId".into(),
                    reason: weir_dataflow::records::DeadReason::KeyMismatch
                        .name()
                        .into(),
                    detail: format!(
                        "the payload's sensor `{}` is not the topic's `{sensor}`",
                        v.sensor_id
                    ),
                },
            )),
            Err(r) => dead.push((sensor.to_string(), publish, r)),
        }
    }
    gateway
        .admit_mqtt(
            valid,
            &counts,
            dead.into_iter()
                .map(|(key, p, r)| (key, p.payload.to_vec(), format!("mqtt:{}", p.topic), r))
                .collect(),
        )
        .await
        .map_err(|refusal| Duration::from_secs(refusal.retry_after_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plus_level_is_the_sensor() {
        let f = "sensors/+/readings";
        assert_eq!(sensor_of(f, "sensors/tmp-1/readings"), Some("tmp-1"));
        assert_eq!(sensor_of(f, "sensors/tmp-1/other"), None);
        assert_eq!(sensor_of(f, "sensors//readings"), None);
        assert_eq!(sensor_of(f, "sensors/a/b/readings"), None);
        assert_eq!(sensor_of("site/x/+", "site/x/co-2"), Some("co-2"));
    }
}
