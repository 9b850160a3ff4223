//! `weir simulate`: the simulator's records, produced to Kafka at a target rate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;
use weir_connectors::kafka::{KafkaProducer, OutgoingRecord};
use weir_dataflow::CONTENT_TYPE_HEADER;
use weir_dataflow::capacity::parse_duration_ms;

use crate::cli::SimulateArgs;
use crate::config::Config;
use crate::simulate::{FormatMix, Generator, REGISTRY_LEAD_MS, SimulatorConfig};
use weir_dataflow::clock::now_ms;

/// Runs the simulator until `--count` readings are delivered or Ctrl-C.
pub async fn run(mut config: Config, args: &SimulateArgs) -> anyhow::Result<()> {
    apply_flags(&mut config.simulator, args)?;
    config
        .simulator
        .validate()
        .map_err(|e| anyhow!("invalid simulator settings: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_on_signal.store(true, Ordering::Relaxed);
        }
    });
    tokio::task::spawn_blocking(move || produce(&config, &stop))
        .await
        .context("simulator thread")?
}

fn apply_flags(sim: &mut SimulatorConfig, args: &SimulateArgs) -> anyhow::Result<()> {
    if let Some(v) = args.sensors {
        sim.sensors = v;
    }
    if let Some(v) = args.zones {
        sim.zones = v;
    }
    if let Some(v) = &args.interval {
        sim.interval_ms = parse_duration_ms(v).context("--interval")?;
    }
    if let Some(v) = &args.rate {
        sim.rate_per_sec = match v.as_str() {
            "realtime" => 0.0,
            "max" => f64::INFINITY,
            number => number.parse().map_err(|_| {
                anyhow!("--rate `{number}`: expected a number, `realtime` or `max`")
            })?,
        };
    }
    if let Some(v) = args.count {
        sim.count = v;
    }
    if let Some(v) = args.seed {
        sim.seed = v;
    }
    if let Some(v) = args.start_ms {
        sim.start_ms = v;
    }
    if let Some(v) = &args.mix {
        sim.mix = FormatMix::parse(v).map_err(|e| anyhow!("--mix: {e}"))?;
    }
    if let Some(v) = args.spike_rate {
        sim.spike_rate = v;
    }
    if let Some(v) = args.stuck_sensors {
        sim.stuck_sensors = v;
    }
    if let Some(v) = &args.abnormal_zone {
        sim.abnormal_zone = v.clone();
    }
    if let Some(v) = args.fault_after_rounds {
        sim.fault_after_rounds = v;
    }
    if let Some(v) = &args.stuck_windows {
        sim.stuck_windows = v.clone();
    }
    if let Some(v) = &args.abnormal_windows {
        sim.abnormal_windows = v.clone();
    }
    if let Some(v) = args.garbage_rate {
        sim.garbage_rate = v;
    }
    if let Some(v) = args.late_rate {
        sim.late_rate = v;
    }
    if args.no_registry {
        sim.publish_registry = false;
    }
    if let Some(v) = &args.muted {
        sim.muted = v.clone();
    }
    if args.state_interval {
        sim.state_interval = true;
    }
    Ok(())
}

