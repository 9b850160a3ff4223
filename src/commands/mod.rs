//! One module per subcommand.

pub mod bench;
pub mod bench_alerts;
pub mod bench_ingest;
mod bench_kit;
pub mod bench_latency;
pub mod bench_ws;
pub mod capacity;
pub mod heartbeat;
pub mod ingest;
pub mod lag;
pub mod migrate;
pub mod run;
pub mod sensors;
pub mod simulate;
pub mod token;
pub mod topics;

/// Applies the migrations (sync client, before any runtime exists), then
/// runs `job` on a current-thread runtime with an async PostgreSQL client:
/// the commands that work on the database directly (`weir token`, `weir sensors`).
pub(crate) fn with_postgres<T>(
    config: &crate::config::Config,
    job: impl AsyncFnOnce(tokio_postgres::Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let mut client = weir_connectors::postgres::connect(&config.postgres)?;
    weir_connectors::postgres::migrate(&mut client, &config.postgres)?;
    drop(client);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = weir_connectors::postgres::connect_async(&config.postgres)
            .await
            .context("connecting to PostgreSQL")?;
        job(client).await
    })
}
