//! PostgreSQL: configuration, the schema and its migrations, the sink and
//! its operator (`render`).

mod alerts;
mod config;
mod errors;
mod quarantine;
mod recovery;
mod render;
mod schema;
mod sink;
pub mod tls;
mod writer;

pub use alerts::NOTIFY_CHANNEL;
pub use config::PostgresConfig;
pub use recovery::{Recovery, Resume, resume};
pub use render::{StoreHandles, StorePart, Writer, store, store_all};
pub use schema::{Layout, SchemaStatus, connect, connect_async, durable_offsets, migrate, status};
pub use sink::{Batch, PgSink};
pub use writer::{PgWriter, Waker};
