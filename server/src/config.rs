//! `[server]` in weir.toml.

use serde::{Deserialize, Serialize};

/// `[server]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Whether `weir run` starts the server (on process 0 of a cluster).
    pub enabled: bool,
    /// Address to listen on (loopback by default).
    pub listen: String,
    /// A sensor's WebSocket updates are sent at most this often: its first
    /// change after a quiet spell goes at once, later ones wait for the interval.
    pub coalesce_ms: u64,
    /// Changes are pushed as they arrive, in at most one delta per this interval.
    pub flush_ms: u64,
    /// Messages queued for one WebSocket client before it counts as slow and is disconnected.
    pub client_queue: usize,
    /// Bytes queued for one WebSocket client before it counts as slow.
    pub client_queue_bytes: usize,
    /// Kernel send buffer per client socket (bytes; Linux doubles it): with
    /// `client_queue`, what one client can hold up before it counts as slow.
    pub send_buffer_bytes: u32,
    /// Interval of WebSocket pings; a client silent for three intervals is dropped.
    pub ping_interval_ms: u64,
    /// Hot tier: one point per sensor per this much event time.
    pub hot_resolution_ms: i64,
    /// Hot tier: how much event time of points each sensor keeps.
    pub hot_retention_ms: i64,
    /// Hot tier: memory cap for points over all sensors (oldest points go first).
    pub hot_max_bytes: usize,
    /// History: the longest range the hot tier answers (`resolution=auto|raw`).
    pub hot_max_range_ms: i64,
    /// History: the longest range answered from raw `readings`.
    pub raw_max_range_ms: i64,
    /// History: the most points one response may hold.
    pub max_points: usize,
    /// Anomalies kept in memory for snapshots and `/api/zones/{zone}`.
    pub recent_anomalies: usize,
    /// Hot tier: the most sensors held. Past it, the least recently updated
    /// leave (unregistered ones first); so do sensors whose latest reading
    /// is older than `hot_retention_ms`. PostgreSQL still has them.
    pub hot_max_sensors: usize,
    /// WebSocket clients served at once; past it an upgrade is refused with
    /// 503 and counted in `weir_ws_refused_total`.
    pub max_ws_clients: usize,
    /// The longest silence `POST /api/silences` accepts (ends − starts).
    pub max_silence_ms: i64,
    /// `/health` is `degraded` when records were read and no offsets became
    /// durable for this long.
    pub health_stall_ms: i64,
    /// `/health` is `degraded` when an alert event has waited on a channel
    /// for this long.
    pub health_outbox_ms: i64,
    /// A `weir heartbeat`'s `/health` (`http://host:port/health`), fetched
    /// every 5 s and shown as `heartbeat` in `/health` and the dashboard's
    /// pipeline-health panel; empty: none.
    pub heartbeat_url: String,
    /// Tokens, roles and cross-site checks (`[server.auth]`).
    pub auth: crate::auth::AuthConfig,
    /// HTTPS and WSS (`[server.tls]`: `cert_path`, `key_path`, `reload_ms`).
    pub tls: weir_connectors::tls::TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            coalesce_ms: 250,
            flush_ms: 10,
            client_queue: 256,
            send_buffer_bytes: 262_144,
            client_queue_bytes: 16 << 20,
            ping_interval_ms: 15_000,
            hot_resolution_ms: 10_000,
            hot_retention_ms: 86_400_000,
            hot_max_bytes: 256 << 20,
            hot_max_range_ms: 3_600_000,
            raw_max_range_ms: 7 * 86_400_000,
            max_points: 20_000,
            recent_anomalies: 500,
            hot_max_sensors: 200_000,
            max_ws_clients: 1_000,
            max_silence_ms: 7 * 86_400_000,
            health_stall_ms: 60_000,
            health_outbox_ms: 120_000,
            heartbeat_url: String::new(),
            auth: crate::auth::AuthConfig::default(),
            tls: weir_connectors::tls::TlsConfig::default(),
        }
    }
}
