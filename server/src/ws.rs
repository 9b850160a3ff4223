//! WebSocket push: `GET /ws?zone=Z` (repeatable; none = all zones).
//!
//! ```text
//!  hub deltas (broadcast) ─┐
//!  client subscribe msgs ──┴─► forwarder: zone filter, seq ─► bounded queue ─► writer ─► socket
//!                                                                 full ⇒ slow: close 4001
//! ```
//!
//! On connect, and after each `{"type":"subscribe","zones":[…]}`, the client
//! gets one `snapshot`; then `update`s, coalesced per sensor by the hub
//! (one per `coalesce_ms`) and serialised once for all subscribers (per
//! zone). Every message has a `type` and a `seq`. A client whose queue
//! overflows (`client_queue` messages or `client_queue_bytes`), who misses hub deltas,
//! or whose socket stays unwritable for 5 s is sent close code 4001
//! ("slow consumer") and dropped; one silent for three ping intervals is
//! closed with 1001. Memory per client is bounded by the queue.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, mpsc};
use tracing::{debug, info};
use warp::ws::{Message, WebSocket};

use crate::auth::Principal;
use crate::hub::{Delta, Hub, Snapshot};
use crate::metrics::Metrics;

/// The subprotocol a browser offers, beside `bearer.<token>`, to sign in.
pub const PROTOCOL: &str = "weir";

/// Close code for a client that fell behind.
pub const SLOW_CONSUMER: u16 = 4001;
/// How long one write may block before the client counts as slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a slow client has to take its close frame (behind what its
/// socket already holds) before the connection is dropped. Nothing new is
/// queued meanwhile, so memory stays bounded.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `key` (`Sec-WebSocket-Key`) is 16 bytes in base64, as RFC 6455
/// asks; warp takes any value.
pub fn valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key
            .bytes()
            .take(22)
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// One of the `max_ws_clients` places, held from the upgrade until the
/// session ends (or until the upgrade fails): counted in
/// `weir_websocket_clients`, given back on drop.
pub struct WsSlot(Arc<Metrics>);

impl WsSlot {
    /// A place for one more client, or `None` when `max` are connected
    /// (the refusal is counted in `weir_ws_refused_total`).
    pub fn take(metrics: &Arc<Metrics>, max: usize) -> Option<WsSlot> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let taken = metrics
            .ws_clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Some(WsSlot(Arc::clone(metrics))),
            Err(_) => {
                metrics.ws_refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        self.0.ws_clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Zones from a raw query string: every `zone=` value; none means all.
pub fn zones_from_query(query: &str) -> Option<BTreeSet<String>> {
    let zones: BTreeSet<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "zone")
        .map(|(_, v)| percent_decode(v))
        .filter(|v| !v.is_empty())
        .collect();
    (!zones.is_empty()).then_some(zones)
}

/// Decodes `%XX` and `+` in a query value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the reader asks of the forwarder.
enum Request {
    /// Subscribe to these zones (`None`: all).
    Zones(Option<BTreeSet<String>>),
    /// A subscription the token may not have.
    Refused(crate::error::ApiError),
}

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    zones: Option<Vec<String>>,
}

fn zones_json(zones: &Option<BTreeSet<String>>) -> Value {
    zones.as_ref().map_or(Value::Null, |z| json!(z))
}

fn snapshot_message(seq: u64, zones: &Option<BTreeSet<String>>, snapshot: &Snapshot) -> String {
    json!({
        "type": "snapshot",
        "seq": seq,
        "zones": zones_json(zones),
        "sensors": snapshot.sensors,
        "anomalies": snapshot.anomalies,
        "incidents": snapshot.incidents,
        "alerts": snapshot.alerts,
    })
    .to_string()
}

fn update_message(seq: u64, zones: &Option<BTreeSet<String>>, delta: &Delta) -> Option<String> {
    let merged;
    let parts = match zones {
        None => &delta.encoded.all,
        Some(zones) => {
            let mut parts = crate::hub::Parts::default();
            for zone in zones {
                if let Some(p) = delta.encoded.zones.get(zone) {
                    parts.extend(p);
                }
            }
            merged = parts;
            &merged
        }
    };
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        r#"{{"type":"update","seq":{seq},"sensors":[{}],"anomalies":[{}],"incidents":[{}],"alerts":[{}]}}"#,
        parts.sensors, parts.anomalies, parts.incidents, parts.alerts
    ))
}

