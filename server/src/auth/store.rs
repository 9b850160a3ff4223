//! `api_tokens` and `audit_log` in PostgreSQL. A change and its audit
//! record are one statement, so neither is ever written without the other.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value, json};
use tokio_postgres::Client;

use super::{Entry, Principal, Role, token};

/// A token as listed (never its secret or hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its id (the `weir_<id>_…` part).
    pub token_id: String,
    /// Its name: the author of what it does.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its zones; `None`: all.
    pub zones: Option<Vec<String>>,
    /// When it was created (epoch ms).
    pub created_ms: i64,
    /// Who created it.
    pub created_by: String,
    /// When it expires (epoch ms); `None`: never.
    pub expires_ms: Option<i64>,
    /// When it was revoked (epoch ms).
    pub revoked_ms: Option<i64>,
}

/// A token to create.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Its name (1–64 of `A-Za-z0-9._@-`).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its zones; `None`: all.
    pub zones: Option<BTreeSet<String>>,
    /// When it expires (epoch ms); `None`: never.
    pub expires_ms: Option<i64>,
}

/// The longest token name.
pub const MAX_TOKEN_NAME: usize = 64;

/// Why a token name is not one (`None`: it is).
pub fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_TOKEN_NAME {
        return Some(format!("1 to {MAX_TOKEN_NAME} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
    {
        return Some("only letters, digits and . _ @ -".into());
    }
    None
}

const INFO_COLUMNS: &str = "token_id, name, role, zones, \
     (extract(epoch FROM created_at) * 1000)::bigint, created_by, \
     (extract(epoch FROM expires_at) * 1000)::bigint, \
     (extract(epoch FROM revoked_at) * 1000)::bigint";

fn info(row: &tokio_postgres::Row) -> TokenInfo {
    TokenInfo {
        token_id: row.get(0),
        name: row.get(1),
        role: Role::parse(row.get(2)).unwrap_or(Role::Viewer),
        zones: row.get(3),
        created_ms: row.get(4),
        created_by: row.get(5),
        expires_ms: row.get(6),
        revoked_ms: row.get(7),
    }
}

/// The tokens that are not revoked, by id, for [`super::Tokens::set`].
pub async fn load(client: &Client) -> Result<HashMap<String, Entry>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT token_id, name, role, zones, token_sha256, \
             (extract(epoch FROM expires_at) * 1000)::bigint \
             FROM api_tokens WHERE revoked_at IS NULL",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let token_id: String = r.get(0);
            let principal = Principal {
                token_id: token_id.clone(),
                name: r.get(1),
                role: Role::parse(r.get(2))?,
                zones: r
                    .get::<_, Option<Vec<String>>>(3)
                    .map(|z| z.into_iter().collect()),
            };
            Some((
                token_id,
                Entry {
                    hash: r.get(4),
                    principal,
                    expires_ms: r.get(5),
                },
            ))
        })
        .collect())
}

/// Every token, newest first (revoked ones too when `all`).
pub async fn list(client: &Client, all: bool) -> Result<Vec<TokenInfo>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {INFO_COLUMNS} FROM api_tokens WHERE $1 OR revoked_at IS NULL \
                 ORDER BY created_at DESC, token_id"
            ),
            &[&all],
        )
        .await?;
    Ok(rows.iter().map(info).collect())
}

/// Why a token could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// An active token has this name.
    NameTaken(String),
    /// PostgreSQL failed.
    Db(tokio_postgres::Error),
    /// No randomness.
    Random(std::io::Error),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::NameTaken(name) => write!(
                f,
                "a token named `{name}` exists: revoke it first or choose another name"
            ),
            CreateError::Db(e) => write!(f, "postgres: {}", db_detail(e)),
            CreateError::Random(e) => write!(f, "{e}"),
        }
    }
}

