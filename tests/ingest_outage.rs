//! Kafka outages under HTTP load (issue #7, criterion 4): with the broker
//! stopped, requests keep being accepted into the disk buffer; once it is
//! back, every accepted reading reaches Kafka exactly once, in per-sensor
//! order. With the buffer full, the gateway answers 503 with Retry-After,
//! and nothing that was acknowledged is lost.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::OwnBroker;
use common::ingest::{Error, Ingest, TOKEN, post, reading};
use common::kafka::read_topic;

const T0: i64 = 1_764_000_000_000;
const SENSORS: usize = 8;

/// Sends batches of 100 readings (the sensors in turn, each with rising
/// timestamps) until `stop`; returns the accepted readings (sensor, ts) in
/// order and the statuses seen.
fn load(
    address: String,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<(String, i64)>>>,
    statuses: Arc<Mutex<BTreeMap<u16, usize>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let auth = format!("Bearer {TOKEN}");
        let mut next_ts = [T0; SENSORS];
        let mut turn = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let sensor = turn % SENSORS;
            turn += 1;
            let id = format!("load-{sensor}");
            let batch: Vec<(String, i64)> = (0..100)
                .map(|i| (id.clone(), next_ts[sensor] + i * 1_000))
                .collect();
            let body = format!(
                "[{}]",
                batch
                    .iter()
                    .map(|(s, ts)| reading(s, *ts, 1.0))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ];
            let status = post(&address, "/ingest/batch", &headers, body.as_bytes())
                .map(|(s, _, _)| s)
                .unwrap_or(0);
            if let Ok(mut s) = statuses.lock() {
                *s.entry(status).or_default() += 1;
            }
            if status == 202 {
                next_ts[sensor] += 100 * 1_000;
                if let Ok(mut a) = accepted.lock() {
                    a.extend(batch);
                }
                // About 2,000 readings/s: steady load, short to read back.
                std::thread::sleep(Duration::from_millis(50));
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    })
}

/// Everything accepted is in Kafka once, and each sensor's readings are in order.
fn check_exactly_once(ingest: &Ingest, accepted: &[(String, i64)]) -> Result<(), Error> {
    let records = read_topic(&ingest.brokers, &ingest.readings, 12, accepted.len())?;
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let mut order: BTreeMap<String, Vec<(i32, i64, i64)>> = BTreeMap::new();
    for r in &records {
        let ts =
            weir_dataflow::decode(&r.payload, r.header(weir_dataflow::CONTENT_TYPE_HEADER))?.ts_ms;
        *seen.entry((r.key.clone(), ts)).or_default() += 1;
        order
            .entry(r.key.clone())
            .or_default()
            .push((r.partition, r.offset, ts));
    }
    let duplicates = seen.values().filter(|n| **n > 1).count();
    assert_eq!(duplicates, 0, "readings written twice");
    let missing: Vec<&(String, i64)> = accepted.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted readings missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(
        records.len(),
        accepted.len(),
        "nothing but what was accepted"
    );
    for (sensor, mut rows) in order {
        rows.sort();
        assert!(
            rows.windows(2).all(|w| w[0].0 == w[1].0),
            "{sensor}: one partition"
        );
        assert!(
            rows.windows(2).all(|w| w[0].2 < w[1].2),
            "{sensor}: in order"
        );
    }
    Ok(())
}

fn metric(ingest: &Ingest, name: &str) -> f64 {
    post(&ingest.http, "/metrics", &[], b"")
        .ok()
        .and(common::ingest::curl(&[&format!("http://{}/metrics", ingest.http)]).ok())
        .and_then(|(_, body, _)| {
            body.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

#[test]
fn a_kafka_outage_loses_and_repeats_nothing() -> Result<(), Error> {
    let mut broker = OwnBroker::start("outage-broker")?;
    let mut ingest = Ingest::new(
        "outage",
        Some(&broker.address),
        &[
            ("ingest.mqtt", "enabled = false"),
            ("ingest.grpc", "enabled = false"),
            // This test is about the buffer, not the rate limits.
            ("ingest.rate", "device_burst = 1000000.0"),
            ("ingest.rate", "device_per_sec = 1000000.0"),
        ],
    )?;
    ingest.start()?;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let loader = load(
        ingest.http.clone(),
        Arc::clone(&stop),
        Arc::clone(&accepted),
        Arc::clone(&statuses),
    );
    std::thread::sleep(Duration::from_secs(3));
    let before = accepted.lock().map(|a| a.len()).unwrap_or(0);
    broker.stop();
    std::thread::sleep(Duration::from_secs(8));
    let during = accepted.lock().map(|a| a.len()).unwrap_or(0) - before;
    let buffered = metric(&ingest, "weir_ingest_buffered_records");
    broker.restart()?;
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    loader.join().map_err(|_| "load thread panicked")?;
    let accepted = accepted.lock().map(|a| a.clone()).unwrap_or_default();
    let statuses = statuses.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(before >= 1_000, "load before the outage: {before}");
    assert!(
        during > 1_000,
        "requests kept being accepted while Kafka was down: {during} ({statuses:?})"
    );
    assert!(
        buffered > 0.0,
        "readings waited in the disk buffer during the outage"
    );
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![202],
        "{statuses:?}"
    );
    check_exactly_once(&ingest, &accepted)?;
    assert!(ingest.alive(), "{}", ingest.log_tail());
    ingest.stop()?;
    Ok(())
}

#[test]
fn a_full_buffer_refuses_with_retry_after_and_keeps_what_it_took() -> Result<(), Error> {
    let mut broker = OwnBroker::start("full-broker")?;
    let mut ingest = Ingest::new(
        "full",
        Some(&broker.address),
        &[
            ("ingest.mqtt", "enabled = false"),
            ("ingest.grpc", "enabled = false"),
            ("ingest.buffer", "segment_bytes = 65536"),
            ("ingest.buffer", "max_bytes = 262144"),
        ],
    )?;
    ingest.start()?;
    broker.stop();
    // Kafka is away: the buffer fills, then the gateway refuses.
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut accepted: Vec<(String, i64)> = Vec::new();
    let mut refusal = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ts = T0;
    while refusal.is_none() && Instant::now() < deadline {
        let batch: Vec<(String, i64)> = (0..50)
            .map(|i| ("load-full".to_string(), ts + i * 1_000))
            .collect();
        let body = format!(
            "[{}]",
            batch
                .iter()
                .map(|(s, t)| reading(s, *t, 2.0))
                .collect::<Vec<_>>()
                .join(",")
        );
        let (status, text, head) = post(&ingest.http, "/ingest/batch", &headers, body.as_bytes())?;
        match status {
            202 => {
                accepted.extend(batch);
                ts += 50 * 1_000;
            }
            _ => refusal = Some((status, text, head)),
        }
    }
    let (status, text, head) = refusal.ok_or("the buffer never filled")?;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("buffer_full"), "{text}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert!(
        accepted.len() >= 500,
        "{} accepted before it filled",
        accepted.len()
    );
    // Back: what was acknowledged goes out, and the gateway takes readings again.
    broker.restart()?;
    let again = Instant::now() + Duration::from_secs(90);
    loop {
        let body = format!("[{}]", reading("load-full", ts, 3.0));
        let (status, _, _) = post(&ingest.http, "/ingest/batch", &headers, body.as_bytes())?;
        if status == 202 {
            accepted.push(("load-full".into(), ts));
            break;
        }
        assert!(
            Instant::now() < again,
            "the buffer never drained: {}",
            ingest.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    check_exactly_once(&ingest, &accepted)?;
    ingest.stop()?;
    Ok(())
}