fn produce(config: &Config, stop: &AtomicBool) -> anyhow::Result<()> {
    let sim = &config.simulator;
    let kafka = &config.kafka;
    let generator = Generator::new(sim, now_ms()).map_err(|e| anyhow!("simulator: {e}"))?;
    let producer = KafkaProducer::connect(kafka)?;
    let timeout = Duration::from_millis(kafka.request_timeout_ms);
    producer.require_topic(&kafka.readings_topic, timeout)?;
    let json = [(CONTENT_TYPE_HEADER, b"application/json".as_slice())];

    let real_time = sim.rate_per_sec == 0.0;
    let mut registry_records = 0u64;
    if sim.publish_registry {
        producer.require_topic(&kafka.registry_topic, timeout)?;
        for s in &generator.fleet().sensors {
            producer.send(OutgoingRecord {
                topic: &kafka.registry_topic,
                key: s.sensor.sensor_id.as_str().as_bytes(),
                payload: Some(&s.sensor.encode()),
                headers: &json,
                // Faster than real time the readings are stamped in the past:
                // stamp the registry before them, or no reading could see it.
                timestamp_ms: (!real_time).then_some(generator.start_ms() - REGISTRY_LEAD_MS),
            })?;
            registry_records += 1;
        }
        if real_time {
            // A registry change applies to readings read `reference_delay_ms`
            // of record time after it: let that pass before the first reading,
            // or the first round would find no registry.
            producer.finish(&kafka.registry_topic, timeout)?;
            let delay = u64::try_from(config.dataflow.reference_delay_ms).unwrap_or(0);
            std::thread::sleep(Duration::from_millis(delay + 100));
        }
    }

    let rate = if real_time {
        f64::from(sim.sensors) * 1000.0 / sim.interval_ms as f64
    } else {
        sim.rate_per_sec
    };
    info!(
        sensors = sim.sensors,
        zones = sim.zones,
        rate,
        count = sim.count,
        start_ms = generator.start_ms(),
        "simulator started"
    );
    let progress = progress_bar(sim.count);
    let started = Instant::now();
    // Real time from now: a slot is sent when wall time reaches its event
    // time (the registry's wait above is caught up at once), so record time
    // and event time agree as a real sensor's would. From a given start, the
    // first slot goes at once.
    let behind = u64::try_from(now_ms().saturating_sub(generator.start_ms())).unwrap_or(0);
    let paced_from = if real_time && sim.start_ms == 0 {
        started
            .checked_sub(Duration::from_millis(behind))
            .unwrap_or(started)
    } else {
        started
    };
    let mut by_format: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_fault: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sent = 0u64;
    for record in generator {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if rate.is_finite() {
            // Pace to the target rate: record k is due at k / rate seconds;
            // in real time, when its slot comes (muted slots keep their time).
            let due = if real_time {
                Duration::from_millis(u64::try_from(record.due_ms).unwrap_or(0))
            } else {
                Duration::from_secs_f64(sent as f64 / rate)
            };
            if let Some(wait) = due.checked_sub(paced_from.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let headers = [(CONTENT_TYPE_HEADER, record.content_type.as_bytes())];
        producer.send(OutgoingRecord {
            topic: &kafka.readings_topic,
            key: record.key.as_bytes(),
            payload: Some(&record.payload),
            headers: &headers,
            // Real time: the producer stamps the send time. Faster than real
            // time: stamp when the sensor would have sent it, so event time
            // and the clock of record stay consistent.
            timestamp_ms: (!real_time).then_some(record.sent_ms),
        })?;
        sent += 1;
        *by_format.entry(record.format.name()).or_default() += 1;
        *by_fault.entry(record.fault.label()).or_default() += 1;
        if sent.is_multiple_of(500) {
            progress.set_position(sent);
            progress.set_message(format!("delivered {}", producer.delivered()));
        }
    }
    progress.set_position(sent);
    progress.set_message("flushing".to_string());
    let delivered = producer.finish(&kafka.readings_topic, Duration::from_secs(180))?;
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "produced {sent} readings to `{}` and {registry_records} sensors to `{}` in {elapsed:.1}s ({:.0}/s); broker acknowledged {delivered} records",
        kafka.readings_topic,
        kafka.registry_topic,
        sent as f64 / elapsed.max(1e-9),
    );
    println!("formats: {}", summary(&by_format));
    println!("faults: {}", summary(&by_fault));
    Ok(())
}

fn summary(counts: &BTreeMap<&str, u64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn progress_bar(count: u64) -> ProgressBar {
    let bar = if count > 0 {
        ProgressBar::new(count)
    } else {
        ProgressBar::no_length()
    };
    let template = if count > 0 {
        "{spinner} {elapsed_precise} [{bar:30}] {human_pos}/{human_len} readings, {per_sec}, eta {eta} | {msg}"
    } else {
        "{spinner} {elapsed_precise} {human_pos} readings, {per_sec} | {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