/// A database error's own message.
pub fn db_detail(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

/// Creates a token (and its audit record): its description and the token
/// itself, which is shown this once and never stored.
pub async fn create(
    client: &Client,
    new: &NewToken,
    actor: &Principal,
) -> Result<(TokenInfo, String), CreateError> {
    let (id, secret) = token::generate().map_err(CreateError::Random)?;
    let zones: Option<Vec<String>> = new.zones.as_ref().map(|z| z.iter().cloned().collect());
    let detail =
        json!({"name": new.name, "role": new.role, "zones": zones, "expires_ms": new.expires_ms});
    let row = client
        .query_one(
            &format!(
                "WITH t AS (INSERT INTO api_tokens (token_id, name, role, zones, token_sha256, created_by, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000)) RETURNING *), \
                 a AS (INSERT INTO audit_log (actor, token_id, role, action, target, detail) \
                 SELECT $6, $8, $9, 'token.create', $1, $10::text::jsonb FROM t) \
                 SELECT {INFO_COLUMNS} FROM t"
            ),
            &[
                &id,
                &new.name,
                &new.role.name(),
                &zones,
                &token::hash(&secret),
                &actor.name,
                &new.expires_ms.map(|ms| ms as f64),
                &actor.token_id,
                &actor.role.name(),
                &detail.to_string(),
            ],
        )
        .await
        .map_err(|e| {
            if e.as_db_error()
                .is_some_and(|d| d.constraint() == Some("api_tokens_active_name"))
            {
                CreateError::NameTaken(new.name.clone())
            } else {
                CreateError::Db(e)
            }
        })?;
    Ok((info(&row), secret))
}

/// Revokes a token (and audits it); `None` when no active token has this id.
pub async fn revoke(
    client: &Client,
    id: &str,
    actor: &Principal,
) -> Result<Option<TokenInfo>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "WITH t AS (UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 \
                 WHERE token_id = $1 AND revoked_at IS NULL RETURNING *), \
                 a AS (INSERT INTO audit_log (actor, token_id, role, action, target, detail) \
                 SELECT $2, $3, $4, 'token.revoke', t.token_id, json_build_object('name', t.name)::jsonb FROM t) \
                 SELECT {INFO_COLUMNS} FROM t"
            ),
            &[&id, &actor.name, &actor.token_id, &actor.role.name()],
        )
        .await?;
    Ok(row.as_ref().map(info))
}

/// Appends one audit record.
pub async fn audit(
    client: &Client,
    actor: &Principal,
    action: &str,
    target: &str,
    detail: &Value,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit_log (actor, token_id, role, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
            &[
                &actor.name,
                &actor.token_id,
                &actor.role.name(),
                &action,
                &target,
                &detail.to_string(),
            ],
        )
        .await?;
    Ok(())
}

/// Audit records, newest first: since `since_ms`, of `actor` and `action` when given.
pub async fn audit_log(
    client: &Client,
    since_ms: i64,
    actor: Option<&str>,
    action: Option<&str>,
    limit: i64,
) -> Result<Value, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT audit_id, (extract(epoch FROM time) * 1000)::bigint, actor, token_id, role, \
             action, target, detail::text FROM audit_log \
             WHERE time >= to_timestamp($1::float8 / 1000) AND ($2::text IS NULL OR actor = $2) \
             AND ($3::text IS NULL OR action = $3) ORDER BY audit_id DESC LIMIT $4",
            &[&(since_ms as f64), &actor, &action, &limit],
        )
        .await?;
    Ok(Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.get::<_, i64>(0), "ts": r.get::<_, i64>(1), "actor": r.get::<_, String>(2),
                    "token_id": r.get::<_, String>(3), "role": r.get::<_, String>(4),
                    "action": r.get::<_, String>(5), "target": r.get::<_, String>(6),
                    "detail": serde_json::from_str::<Value>(r.get::<_, &str>(7)).unwrap_or(Value::Null),
                })
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_words() {
        assert_eq!(bad_name("ops.alice@site-2"), None);
        assert!(bad_name("").is_some());
        assert!(bad_name(&"a".repeat(65)).is_some());
        assert!(bad_name("al ice").is_some());
        assert!(bad_name("a\0").is_some());
    }
}
