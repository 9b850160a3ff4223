//! `[ingest]` in weir.toml: the gateways (HTTP, MQTT, gRPC), their auth
//! and rate limits, and the disk buffer between them and Kafka.

use serde::{Deserialize, Serialize};

/// `[ingest]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Whether `weir run` starts the gateways (`weir ingest` always does).
    pub enabled: bool,
    /// The HTTP gateway.
    pub http: HttpConfig,
    /// The MQTT bridge.
    pub mqtt: MqttConfig,
    /// The gRPC gateway.
    pub grpc: GrpcConfig,
    /// Who may send.
    pub auth: AuthConfig,
    /// How fast.
    pub rate: RateConfig,
    /// The disk buffer every accepted reading goes through on its way to Kafka.
    pub buffer: BufferConfig,
}

/// `[ingest.http]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve `POST /ingest` and `POST /ingest/batch`.
    pub enabled: bool,
    /// Address to listen on.
    pub listen: String,
    /// Largest request body (after gzip decoding too), bytes.
    pub max_body_bytes: usize,
    /// Most readings in one batch.
    pub max_batch: usize,
    /// A request body must arrive within this long (slow senders get 408).
    pub body_timeout_ms: u64,
    /// TLS (`cert_path`, `key_path`): HTTPS instead of HTTP.
    pub tls: crate::tls::TlsConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:8081".into(),
            max_body_bytes: 1 << 20,
            max_batch: 10_000,
            body_timeout_ms: 10_000,
            tls: crate::tls::TlsConfig::default(),
        }
    }
}

/// `[ingest.mqtt]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Run the bridge.
    pub enabled: bool,
    /// The MQTT broker, `host:port`.
    pub broker: String,
    /// Client id of the persistent session (keep it stable: the broker keeps
    /// QoS 1 messages for it while weir is away).
    pub client_id: String,
    /// Topic filter; its single `+` level is the sensor id.
    pub topic_filter: String,
    /// Keep-alive interval.
    pub keep_alive_secs: u64,
    /// Messages being written to the buffer at once (acknowledged in order).
    pub in_flight: usize,
    /// MQTT username (empty: connect without credentials).
    pub username: String,
    /// MQTT password; keep it out of the file:
    /// `WEIR_INGEST__MQTT__PASSWORD_FILE=/run/secrets/mqtt`.
    pub password: String,
    /// MQTT over TLS (`enabled`, `ca_file`, and `cert_path`/`key_path` for
    /// a broker that asks for a client certificate).
    pub tls: crate::tls::ClientTls,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            broker: "127.0.0.1:1883".into(),
            client_id: "weir-ingest".into(),
            topic_filter: "sensors/+/readings".into(),
            keep_alive_secs: 30,
            in_flight: 100,
            username: String::new(),
            password: String::new(),
            tls: crate::tls::ClientTls::default(),
        }
    }
}

/// `[ingest.grpc]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Serve `weir.ingest.v1.Ingest`.
    pub enabled: bool,
    /// Address to listen on.
    pub listen: String,
    /// TLS (`cert_path`, `key_path`): gRPC over TLS (HTTP/2, ALPN `h2`).
    pub tls: crate::tls::TlsConfig,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: true,
            listen: "127.0.0.1:50051".into(),
            tls: crate::tls::TlsConfig::default(),
        }
    }
}

/// `[ingest.auth]`: per-device bearer tokens (HTTP `Authorization: Bearer`,
/// gRPC `authorization` metadata; MQTT relies on the broker's own auth).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Refuse requests without a known token (401); off = anyone on the listener may send.
    pub required: bool,
    /// Tokens from the configuration.
    pub tokens: Vec<TokenConfig>,
    /// Also accept the tokens of the `ingest_tokens` table (refreshed every `refresh_secs`).
    pub from_postgres: bool,
    /// How often the table is read again.
    pub refresh_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: true,
            tokens: Vec::new(),
            from_postgres: false,
            refresh_secs: 30,
        }
    }
}

