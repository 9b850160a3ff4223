//! Who may read and change what: API tokens with a role and optional zone
//! scopes, checked on every route but the dashboard's files and the
//! OpenAPI document (and `/metrics`, `/health` when configured open).
//!
//! ```text
//!  request ─► Host known? ─► route ─► token (Bearer or WebSocket protocol) ─► role ≥ route's? ─► Origin same? ─► JSON body?
//!              421            404/405     401 missing, unknown, expired      403                 403            415
//! ```
//!
//! Tokens live in PostgreSQL (`api_tokens`, hashes only, see [`token`]);
//! the server keeps them in memory and reloads them every
//! `server.auth.refresh_ms` and after each change it makes itself, so a
//! token revoked with `weir token revoke` stops working within that time.

pub mod origin;
pub mod store;
pub mod token;
pub mod web;

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;

use crate::error::ApiError;

/// What a token may do. Each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The read API, the WebSocket, (when not open) `/metrics` and `/health`.
    Viewer,
    /// + acknowledge alerts, create and end silences.
    Operator,
    /// + tokens, the audit log, sensors.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Who is asking: a token's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's id (`-` when authentication is disabled).
    pub token_id: String,
    /// The token's name: the `author` of its acknowledgements and silences.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The zones it may see; `None`: every zone.
    pub zones: Option<BTreeSet<String>>,
}

impl Principal {
    /// Whoever asks when authentication is disabled (loopback only).
    pub fn anonymous() -> Principal {
        Principal {
            token_id: "-".into(),
            name: "anonymous".into(),
            role: Role::Admin,
            zones: None,
        }
    }

    /// Whether it may see `zone`.
    pub fn sees(&self, zone: &str) -> bool {
        self.zones.as_ref().is_none_or(|z| z.contains(zone))
    }

    /// Whether it sees every zone.
    pub fn unscoped(&self) -> bool {
        self.zones.is_none()
    }

    /// The zones it asks for, narrowed to the ones it may see: `asked`
    /// `None` means all it may see; a zone outside its scope is a 403.
    pub fn narrow(
        &self,
        asked: Option<BTreeSet<String>>,
    ) -> Result<Option<BTreeSet<String>>, ApiError> {
        match (asked, &self.zones) {
            (asked, None) => Ok(asked),
            (None, Some(mine)) => Ok(Some(mine.clone())),
            (Some(asked), Some(_)) => match asked.iter().find(|z| !self.sees(z)) {
                Some(zone) => Err(self.outside(zone)),
                None => Ok(Some(asked)),
            },
        }
    }

    /// The 403 for a zone outside its scope.
    pub fn outside(&self, zone: &str) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            error: "forbidden_zone",
            detail: format!(
                "zone `{zone}` is outside token `{}`'s zones ({})",
                self.name,
                self.zones
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// A 403 unless it has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        Err(ApiError {
            status: StatusCode::FORBIDDEN,
            error: "forbidden",
            detail: format!(
                "this needs the {} role; token `{}` is {} {}",
                role.name(),
                self.name,
                if self.role == Role::Admin { "an" } else { "a" },
                self.role.name()
            ),
        })
    }
}

/// A stored token, as the server holds it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// SHA-256 hex of the token.
    pub hash: String,
    /// Its identity.
    pub principal: Principal,
    /// When it stops working (epoch ms); `None`: never.
    pub expires_ms: Option<i64>,
}

/// The tokens the server accepts, reloaded from PostgreSQL.
#[derive(Default)]
pub struct Tokens {
    entries: RwLock<Option<HashMap<String, Entry>>>,
}

impl Tokens {
    /// Replaces the tokens (by id).
    pub fn set(&self, entries: HashMap<String, Entry>) {
        if let Ok(mut slot) = self.entries.write() {
            *slot = Some(entries);
        }
    }

    /// Whether they were ever loaded.
    pub fn loaded(&self) -> bool {
        self.entries.read().is_ok_and(|e| e.is_some())
    }

