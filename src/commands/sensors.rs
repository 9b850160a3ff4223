//! `weir sensors`: the sensor registry from the command line. A change is
//! a record on the registry topic, checked as `PUT /api/sensors/{id}`
//! checks it (the dataflow's own decoder), and audited with the actor
//! `cli:<user>`; reads come from the pipeline's mirror (`sensors`) and
//! history (`sensor_versions`) in PostgreSQL.

use std::io::Read;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use weir_dataflow::{Sensor, SensorId, SensorKind, Thresholds, ValidRange};
use weir_server::alerts::ControlProducer;
use weir_server::auth::store;
use weir_server::sensors::csv;
use weir_server::sensors::kinds::Kinds;

use crate::cli::SensorsCommand;
use crate::commands::token::actor;
use crate::config::Config;

/// Runs one `weir sensors` command.
pub fn run(config: &Config, command: &SensorsCommand) -> anyhow::Result<()> {
    super::with_postgres(config, async |client| {
        let client = &client;
        match command {
            SensorsCommand::List { zone, kind } => {
                let rows = client
                    .query(
                        "SELECT sensor_id, kind, zone, unit, location FROM sensors \
                         WHERE NOT removed AND ($1::text IS NULL OR zone = $1) \
                           AND ($2::text IS NULL OR kind = $2) ORDER BY sensor_id",
                        &[zone, kind],
                    )
                    .await
                    .map_err(|e| anyhow!("listing sensors: {}", store::db_detail(&e)))?;
                println!(
                    "{:<24} {:<16} {:<16} {:<8} location",
                    "sensor", "kind", "zone", "unit"
                );
                for r in &rows {
                    let cols: [String; 5] = [r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)];
                    println!(
                        "{:<24} {:<16} {:<16} {:<8} {}",
                        cols[0], cols[1], cols[2], cols[3], cols[4]
                    );
                }
                Ok(())
            }
            SensorsCommand::Export { zone, kind } => {
                let rows = client
                    .query(
                        "SELECT sensor_id, kind, zone, location, unit, warn_low, warn_high, \
                                crit_low, crit_high, valid_min, valid_max, \
                                (extract(epoch FROM valid_from) * 1000)::bigint, expected_interval_ms \
                         FROM sensors WHERE NOT removed AND ($1::text IS NULL OR zone = $1) \
                           AND ($2::text IS NULL OR kind = $2) ORDER BY sensor_id",
                        &[zone, kind],
                    )
                    .await
                    .map_err(|e| anyhow!("reading sensors: {}", store::db_detail(&e)))?;
                let mut out = csv::write_row(&csv::COLUMNS);
                for r in &rows {
                    out.push_str(&csv::sensor_row(&mirrored(r)?));
                }
                print!("{out}");
                Ok(())
            }
            SensorsCommand::Get { id } => {
                let versions = versions(client, id).await?;
                let current = versions.last().cloned();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"current": current, "versions": versions})
                    )?
                );
                Ok(())
            }
            SensorsCommand::Put { id, file } => {
                let body = read_body(file)?;
                let now = weir_dataflow::clock::now_ms();
                let kinds = Kinds::load(client)
                    .await
                    .map_err(|e| anyhow!("reading sensor kinds: {}", store::db_detail(&e)))?;
                let sensor = weir_server::sensors::sensor_from_body(id, &body, now, &kinds)
                    .map_err(|e| anyhow!("{}", e.detail))?;
                let payload = sensor.encode();
                publish(config, id, Some(&payload), now).await?;
                let doc: Value = serde_json::from_slice(&payload)?;
                audit(client, "sensor.put", id, &doc).await;
                println!("{}", serde_json::to_string_pretty(&doc)?);
                Ok(())
            }
            SensorsCommand::Import { file, partial } => {
                let body = read_body(file)?;
                let text = std::str::from_utf8(&body)
                    .map_err(|e| anyhow!("{file}: not UTF-8 text ({e})"))?;
                let now = weir_dataflow::clock::now_ms();
                let kinds = Kinds::load(client)
                    .await
                    .map_err(|e| anyhow!("reading sensor kinds: {}", store::db_detail(&e)))?;
                let (good, bad) = weir_server::sensors::csv::sensors(text, now, &kinds)
                    .map_err(|e| anyhow!("{file}:{}: {}", e.line, e.reason))?;
                for row in &bad {
                    eprintln!(
                        "{file}:{}: {}{}",
                        row.line,
                        row.sensor_id
                            .as_ref()
                            .map_or_else(String::new, |id| format!("sensor `{id}`: ")),
                        row.reason
                    );
                }
                if !bad.is_empty() && !partial {
                    bail!(
                        "{} of {} rows are bad; nothing written (--partial writes the {} good ones)",
                        bad.len(),
                        bad.len() + good.len(),
                        good.len()
                    );
                }
                let producer = ControlProducer::new(&config.kafka).map_err(|e| anyhow!(e))?;
                for (_, sensor) in &good {
                    let id = sensor.sensor_id.as_str();
                    let payload = sensor.encode();
                    producer
                        .send_registry(id, Some(&payload), now)
                        .await
                        .map_err(|e| anyhow!("writing `{id}`: {}", e.detail))?;
                    let doc: Value = serde_json::from_slice(&payload)?;
                    audit(client, "sensor.put", id, &doc).await;
                }
                println!(
                    "imported {} sensors from {file}{}",
                    good.len(),
                    if bad.is_empty() {
                        String::new()
                    } else {
                        format!("; {} bad rows skipped", bad.len())
                    }
                );
                Ok(())
            }
            SensorsCommand::Rm { id } => {
                let known = client
                    .query_opt(
                        "SELECT 1 FROM sensors WHERE sensor_id = $1 AND NOT removed",
                        &[id],
                    )
                    .await
                    .map_err(|e| anyhow!("looking up `{id}`: {}", store::db_detail(&e)))?;
                if known.is_none() {
                    bail!("no sensor `{id}` (see `weir sensors list`)");
                }
                let now = weir_dataflow::clock::now_ms();
                publish(config, id, None, now).await?;
                audit(client, "sensor.delete", id, &json!({"valid_from_ms": now})).await;
                println!("removed {id} from {now} on");
                Ok(())
            }
        }
    })
}

