//! The server's PostgreSQL connection (tokio-postgres), opened lazily and
//! reopened after a failure; queries pipeline over it.

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::Client;
use tracing::warn;
use weir_connectors::postgres::PostgresConfig;

use crate::error::ApiError;

/// A lazily (re)connected client.
pub struct Db {
    config: PostgresConfig,
    client: Mutex<Option<Arc<Client>>>,
}

impl Db {
    /// Not connected yet.
    pub fn new(config: PostgresConfig) -> Db {
        Db {
            config,
            client: Mutex::new(None),
        }
    }

    /// A live client, connecting if needed.
    pub async fn client(&self) -> Result<Arc<Client>, ApiError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        if !self.config.schema_is_valid() {
            return Err(ApiError::unavailable(format!(
                "invalid postgres.schema `{}`",
                self.config.schema
            )));
        }
        let (client, connection) = weir_connectors::postgres::tls::tokio_config(&self.config)
            .map_err(|e| ApiError::unavailable(format!("postgres: {e}")))?
            .connect(weir_connectors::postgres::tls::MakeRustls::for_config(
                &self.config,
            ))
            .await
            .map_err(|e| ApiError::unavailable(format!("postgres: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                warn!(error = %e, "server's postgres connection ended");
            }
        });
        client
            .batch_execute(&format!("SET search_path TO {}", self.config.schema))
            .await
            .map_err(|e| ApiError::unavailable(format!("postgres: {e}")))?;
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }
}

/// A query error as an API error.
pub fn query_error(e: tokio_postgres::Error) -> ApiError {
    let detail = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string());
    ApiError::unavailable(format!("postgres: {detail}"))
}
