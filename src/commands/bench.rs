//! `weir bench`: measurements that are not tests (no timing is ever asserted).
//!
//! - `dataflow`: the graph without I/O, fed from memory, at each worker count.
//! - `memory`: hours of simulated event time through the graph, sampling the
//!   sensor state's size and the process RSS as event time advances.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::anyhow;
use weir_dataflow::capacity::parse_duration_ms;
use weir_dataflow::harness::{self, Input, Options};
use weir_dataflow::operators::stable_hash;
use weir_dataflow::records::{Origin, RegistryRecord, SourceRecord};
use weir_dataflow::state::Footprint;

use crate::cli::{BenchCommand, DataflowBenchArgs, MemoryBenchArgs};
use crate::config::Config;
use crate::simulate::{Generator, REGISTRY_LEAD_MS, SimulatorConfig};

/// A fixed start so every run generates the same records.
const START_MS: i64 = 1_764_000_000_000;
const PARTITIONS: i32 = 12;

/// Runs a benchmark.
pub fn run(config: &Config, command: &BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Dataflow(args) => dataflow(config, args),
        BenchCommand::Memory(args) => memory(config, args),
        BenchCommand::Ws(args) => super::bench_ws::run(args),
        BenchCommand::Hot(args) => hot(config, args),
        BenchCommand::Latency(args) => super::bench_latency::run(args),
        BenchCommand::Alerts(args) => super::bench_alerts::run(args),
        BenchCommand::Ingest(args) => super::bench_ingest::run(args),
    }
}

/// Simulated records laid out as the broker would hold them.
fn generate(sim: &SimulatorConfig) -> anyhow::Result<Input> {
    let generator = Generator::new(sim, START_MS).map_err(|e| anyhow!("simulator: {e}"))?;
    let registry: Vec<RegistryRecord> = generator
        .fleet()
        .sensors
        .iter()
        .map(|s| RegistryRecord {
            sensor_id: s.sensor.sensor_id.as_str().to_string(),
            sensor: Some(s.sensor.clone()),
            record_ts_ms: START_MS - REGISTRY_LEAD_MS,
            clock_ms: START_MS - REGISTRY_LEAD_MS,
        })
        .collect();
    let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut readings = Vec::with_capacity(usize::try_from(sim.count).unwrap_or(0));
    for record in generator {
        let partition = (stable_hash(record.key.as_bytes()) % PARTITIONS as u64) as i32;
        let offset = offsets.entry(partition).or_insert(0);
        readings.push(SourceRecord {
            origin: Origin {
                partition,
                offset: *offset,
                record_ts_ms: record.sent_ms,
                clock_ms: 0,
            },
            key: record.key.into_bytes(),
            payload: record.payload,
            content_type: Some(record.content_type.to_string()),
            clock_skewed: false,
        });
        *offset += 1;
    }
    readings.sort_by_key(|r| (r.origin.partition, r.origin.offset));
    Ok(Input {
        readings,
        registry,
        control: Vec::new(),
        partitions: PARTITIONS,
    })
}

