//! `weir lag`: how far the pipeline is behind the readings topic, per
//! partition: the log end, the group offset weir committed to the broker,
//! and the durable offset in PostgreSQL (what a restart resumes from).

use serde::Serialize;
use weir_connectors::kafka::group_lag;
use weir_connectors::postgres::{connect, durable_offsets};

use crate::cli::LagArgs;
use crate::config::Config;

#[derive(Serialize)]
struct Row {
    partition: i32,
    high: i64,
    committed: Option<i64>,
    durable: Option<i64>,
    lag: i64,
}

/// Prints one line per partition (or JSON), then the total lag.
pub fn run(config: &Config, args: &LagArgs) -> anyhow::Result<()> {
    let topic = &config.kafka.readings_topic;
    let broker = group_lag(&config.kafka, topic)?;
    let durable = match connect(&config.postgres).and_then(|mut c| durable_offsets(&mut c, topic)) {
        Ok(offsets) => Some(offsets),
        Err(e) => {
            eprintln!("warning: durable offsets unavailable: {e}");
            None
        }
    };
    let rows: Vec<Row> = broker
        .iter()
        .map(|(p, lag)| {
            let durable = durable.as_ref().and_then(|d| d.get(p).copied());
            Row {
                partition: *p,
                high: lag.high,
                committed: lag.committed,
                durable,
                // PostgreSQL is the truth; the group offset trails it slightly.
                lag: durable.map_or_else(|| lag.lag(), |d| lag.high - d.max(lag.low)),
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    println!("{topic} (group {})", config.kafka.group_id);
    println!(
        "{:>9} {:>12} {:>12} {:>12} {:>10}",
        "partition", "log end", "committed", "durable", "lag"
    );
    for r in &rows {
        println!(
            "{:>9} {:>12} {:>12} {:>12} {:>10}",
            r.partition,
            r.high,
            show(r.committed),
            show(r.durable),
            r.lag
        );
    }
    println!("total lag {}", rows.iter().map(|r| r.lag).sum::<i64>());
    Ok(())
}
