//! `[postgres]` in weir.toml.

use serde::{Deserialize, Serialize};

/// `[postgres]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection URL. `scripts/services.sh` creates this role and database.
    pub url: String,
    /// Schema holding weir's tables (created if missing).
    pub schema: String,
    /// Days of raw readings kept in PostgreSQL; older daily partitions are
    /// dropped (and older rows of the default partition deleted). Daily
    /// partitions are only created inside the retention.
    pub retention_days: u32,
    /// Days of `anomalies` kept (by event time).
    pub anomalies_retention_days: u32,
    /// Days of `dead_letters` kept (by record time; they hold payloads).
    pub dead_letters_retention_days: u32,
    /// Days resolved alerts, their events and deliveries, and ended
    /// silences are kept (an open alert is kept whatever its age).
    pub alerts_retention_days: u32,
    /// Daily partitions of `readings` created ahead of today.
    pub partitions_ahead_days: u32,
    /// Longest wait between two attempts while PostgreSQL is unavailable.
    pub max_backoff_ms: u64,
    /// How long a completed epoch may wait for more to share its transaction.
    pub batch_linger_ms: u64,
    /// Rows waiting that trigger a transaction at once, whatever the linger.
    pub batch_max_rows: usize,
    /// TLS, as libpq's `sslmode`: `disable`, `require` (encrypted, the
    /// server unverified), `verify-full` (verified against `ssl_root_cert`
    /// and the URL's host). Overrides an `sslmode` in `url`.
    pub sslmode: super::tls::SslMode,
    /// PEM file of the CAs `verify-full` trusts; empty: the system's bundle.
    pub ssl_root_cert: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: "postgres://weir:weir@127.0.0.1:5432/weir".into(),
            schema: "public".into(),
            retention_days: 30,
            anomalies_retention_days: 90,
            dead_letters_retention_days: 30,
            alerts_retention_days: 365,
            partitions_ahead_days: 3,
            max_backoff_ms: 5_000,
            batch_linger_ms: 50,
            batch_max_rows: 50_000,
            sslmode: super::tls::SslMode::Disable,
            ssl_root_cert: String::new(),
        }
    }
}

impl PostgresConfig {
    /// Whether `schema` is a plain identifier (it is spliced into SQL) and
    /// not one PostgreSQL reserves (`pg_…`).
    pub fn schema_is_valid(&self) -> bool {
        !self.schema.is_empty()
            && self.schema.len() <= 63
            && self
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !self.schema.starts_with(|c: char| c.is_ascii_digit())
            && !self.schema.starts_with("pg_")
    }

    /// The `host:port` part of the URL (port 5432 when absent), for reachability checks.
    pub fn address(&self) -> Option<String> {
        let rest = self.url.split_once("://")?.1;
        let authority = rest.split(['/', '?']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        if host_port.is_empty() {
            return None;
        }
        Some(if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_comes_from_the_url() {
        let with = |url: &str| {
            PostgresConfig {
                url: url.into(),
                ..PostgresConfig::default()
            }
            .address()
        };
        assert_eq!(
            PostgresConfig::default().address().as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            with("postgres://db.local/x").as_deref(),
            Some("db.local:5432")
        );
        assert_eq!(
            with("postgresql://u@h:6000?sslmode=disable").as_deref(),
            Some("h:6000")
        );
        assert_eq!(with("not a url"), None);
    }
}
