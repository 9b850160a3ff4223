//! Who may send: per-device bearer tokens from the configuration and,
//! optionally, the `ingest_tokens` table (refreshed periodically).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::config::{AuthConfig, TokenConfig};

/// A known device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name (the unit of per-device rate limits).
    pub name: String,
    /// Sensor ids it may send for: exact, or prefixes ending in `*`; empty = any.
    pub sensors: Vec<String>,
}

/// The rate-limit key of a sender: its device, or its address without auth.
pub fn rate_key(device: Option<&Device>, remote: Option<std::net::SocketAddr>) -> String {
    match (device, remote) {
        (Some(d), _) => format!("device:{}", d.name),
        (None, Some(addr)) => format!("addr:{}", addr.ip()),
        (None, None) => "anonymous".into(),
    }
}

impl Device {
    /// Whether it may send readings of `sensor`.
    pub fn allows(&self, sensor: &str) -> bool {
        self.sensors.is_empty()
            || self.sensors.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => sensor.starts_with(prefix),
                None => p == sensor,
            })
    }
}

/// Why a request is refused before its readings are looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `Bearer` token (401).
    Missing,
    /// A token nobody issued (401).
    Unknown,
}

/// The token table.
#[derive(Clone, Default)]
pub struct Auth {
    required: bool,
    configured: Arc<HashMap<String, Device>>,
    stored: Arc<RwLock<HashMap<String, Device>>>,
}

fn table(tokens: &[TokenConfig]) -> HashMap<String, Device> {
    tokens
        .iter()
        .map(|t| {
            (
                t.token.clone(),
                Device {
                    name: t.device.clone(),
                    sensors: t.sensors.clone(),
                },
            )
        })
        .collect()
}

impl Auth {
    /// From `[ingest.auth]`.
    pub fn new(config: &AuthConfig) -> Auth {
        Auth {
            required: config.required,
            configured: Arc::new(table(&config.tokens)),
            stored: Arc::default(),
        }
    }

    /// Replaces the tokens read from PostgreSQL (their `token` is the SHA-256 hex of the secret).
    pub fn set_stored(&self, tokens: &[TokenConfig]) {
        if let Ok(mut stored) = self.stored.write() {
            *stored = table(tokens);
        }
    }

    /// The device of an `Authorization` header value (`Bearer <token>`).
    /// Without auth required, an absent token is the anonymous device;
    /// a token that is given must still be valid.
    pub fn device(&self, authorization: Option<&str>) -> Result<Option<Device>, AuthError> {
        let Some(token) = bearer(authorization) else {
            return if self.required {
                Err(AuthError::Missing)
            } else {
                Ok(None)
            };
        };
        if let Some(device) = self.configured.get(token) {
            return Ok(Some(device.clone()));
        }
        let hashed = sha256_hex(token);
        self.stored
            .read()
            .ok()
            .and_then(|s| s.get(&hashed).cloned())
            .map(Some)
            .ok_or(AuthError::Unknown)
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization
        .map(str::trim)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The SHA-256 of a token, lowercase hex (how `ingest_tokens` stores them).
pub fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_devices_and_their_sensors() {
        let auth = Auth::new(&AuthConfig {
            required: true,
            tokens: vec![TokenConfig {
                token: "s3cret".into(),
                device: "gw-1".into(),
                sensors: vec!["tmp-*".into(), "co-7".into()],
            }],
            ..AuthConfig::default()
        });
        assert_eq!(auth.device(None), Err(AuthError::Missing));
        assert_eq!(auth.device(Some("Basic abc")), Err(AuthError::Missing));
        assert_eq!(auth.device(Some("Bearer nope")), Err(AuthError::Unknown));
        let device = auth.device(Some("Bearer s3cret")).ok().flatten();
        assert_eq!(device.as_ref().map(|d| d.name.as_str()), Some("gw-1"));
        let device = device.unwrap_or(Device {
            name: String::new(),
            sensors: vec!["-".into()],
        });
        assert!(device.allows("tmp-00001") && device.allows("co-7"));
        assert!(!device.allows("co-8") && !device.allows("xtmp-1"));
        auth.set_stored(&[TokenConfig {
            token: sha256_hex("db-token"),
            device: "gw-2".into(),
            sensors: vec![],
        }]);
        assert!(
            auth.device(Some("Bearer db-token"))
                .is_ok_and(|d| d.is_some_and(|d| d.allows("any")))
        );
        let open = Auth::new(&AuthConfig {
            required: false,
            ..AuthConfig::default()
        });
        assert_eq!(open.device(None), Ok(None));
        assert_eq!(open.device(Some("Bearer x")), Err(AuthError::Unknown));
    }
}