/// One device's token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret.
    pub token: String,
    /// The device it identifies (the unit of per-device rate limits).
    pub device: String,
    /// Sensor ids it may send for: exact ids, or prefixes ending in `*`;
    /// empty = any (403 otherwise).
    #[serde(default)]
    pub sensors: Vec<String>,
}

/// `[ingest.rate]`: token buckets, per gateway and per device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig {
    /// Readings a gateway may take at once.
    pub gateway_burst: f64,
    /// Readings per second a gateway takes sustained.
    pub gateway_per_sec: f64,
    /// Readings one device may send at once.
    pub device_burst: f64,
    /// Readings per second one device may send sustained.
    pub device_per_sec: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            gateway_burst: 400_000.0,
            gateway_per_sec: 200_000.0,
            device_burst: 10_000.0,
            device_per_sec: 5_000.0,
        }
    }
}

/// When the buffer syncs to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Before every acknowledgement (group commit: one sync for all the
    /// readings waiting): nothing acknowledged is lost, even to a power cut.
    Always,
    /// Every `fsync_interval_ms`; an acknowledgement follows the write: safe
    /// against a crash of weir, not of the machine.
    Interval,
    /// Never (the OS decides).
    Never,
}

/// `[ingest.buffer]`: append-only segment files with checksums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Directory of the segments (created if missing; one gateway process per directory).
    pub dir: String,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Readings not yet in Kafka may take this much disk; past it the
    /// gateways refuse (HTTP 503 + Retry-After, MQTT stops acknowledging).
    pub max_bytes: u64,
    /// When to sync.
    pub fsync: Fsync,
    /// The interval of `fsync = "interval"`.
    pub fsync_interval_ms: u64,
    /// Records sent to Kafka and not yet acknowledged, at most.
    pub in_flight: usize,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            dir: ".weir/ingest-buffer".into(),
            segment_bytes: 64 << 20,
            max_bytes: 1 << 30,
            fsync: Fsync::Always,
            fsync_interval_ms: 100,
            in_flight: 100_000,
        }
    }
}

impl IngestConfig {
    /// Checks settings, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !self.mqtt.topic_filter.split('/').any(|level| level == "+") {
            return Err(format!(
                "ingest.mqtt.topic_filter `{}`: needs one `+` level (the sensor id)",
                self.mqtt.topic_filter
            ));
        }
        if self
            .mqtt
            .topic_filter
            .split('/')
            .filter(|l| *l == "+")
            .count()
            > 1
            || self.mqtt.topic_filter.contains('#')
        {
            return Err(format!(
                "ingest.mqtt.topic_filter `{}`: exactly one `+` level and no `#`",
                self.mqtt.topic_filter
            ));
        }
        for (name, value) in [
            ("rate.gateway_burst", self.rate.gateway_burst),
            ("rate.gateway_per_sec", self.rate.gateway_per_sec),
            ("rate.device_burst", self.rate.device_burst),
            ("rate.device_per_sec", self.rate.device_per_sec),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("ingest.{name} = {value}: must be > 0"));
            }
        }
        if self.http.max_batch == 0 || self.http.max_body_bytes == 0 {
            return Err("ingest.http.max_batch and max_body_bytes must be > 0".into());
        }
        if self.buffer.segment_bytes < 4_096 || self.buffer.max_bytes < self.buffer.segment_bytes {
            return Err(
                "ingest.buffer: segment_bytes must be >= 4096 and max_bytes >= segment_bytes"
                    .into(),
            );
        }
        if self.auth.required && self.auth.tokens.is_empty() && !self.auth.from_postgres {
            tracing::warn!(
                "ingest.auth.required with no tokens: HTTP and gRPC will refuse every request \
                 (add [[ingest.auth.tokens]] or set required = false)"
            );
        }
        Ok(())
    }
}