/// Serves one client until it leaves, is too slow, or goes silent.
/// `zones` are already narrowed to what `who` sees; a later `subscribe`
/// outside them is answered with an `error` message and changes nothing.
pub async fn session(
    socket: WebSocket,
    hub: Arc<Hub>,
    zones: Option<BTreeSet<String>>,
    who: Principal,
    slot: WsSlot,
) {
    let metrics = Arc::clone(hub.metrics());
    let config = hub.config().clone();
    let (mut sink, mut stream) = socket.split();
    let (queue, mut queued) = mpsc::channel::<Message>(config.client_queue.max(1));
    let slow = Arc::new(Notify::new());
    // Bytes queued and not yet written: bounded by `client_queue_bytes`.
    let queued_bytes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (control, mut controls) = mpsc::channel::<Request>(8);
    let mut deltas = hub.subscribe();

    // Forwarder: zone filter and sequence numbers, into the bounded queue.
    let forwarder = {
        let hub = Arc::clone(&hub);
        let slow = Arc::clone(&slow);
        let queued_bytes = Arc::clone(&queued_bytes);
        let max_bytes = config.client_queue_bytes;
        let mut zones = zones;
        tokio::spawn(async move {
            let mut seq = 0u64;
            let push = |text: String| -> bool {
                let len = text.len();
                // A snapshot larger than the budget still goes to an empty queue.
                let held = queued_bytes.load(Ordering::Relaxed);
                if held > 0 && held + len > max_bytes {
                    slow.notify_one();
                    return false;
                }
                queued_bytes.fetch_add(len, Ordering::Relaxed);
                match queue.try_send(Message::text(text)) {
                    Ok(()) => true,
                    Err(_) => {
                        slow.notify_one();
                        false
                    }
                }
            };
            seq += 1;
            if !push(snapshot_message(seq, &zones, &hub.snapshot(zones.as_ref()))) {
                return;
            }
            loop {
                tokio::select! {
                    delta = deltas.recv() => match delta {
                        Ok(delta) => {
                            if let Some(text) = update_message(seq + 1, &zones, &delta) {
                                seq += 1;
                                if !push(text) { return; }
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => { slow.notify_one(); return; }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    change = controls.recv() => match change {
                        Some(Request::Zones(new_zones)) => {
                            zones = new_zones;
                            seq += 1;
                            if !push(snapshot_message(seq, &zones, &hub.snapshot(zones.as_ref()))) { return; }
                        }
                        Some(Request::Refused(error)) => {
                            seq += 1;
                            let text = json!({"type": "error", "seq": seq, "error": error.error, "detail": error.detail}).to_string();
                            if !push(text) { return; }
                        }
                        None => return,
                    },
                }
            }
        })
    };

    // Reader: subscriptions and liveness.
    let last_seen = Arc::new(std::sync::Mutex::new(Instant::now()));
    let reader = {
        let last_seen = Arc::clone(&last_seen);
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Ok(mut seen) = last_seen.lock() {
                    *seen = Instant::now();
                }
                if message.is_close() {
                    break;
                }
                let Ok(text) = message.to_str() else { continue };
                match serde_json::from_str::<ClientMessage>(text) {
                    Ok(m) if m.kind == "subscribe" => {
                        let zones = m
                            .zones
                            .map(|z| z.into_iter().collect::<BTreeSet<_>>())
                            .filter(|z| !z.is_empty());
                        let request = match who.narrow(zones) {
                            Ok(zones) => Request::Zones(zones),
                            Err(e) => Request::Refused(e),
                        };
                        if control.send(request).await.is_err() {
                            break;
                        }
                    }
                    Ok(m) => debug!(kind = %m.kind, "websocket message ignored"),
                    Err(e) => debug!(error = %e, "websocket message not understood"),
                }
            }
        })
    };

    // Writer: the only task touching the sink.
    let mut ping = tokio::time::interval(Duration::from_millis(config.ping_interval_ms.max(100)));
    ping.tick().await;
    let close = |code: u16, reason: &'static str| Message::close_with(code, reason);
    let outcome = loop {
        tokio::select! {
            biased;
            _ = slow.notified() => break Some((SLOW_CONSUMER, "slow consumer")),
            message = queued.recv() => match message {
                Some(message) => {
                    let len = message.as_bytes().len();
                    let sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await;
                    queued_bytes.fetch_sub(len, Ordering::Relaxed);
                    match sent {
                    Ok(Ok(())) => { metrics.ws_messages.fetch_add(1, Ordering::Relaxed); }
                    Ok(Err(_)) => break None,
                    Err(_) => break Some((SLOW_CONSUMER, "slow consumer")),
                    }
                }
                None => break None,
            },
            _ = ping.tick() => {
                let silent = last_seen.lock().map_or(Duration::ZERO, |t| t.elapsed());
                if silent > Duration::from_millis(config.ping_interval_ms.saturating_mul(3)) {
                    break Some((1001, "no pong"));
                }
                if tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::ping(Vec::new()))).await.is_err() {
                    break Some((SLOW_CONSUMER, "slow consumer"));
                }
            }
            _ = reader_done(&reader) => break None,
        }
    };
    if let Some((code, reason)) = outcome {
        if code == SLOW_CONSUMER {
            metrics.ws_slow_disconnects.fetch_add(1, Ordering::Relaxed);
            info!(reason, "websocket client disconnected");
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(close(code, reason))).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    forwarder.abort();
    reader.abort();
    drop(slot);
}

async fn reader_done(reader: &tokio::task::JoinHandle<()>) {
    while !reader.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_come_from_every_zone_parameter() {
        assert_eq!(zones_from_query(""), None);
        assert_eq!(zones_from_query("foo=1"), None);
        let z = zones_from_query("zone=zone-01&zone=zone%2002&x=1").unwrap_or_default();
        assert_eq!(
            z.into_iter().collect::<Vec<_>>(),
            vec!["zone 02", "zone-01"]
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn keys_are_16_bytes_in_base64() {
        assert!(valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_key("dGhlIHNhbXBsZSBub25jZ$=="));
        assert!(!valid_key(""));
    }

    #[test]
    fn slots_stop_at_the_cap_and_come_back_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let first = WsSlot::take(&metrics, 2);
        let second = WsSlot::take(&metrics, 2);
        assert!(first.is_some() && second.is_some());
        assert!(WsSlot::take(&metrics, 2).is_none());
        assert_eq!(metrics.ws_refused.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.ws_clients.load(Ordering::Relaxed), 2);
        drop(first);
        assert!(WsSlot::take(&metrics, 2).is_some());
        assert_eq!(metrics.ws_clients.load(Ordering::Relaxed), 1);
        assert!(metrics.render().contains("weir_ws_refused_total 1"));
    }
}
