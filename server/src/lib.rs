//! weir's serving layer: what people read.
//!
//! ```text
//!  timely workers ─ Publisher ─► Hub (hot tier) ─► /ws sessions (snapshot, coalesced updates)
//!                                     │
//!  PostgreSQL ◄──── history, anomalies, dead letters ◄── REST /api/…     /metrics  /health  /
//! ```
//!
//! [`start`] binds the listener (so a taken port is an error, not a panic),
//! spawns the hub task and the warp server on the current tokio runtime, and
//! returns the [`Publisher`] the pipeline feeds.
#![warn(missing_docs)]

pub mod alerts;
pub mod api;
pub mod assets;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod heartbeat;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod monitor;
pub mod openapi;
pub mod params;
pub mod sensors;
pub mod views;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::ServerConfig;
pub use events::{Event, Publisher};
pub use hub::Hub;
pub use metrics::Metrics;
use weir_connectors::kafka::KafkaConfig;
use weir_connectors::postgres::PostgresConfig;

/// A running server.
pub struct Running {
    /// Where it listens.
    pub address: SocketAddr,
    /// What the pipeline sends events to.
    pub publisher: Publisher,
    /// The hot tier.
    pub hub: Arc<Hub>,
}

/// The listening socket. Its send buffer (inherited by accepted sockets on
/// Linux, and fixed: no autotuning) bounds what the kernel holds for one
/// client, so a client that stops reading is noticed within seconds.
fn listen(config: &ServerConfig) -> std::io::Result<tokio::net::TcpListener> {
    let address: SocketAddr = config.listen.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{}` is not ip:port: {e}", config.listen),
        )
    })?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(config.send_buffer_bytes)?;
    socket.bind(address)?;
    socket.listen(1_024)
}

/// An error when `server.listen` is not a loopback address and
/// authentication is disabled: anyone on the network could read and
/// silence everything.
pub fn refuse_open_bind(config: &ServerConfig) -> std::io::Result<()> {
    let loopback = config
        .listen
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if config.auth.enabled || loopback {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "server: refusing to listen on {} with server.auth.enabled = false: \
             without tokens anyone who can reach it may read every zone and silence every alert; \
             enable authentication or listen on a loopback address (127.0.0.1)",
            config.listen
        ),
    ))
}

/// Binds `config.listen` and serves until the runtime shuts down.
pub async fn start(
    config: &ServerConfig,
    postgres: &PostgresConfig,
    kafka: &KafkaConfig,
    metrics: Arc<Metrics>,
) -> std::io::Result<Running> {
    refuse_open_bind(config)?;
    let tls = weir_connectors::tls::Tls::new(&config.tls).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("server.tls: {e}"))
    })?;
    let listener = listen(config).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("server: cannot listen on {}: {e}", config.listen),
        )
    })?;
    let address = listener.local_addr()?;
    let hub = Hub::new(config.clone(), metrics);
    let (publisher, events) = Publisher::channel(4_096);
    tokio::spawn(Arc::clone(&hub).run(events));
    let heartbeat = Arc::new(heartbeat::HeartbeatView::default());
    if !config.heartbeat_url.is_empty() {
        tokio::spawn(heartbeat::follow(
            config.heartbeat_url.clone(),
            Arc::clone(&heartbeat),
        ));
    }
    let context = Arc::new(api::Context {
        heartbeat,
        tokens: Arc::default(),
        scheme: if tls.is_some() { "https" } else { "http" },
        hub: Arc::clone(&hub),
        db: db::Db::new(postgres.clone()),
        brokers: kafka.brokers.clone(),
        control: match alerts::ControlProducer::new(kafka) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "acks and silences unavailable");
                None
            }
        },
    });
    if config.auth.enabled {
        tokio::spawn(auth::web::refresh(Arc::clone(&context)));
    }
    match tls {
        Some(tls) => {
            tokio::spawn(
                tls.clone()
                    .watch(std::time::Duration::from_millis(config.tls.reload_ms)),
            );
            tokio::spawn(weir_connectors::tls::serve_warp(
                listener,
                tls.http1_only(),
                api::routes(context),
            ));
        }
        None => {
            tokio::spawn(warp::serve(api::routes(context)).incoming(listener).run());
        }
    }
    tokio::spawn(monitor::run(
        db::Db::new(postgres.clone()),
        kafka.clone(),
        Arc::clone(hub.metrics()),
    ));
    tracing::info!(%address, tls = config.tls.enabled(), "server listening (dashboard, /api, /ws, /metrics)");
    Ok(Running {
        address,
        publisher,
        hub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_tokens() {
        let config = |listen: &str, enabled: bool| {
            let mut c = ServerConfig {
                listen: listen.into(),
                ..ServerConfig::default()
            };
            c.auth.enabled = enabled;
            c
        };
        assert!(refuse_open_bind(&config("127.0.0.1:8080", false)).is_ok());
        assert!(refuse_open_bind(&config("[::1]:8080", false)).is_ok());
        assert!(refuse_open_bind(&config("0.0.0.0:8080", true)).is_ok());
        let refused = refuse_open_bind(&config("0.0.0.0:8080", false));
        assert!(refused.is_err_and(|e| e.to_string().contains("server.auth.enabled")));
        assert!(refuse_open_bind(&config("10.1.2.3:80", false)).is_err());
    }
}
