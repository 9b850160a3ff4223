//! What every handler shares.

use std::sync::Arc;

use crate::db::Db;
use crate::hub::Hub;

/// What handlers share.
pub struct Context {
    /// The hot tier.
    pub hub: Arc<Hub>,
    /// PostgreSQL.
    pub db: Db,
    /// Kafka bootstrap addresses, for `/health`.
    pub brokers: String,
    /// Writes acks and silences to the alert-control topic.
    pub control: Option<crate::alerts::ControlProducer>,
    /// The outside heartbeat's latest `/health` (`server.heartbeat_url`).
    pub heartbeat: Arc<crate::heartbeat::HeartbeatView>,
    /// The API tokens, reloaded from PostgreSQL.
    pub tokens: Arc<crate::auth::Tokens>,
    /// `http` or `https`: what a same-origin page's `Origin` starts with.
    pub scheme: &'static str,
}
