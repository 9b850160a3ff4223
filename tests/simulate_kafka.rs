//! End to end against the real broker: `weir topics`, `weir simulate`, then
//! an independent consumer reads every record back.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir_dataflow::{CONTENT_TYPE_HEADER, Format, Sensor, decode};

use common::{brokers, run_weir, text, topic_env, unique};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const COUNT: usize = 20_000;
const SENSORS: usize = 150;
/// Tansu's sqlite engine can pause for tens of seconds (../shared/STACK.md).
const IDLE_LIMIT: Duration = Duration::from_secs(60);

struct Record {
    partition: i32,
    key: Vec<u8>,
    payload: Vec<u8>,
    content_type: Option<String>,
    timestamp: Option<i64>,
}

/// Reads `topic` from the beginning of all 12 partitions by assignment (no
/// group) until `expected` records arrived, then a little longer to catch extras.
fn read_all(topic: &str, expected: usize) -> Result<Vec<Record>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader")) // required by librdkafka, never joined
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..12 {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut records = Vec::new();
    let mut last_progress = Instant::now();
    let mut done_at: Option<Instant> = None;
    while last_progress.elapsed() < IDLE_LIMIT {
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let content_type = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == CONTENT_TYPE_HEADER)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        records.push(Record {
            partition: message.partition(),
            key: message.key().unwrap_or_default().to_vec(),
            payload: message.payload().unwrap_or_default().to_vec(),
            content_type,
            timestamp: message.timestamp().to_millis(),
        });
        last_progress = Instant::now();
        if records.len() >= expected && done_at.is_none() {
            done_at = Some(Instant::now());
        }
    }
    Ok(records)
}

#[test]
fn simulated_readings_round_trip_through_the_broker() -> TestResult {
    let prefix = unique("sim");
    let env = topic_env(&prefix);

    let output = run_weir(&["topics"], &env)?;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "weir topics: {stderr}");
    assert_eq!(stdout.matches("created").count(), 5, "{stdout}");
    assert!(stdout.contains("12 partitions"), "{stdout}");
    // Idempotent: a second run finds them all.
    let output = run_weir(&["topics"], &env)?;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "second weir topics: {stderr}");
    assert_eq!(stdout.matches("exists").count(), 5, "{stdout}");

    let count = COUNT.to_string();
    let sensors = SENSORS.to_string();
    let output = run_weir(
        &[
            "simulate",
            "--count",
            &count,
            "--sensors",
            &sensors,
            "--zones",
            "6",
            "--rate",
            "max",
            "--seed",
            "7",
        ],
        &env,
    )?;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "weir simulate: {stderr}");
    assert!(
        stdout.contains(&format!("produced {COUNT} readings")),
        "{stdout}"
    );

    let records = read_all(&format!("{prefix}-readings"), COUNT)?;
    assert_eq!(records.len(), COUNT, "every record read back exactly once");

    let mut formats: HashMap<Format, usize> = HashMap::new();
    let mut partition_of: HashMap<String, HashSet<i32>> = HashMap::new();
    for record in &records {
        let reading = decode(&record.payload, record.content_type.as_deref()).map_err(|e| {
            format!(
                "record in partition {} does not decode: {e}",
                record.partition
            )
        })?;
        assert_eq!(
            record.key,
            reading.sensor_id.as_str().as_bytes(),
            "key = sensor id"
        );
        assert_eq!(
            record.content_type.as_deref(),
            Some(reading.format.content_type()),
            "content-type header names the encoding"
        );
        assert!(
            record.timestamp.is_some_and(|t| t >= reading.ts_ms),
            "record time >= event time"
        );
        *formats.entry(reading.format).or_default() += 1;
        partition_of
            .entry(reading.sensor_id.as_str().to_string())
            .or_default()
            .insert(record.partition);
    }
    for format in Format::ALL {
        assert!(
            formats.get(&format).is_some_and(|n| *n > COUNT / 10),
            "{formats:?}"
        );
    }
    assert_eq!(partition_of.len(), SENSORS, "every sensor produced");
    for (sensor, partitions) in &partition_of {
        assert_eq!(partitions.len(), 1, "{sensor} spread over {partitions:?}");
    }
    let used: HashSet<i32> = partition_of.values().flatten().copied().collect();
    assert!(used.len() > 6, "keys spread over the partitions: {used:?}");

    // The registry: one record per sensor, keyed by id, each a valid Sensor.
    let registry = read_all(&format!("{prefix}-registry"), SENSORS)?;
    assert_eq!(registry.len(), SENSORS);
    for record in &registry {
        let sensor = Sensor::decode(&record.payload).map_err(|e| e.to_string())?;
        assert_eq!(record.key, sensor.sensor_id.as_str().as_bytes());
        assert!(partition_of.contains_key(sensor.sensor_id.as_str()));
    }
    Ok(())
}

#[test]
fn simulate_without_topics_names_the_fix() -> TestResult {
    let env = topic_env(&unique("notopics"));
    let output = run_weir(&["simulate", "--count", "10", "--rate", "max"], &env)?;
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("does not exist") && stderr.contains("weir topics"),
        "{stderr}"
    );
    Ok(())
}
