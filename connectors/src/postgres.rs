//! PostgreSQL connection settings (the sink and schema arrive with the store issue).

use serde::{Deserialize, Serialize};

/// `[postgres]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection URL. `scripts/services.sh` creates this role and database.
    pub url: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: "postgres://weir:weir@127.0.0.1:5432/weir".into(),
        }
    }
}

impl PostgresConfig {
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
        let with = |url: &str| PostgresConfig { url: url.into() }.address();
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