fn dataflow(config: &Config, args: &DataflowBenchArgs) -> anyhow::Result<()> {
    let sim = SimulatorConfig {
        sensors: args.sensors,
        zones: (args.sensors / 50).max(1),
        interval_ms: 1_000,
        rate_per_sec: f64::INFINITY,
        count: args.events,
        seed: args.seed,
        start_ms: START_MS,
        spike_rate: 0.001,
        ..SimulatorConfig::default()
    };
    let started = Instant::now();
    let input = generate(&sim)?;
    let bytes: usize = input.readings.iter().map(|r| r.payload.len()).sum();
    println!(
        "input: {} readings of {} sensors ({:.0} B/record avg, mix v1/v2/protobuf {}/{}/{}), generated in {:.1}s",
        input.readings.len(),
        args.sensors,
        bytes as f64 / input.readings.len().max(1) as f64,
        sim.mix.v1,
        sim.mix.v2,
        sim.mix.protobuf,
        started.elapsed().as_secs_f64()
    );
    for workers in &args.workers {
        let options = Options {
            batch: args.batch,
            keep: false,
            observe: None,
            alerts: Default::default(),
        };
        let copy = input.clone();
        let started = Instant::now();
        let out = harness::run(
            timely::Config::process(*workers),
            config.dataflow.clone(),
            copy,
            options,
        )
        .map_err(|e| anyhow!("timely: {e}"))?;
        let secs = started.elapsed().as_secs_f64();
        let rate = input.readings.len() as f64 / secs;
        println!(
            "workers={workers} events={} seconds={secs:.2} events_per_sec={rate:.0} output_updates={}",
            input.readings.len(),
            out.updates
        );
    }
    Ok(())
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn memory(config: &Config, args: &MemoryBenchArgs) -> anyhow::Result<()> {
    let interval_ms = parse_duration_ms(&args.interval)?;
    let rounds = args.hours * 3_600_000 / interval_ms.max(1);
    let sim = SimulatorConfig {
        sensors: args.sensors,
        zones: (args.sensors / 50).max(1),
        interval_ms,
        rate_per_sec: f64::INFINITY,
        count: rounds * u64::from(args.sensors),
        seed: 7,
        start_ms: START_MS,
        spike_rate: 0.001,
        late_rate: 0.001,
        ..SimulatorConfig::default()
    };
    let input = generate(&sim)?;
    println!(
        "{} readings: {} sensors, one per {} ms, {} h of event time; state sampled every 15 min of event time",
        input.readings.len(),
        args.sensors,
        interval_ms,
        args.hours
    );
    let samples: Arc<Mutex<BTreeMap<u64, (Footprint, u64)>>> = Arc::default();
    let seen = Arc::clone(&samples);
    let step = 15 * 60_000u64;
    let options = Options {
        batch: 1_000,
        keep: false,
        alerts: Default::default(),
        observe: Some(Arc::new(move |_, time, footprint| {
            let start = u64::try_from(START_MS).unwrap_or(0);
            if time < start {
                return;
            }
            let bucket = (time - start) / step;
            if let Ok(mut samples) = seen.lock() {
                samples.entry(bucket).or_insert((footprint, rss_bytes()));
            }
        })),
    };
    harness::run(
        timely::Config::thread(),
        config.dataflow.clone(),
        input,
        options,
    )
    .map_err(|e| anyhow!("timely: {e}"))?;
    println!("event_time  sensors  samples  samples/sensor  windows  windows/sensor  rss_mib");
    let samples = samples.lock().map_err(|_| anyhow!("sampler poisoned"))?;
    for (bucket, (f, rss)) in samples.iter() {
        let per = |n: usize| n as f64 / f.sensors.max(1) as f64;
        println!(
            "{:>7} min {:>8} {:>8} {:>15.1} {:>8} {:>15.1} {:>8.1}",
            bucket * 15,
            f.sensors,
            f.samples,
            per(f.samples),
            f.windows,
            per(f.windows),
            *rss as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Feeds the hot tier `hours` of points for every sensor and reports what it holds.
fn hot(config: &Config, args: &crate::cli::HotBenchArgs) -> anyhow::Result<()> {
    use weir_server::{Event, Hub, Metrics};
    let before = rss_kb();
    let hub = Hub::new(
        config.server.clone(),
        std::sync::Arc::new(Metrics::default()),
    );
    let rounds = i64::try_from(args.hours).unwrap_or(0) * 3_600_000 / args.interval_ms.max(1);
    let started = Instant::now();
    for round in 0..rounds {
        let ts = START_MS + round * args.interval_ms;
        let events = (0..args.sensors)
            .map(|s| Event::Point {
                sensor_id: format!("s-{s:05}"),
                ts_ms: ts,
                value: f64::from(s) + round as f64 * 0.001,
            })
            .collect();
        hub.apply(events);
        if (round + 1) % (rounds / 8).max(1) == 0 {
            let (points, bytes) = hub.footprint();
            println!(
                "{:>5.1} h: {points} points, {:.1} MB of points, process RSS +{:.1} MB",
                (round + 1) as f64 * args.interval_ms as f64 / 3.6e6,
                bytes as f64 / 1e6,
                rss_kb().saturating_sub(before) as f64 / 1e3
            );
        }
    }
    let (points, bytes) = hub.footprint();
    let grown = rss_kb().saturating_sub(before) * 1_000;
    println!(
        "{} sensors × {} h at {} ms: {points} points held; {:.0} bytes of points and {:.0} bytes of RSS per sensor ({:.1} s)",
        args.sensors,
        args.hours,
        args.interval_ms,
        bytes as f64 / f64::from(args.sensors),
        grown as f64 / f64::from(args.sensors),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