    /// The identity of a presented token at `now_ms`.
    pub fn authenticate(&self, token: Option<&str>, now_ms: i64) -> Result<Principal, ApiError> {
        let Some(token) = token else {
            return Err(unauthorized(
                "send `Authorization: Bearer <token>` (an admin creates one with `weir token create`)",
            ));
        };
        let guard = self
            .entries
            .read()
            .map_err(|_| ApiError::unavailable("token table poisoned"))?;
        let Some(entries) = guard.as_ref() else {
            return Err(ApiError::unavailable(
                "the token table has not been read from PostgreSQL yet",
            ));
        };
        let presented = token::hash(token);
        let entry = token::id_of(token).and_then(|id| entries.get(id));
        // Compare even when no entry matched, so both take the same time.
        let stored = entry.map_or("", |e| e.hash.as_str());
        let equal = token::constant_time_eq(presented.as_bytes(), stored.as_bytes());
        match entry {
            Some(entry) if equal => match entry.expires_ms {
                Some(expires) if expires <= now_ms => Err(unauthorized(format!(
                    "token `{}` expired at {}",
                    entry.principal.token_id,
                    rfc3339(expires)
                ))),
                _ => Ok(entry.principal.clone()),
            },
            _ => Err(unauthorized("unknown or revoked token")),
        }
    }
}

/// Epoch ms as RFC 3339 text (UTC).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A 401.
pub fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        error: "unauthorized",
        detail: detail.into(),
    }
}

/// `[server.auth]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether every route asks for a token. `false` is allowed only on a
    /// loopback `server.listen` (weir refuses to start otherwise).
    pub enabled: bool,
    /// Whether `/metrics` answers without a token.
    pub metrics_open: bool,
    /// Whether `/health` answers without a token.
    pub health_open: bool,
    /// Origins (`scheme://host[:port]`) besides the server's own whose pages
    /// may open the WebSocket and send state-changing requests.
    pub allowed_origins: Vec<String>,
    /// Host names accepted in the `Host` header (IP addresses always are):
    /// a name outside this list is refused, against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// How often the server rereads `api_tokens` (a revoked token stops
    /// working within this time).
    pub refresh_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            metrics_open: true,
            health_open: true,
            allowed_origins: Vec::new(),
            allowed_hosts: vec!["localhost".into()],
            refresh_ms: 2_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(expires_ms: Option<i64>) -> (Tokens, String) {
        let tokens = Tokens::default();
        let token = format!("{}0123456789ab_{}", token::PREFIX, "c".repeat(64));
        let principal = Principal {
            token_id: "0123456789ab".into(),
            name: "ops-1".into(),
            role: Role::Operator,
            zones: Some(["zone-03".to_string()].into()),
        };
        tokens.set(HashMap::from([(
            "0123456789ab".to_string(),
            Entry {
                hash: token::hash(&token),
                principal,
                expires_ms,
            },
        )]));
        (tokens, token)
    }

    #[test]
    fn a_token_is_known_unknown_or_expired() {
        let (tokens, token) = tokens(Some(1_000));
        assert!(tokens.authenticate(Some(&token), 999).is_ok());
        let expired = tokens.authenticate(Some(&token), 1_000).err();
        assert!(expired.is_some_and(|e| e.status == 401 && e.detail.contains("expired")));
        let wrong = token.replace("cccc", "cccd");
        assert!(
            tokens
                .authenticate(Some(&wrong), 0)
                .is_err_and(|e| e.detail.contains("unknown"))
        );
        assert!(tokens.authenticate(Some("demo"), 0).is_err());
        assert!(
            tokens
                .authenticate(None, 0)
                .is_err_and(|e| e.status == 401 && e.detail.contains("Bearer"))
        );
        assert!(
            Tokens::default()
                .authenticate(Some(&token), 0)
                .is_err_and(|e| e.status == 503)
        );
    }

    #[test]
    fn roles_include_the_lower_ones_and_scopes_narrow() -> Result<(), ApiError> {
        let (tokens, token) = tokens(None);
        let ops = tokens.authenticate(Some(&token), 0)?;
        assert!(ops.require(Role::Viewer).is_ok() && ops.require(Role::Operator).is_ok());
        assert!(
            ops.require(Role::Admin)
                .is_err_and(|e| e.status == 403 && e.detail.contains("admin"))
        );
        assert_eq!(ops.narrow(None)?, Some(["zone-03".to_string()].into()));
        let other = Some(["zone-01".to_string()].into());
        assert!(
            ops.narrow(other.clone())
                .is_err_and(|e| e.error == "forbidden_zone")
        );
        assert_eq!(Principal::anonymous().narrow(other.clone())?, other);
        assert!(ops.sees("zone-03") && !ops.sees("zone-01"));
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
        Ok(())
    }
}
