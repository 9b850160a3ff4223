//! `weir migrate`: apply the PostgreSQL migrations and say what is there.

use weir_connectors::postgres::{connect, migrate, status};

use crate::config::Config;

/// Applies pending migrations (idempotent) and prints the schema's state.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let pg = &config.postgres;
    let mut client = connect(pg)?;
    let layout = migrate(&mut client, pg)?;
    let status = status(&mut client)?;
    let versions: Vec<String> = status.versions.iter().map(i32::to_string).collect();
    println!("schema     {}", pg.schema);
    println!("migrations {}", versions.join(", "));
    println!("readings   {layout:?}");
    if !status.partitions.is_empty() {
        println!("partitions {}", status.partitions.join(", "));
    }
    Ok(())
}
