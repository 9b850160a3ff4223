//! Ingest: the gateways that take readings from devices and services (HTTP,
//! MQTT, gRPC) and the disk buffer that carries them to Kafka.
//!
//! ```text
//!  HTTP  POST /ingest, /ingest/batch ─┐  (auth, validation,
//!  gRPC  Ingest.Send / Ingest.Stream ─┼─► rate limits) ─► disk buffer ─► drainer ─► sensor-readings
//!  MQTT  sensors/+/readings (QoS 1) ──┘                    (segments,             (and the DLQ for
//!                                                           group commit)          bad MQTT payloads)
//! ```
//!
//! Every accepted reading is in the disk buffer (synced, per
//! `buffer.fsync`) before the sender hears "accepted" (HTTP 202, a gRPC
//! ack, an MQTT PUBACK); a single drainer sends the buffer to Kafka in
//! order with an idempotent producer that never gives up, so a slow or
//! absent broker only makes the buffer grow, and a full buffer makes the
//! gateways refuse with a retry hint. Nothing accepted is dropped.

pub mod auth;
pub mod buffer;
pub mod config;
pub mod drain;
pub mod gateway;
pub mod grpc;
pub mod http;
pub mod limit;
pub mod metrics;
pub mod mqtt;
pub mod openapi;
pub mod proto;
mod rejection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::{info, warn};

pub use config::IngestConfig;

use crate::ConnectorError;
use crate::kafka::KafkaConfig;
use crate::postgres::PostgresConfig;

/// Running gateways.
pub struct Running {
    /// The HTTP gateway's address.
    pub http: Option<SocketAddr>,
    /// The gRPC gateway's address.
    pub grpc: Option<SocketAddr>,
    /// Prometheus text of the ingest metrics.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    buffer: buffer::Buffer,
    stop: Arc<AtomicBool>,
    drainer: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops taking the drainer further: it sends what it can within 10 s,
    /// the rest stays in the buffer for the next start.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.buffer.close();
        if let Some(drainer) = self.drainer.take() {
            let _ = tokio::task::spawn_blocking(move || drainer.join()).await;
        }
    }
}

async fn bind(
    setting: &'static str,
    address: &str,
) -> Result<tokio::net::TcpListener, ConnectorError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| ConnectorError::InvalidSetting {
            setting,
            reason: format!("cannot listen on {address}: {e}"),
        })
}

/// Starts the buffer, the drainer and the enabled gateways on the current runtime.
pub async fn start(
    config: &IngestConfig,
    kafka: &KafkaConfig,
    postgres: Option<&PostgresConfig>,
) -> Result<Running, ConnectorError> {
    config
        .validate()
        .map_err(|reason| ConnectorError::InvalidSetting {
            setting: "ingest",
            reason,
        })?;
    let buffer =
        buffer::Buffer::open(&config.buffer).map_err(|e| ConnectorError::InvalidSetting {
            setting: "ingest.buffer.dir",
            reason: format!("{}: {e}", config.buffer.dir),
        })?;
    let stats = Arc::new(drain::DrainStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = drain::start(
        &buffer,
        kafka,
        config.buffer.in_flight,
        Arc::clone(&stats),
        Arc::clone(&stop),
    )?;
    let auth = auth::Auth::new(&config.auth);
    if config.auth.from_postgres {
        match postgres {
            Some(pg) => tokio::spawn(refresh_tokens(
                pg.clone(),
                auth.clone(),
                config.auth.refresh_secs,
            )),
            None => {
                return Err(ConnectorError::InvalidSetting {
                    setting: "ingest.auth.from_postgres",
                    reason: "no PostgreSQL configured".into(),
                });
            }
        };
    }
    let ingest_metrics = Arc::new(metrics::IngestMetrics::default());
    let render = {
        let (m, b, s) = (
            Arc::clone(&ingest_metrics),
            buffer.clone(),
            Arc::clone(&stats),
        );
        Arc::new(move || m.render(b.pending(), b.corrupt(), &s))
            as Arc<dyn Fn() -> String + Send + Sync>
    };
    let limits = |_: &str| {
        Arc::new(limit::Limits::new(
            config.rate.gateway_burst,
            config.rate.gateway_per_sec,
            config.rate.device_burst,
            config.rate.device_per_sec,
        ))
    };
    let gateway = |name: &'static str| {
        gateway::Gateway::new(
            name,
            buffer.clone(),
            limits(name),
            Arc::clone(&ingest_metrics),
        )
    };
    let mut http_address = None;
    if config.http.enabled {
        let tls = listener_tls("ingest.http.tls", &config.http.tls)?;
        let listener = bind("ingest.http.listen", &config.http.listen).await?;
        http_address = listener.local_addr().ok();
        http::serve(
            listener,
            Arc::new(http::HttpContext {
                gateway: gateway("http"),
                auth: auth.clone(),
                config: config.http.clone(),
                metrics: Arc::clone(&render),
            }),
            tls,
        );
        info!(address = ?http_address, tls = config.http.tls.enabled(), "http ingest listening (POST /ingest, /ingest/batch)");
    }
    let mut grpc_address = None;
    if config.grpc.enabled {
        let tls = listener_tls("ingest.grpc.tls", &config.grpc.tls)?;
        let listener = bind("ingest.grpc.listen", &config.grpc.listen).await?;
        grpc_address = listener.local_addr().ok();
        grpc::serve(listener, gateway("grpc"), auth.clone(), tls);
        info!(address = ?grpc_address, tls = config.grpc.tls.enabled(), "grpc ingest listening (weir.ingest.v1.Ingest)");
    }
    if config.mqtt.enabled {
        mqtt::start(&config.mqtt, gateway("mqtt")).map_err(|reason| {
            ConnectorError::InvalidSetting {
                setting: "ingest.mqtt",
                reason,
            }
        })?;
    }
    Ok(Running {
        http: http_address,
        grpc: grpc_address,
        metrics: render,
        buffer,
        stop,
        drainer: Some(drainer),
    })
}

/// Reads `ingest_tokens` every `secs` (tokens stored as SHA-256 hex).
async fn refresh_tokens(postgres: PostgresConfig, auth: auth::Auth, secs: u64) {
    let mut logged = false;
    loop {
        match read_tokens(&postgres).await {
            Ok(tokens) => {
                auth.set_stored(&tokens);
                logged = false;
            }
            Err(e) if !logged => {
                warn!(error = %e, "ingest tokens not read from postgres; keeping the last ones");
                logged = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
    }
}

async fn read_tokens(
    postgres: &PostgresConfig,
) -> Result<Vec<config::TokenConfig>, tokio_postgres::Error> {
    let client = crate::postgres::connect_async(postgres).await?;
    let rows = client
        .query(
            "SELECT token_sha256, device, sensors FROM ingest_tokens",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| config::TokenConfig {
            token: r.get(0),
            device: r.get(1),
            sensors: r.get(2),
        })
        .collect())
}

/// A listener's TLS, its reloads watched; `None` when it is off.
fn listener_tls(
    setting: &'static str,
    config: &crate::tls::TlsConfig,
) -> Result<Option<crate::tls::Tls>, crate::ConnectorError> {
    let tls = crate::tls::Tls::new(config).map_err(|e| crate::ConnectorError::InvalidSetting {
        setting,
        reason: e.to_string(),
    })?;
    if let Some(tls) = &tls {
        tokio::spawn(
            tls.clone()
                .watch(std::time::Duration::from_millis(config.reload_ms)),
        );
    }
    Ok(tls)
}