/// A row of the `sensors` mirror (in `export`'s column order) as the
/// sensor it mirrors.
fn mirrored(r: &tokio_postgres::Row) -> anyhow::Result<Sensor> {
    let id: String = r.get(0);
    let kind: String = r.get(1);
    Ok(Sensor {
        sensor_id: SensorId::new(id.clone()).map_err(|e| anyhow!("sensor `{id}`: {e}"))?,
        kind: SensorKind::new(&kind).map_err(|e| anyhow!("sensor `{id}`: {e}"))?,
        zone: r.get(2),
        location: r.get(3),
        unit: r.get(4),
        thresholds: Thresholds {
            warn_low: r.get(5),
            warn_high: r.get(6),
            crit_low: r.get(7),
            crit_high: r.get(8),
        },
        valid_range: ValidRange::new(r.get(9), r.get(10)),
        valid_from_ms: r.get(11),
        expected_interval_ms: r.get(12),
    })
}

/// The JSON of `file` (`-`: standard input).
fn read_body(file: &str) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut body)
            .context("reading standard input")?;
    } else {
        body = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    }
    Ok(body)
}

/// Writes one registry record (`None`: a tombstone) and waits for the broker.
async fn publish(
    config: &Config,
    id: &str,
    payload: Option<&[u8]>,
    ts_ms: i64,
) -> anyhow::Result<()> {
    let producer = ControlProducer::new(&config.kafka).map_err(|e| anyhow!(e))?;
    producer
        .send_registry(id, payload, ts_ms)
        .await
        .map_err(|e| anyhow!("writing to {}: {}", config.kafka.registry_topic, e.detail))
}

/// An audit record; a failure is reported, the change stands.
async fn audit(client: &tokio_postgres::Client, action: &str, target: &str, detail: &Value) {
    if let Err(e) = store::audit(client, &actor(), action, target, detail).await {
        eprintln!(
            "warning: audit record not written: {}",
            store::db_detail(&e)
        );
    }
}

/// Every stored version of `id`, oldest first.
async fn versions(client: &tokio_postgres::Client, id: &str) -> anyhow::Result<Vec<Value>> {
    let versions = weir_server::sensors::versions_of(client, id, None)
        .await
        .map_err(|e| anyhow!("reading versions of `{id}`: {}", store::db_detail(&e)))?;
    if versions.is_empty() {
        bail!("no sensor `{id}` (see `weir sensors list`)");
    }
    Ok(versions)
}
