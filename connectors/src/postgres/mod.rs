//! PostgreSQL: configuration, the schema and its migrations, the sink.

mod config;
mod schema;
mod sink;
mod writer;

pub use config::PostgresConfig;
pub use schema::{Layout, SchemaStatus, connect, durable_offsets, migrate, status};
pub use sink::{Batch, PgSink, Recovery};
pub use writer::{PgWriter, Waker};
