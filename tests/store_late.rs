//! Late data through the store (issue #4, criterion 4): a reading within the
//! lateness bound updates its `sensor_5m` and `sensor_1h` rows; one beyond it
//! is stored in `readings` (flagged) and dead-lettered as `too_late`, and
//! changes no window. The late records arrive after a first run finished, so
//! the second run also proves a restart rebuilds the state it needs.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weir::simulate::{Generator, SimulatorConfig};
use weir_connectors::kafka::{KafkaConfig, KafkaProducer, OutgoingRecord};
use weir_dataflow::{CONTENT_TYPE_HEADER, Format, Reading, SensorId, encode};

use common::store::{Error, Fixture, finish, start_ms};

const INTERVAL_MS: i64 = 5_000;
const COUNT: u64 = 1_000; // one sensor: 5,000 s of event time
/// Values a temperature sensor may report, unlike any the simulator sends.
const WITHIN_VALUE: f64 = 99.5;
const BEYOND_VALUE: f64 = 98.25;

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// (count, sum) of a window row, if present.
fn window(
    db: &mut postgres::Client,
    table: &str,
    id: &str,
    bucket_ms: i64,
) -> Result<Option<(i64, f64)>, Error> {
    Ok(db
        .query_opt(
            &format!("SELECT count, sum FROM {table} WHERE sensor_id = $1 AND bucket = $2"),
            &[&id, &at(bucket_ms)],
        )?
        .map(|row| (row.get(0), row.get(1))))
}

#[test]
fn late_readings_update_their_windows_and_too_late_ones_are_dead_lettered() -> Result<(), Error> {
    let fixture = Fixture::new("late")?;
    let start = start_ms();
    let sim = SimulatorConfig {
        sensors: 1,
        zones: 1,
        interval_ms: INTERVAL_MS as u64,
        count: COUNT,
        rate_per_sec: f64::INFINITY,
        seed: 3,
        start_ms: start,
        ..SimulatorConfig::default()
    };
    fixture.simulate(&sim)?;
    let id = Generator::new(&sim, 0)?.fleet().sensors[0]
        .sensor
        .sensor_id
        .as_str()
        .to_string();
    let mut first = fixture.spawn_run("first", &["-w", "1"])?;
    finish(&fixture, &mut first, "first", Duration::from_secs(300))?;

    // The sensor's watermark is now START + 4,995 s; the lateness bound is 1 h.
    let within_ms = start + 4_002_500; // 992.5 s behind: within the bound
    let beyond_ms = start + 102_500; // 4,892.5 s behind: beyond it
    let bucket_5m = |ms: i64| ms - ms.rem_euclid(300_000);
    let bucket_1h = |ms: i64| ms - ms.rem_euclid(3_600_000);
    let mut db = fixture.db()?;
    let w5 = window(&mut db, "sensor_5m", &id, bucket_5m(within_ms))?.ok_or("no 5m row before")?;
    let h1 = window(&mut db, "sensor_1h", &id, bucket_1h(within_ms))?.ok_or("no 1h row before")?;
    let old5 = window(&mut db, "sensor_5m", &id, bucket_5m(beyond_ms))?.ok_or("no old 5m row")?;
    let stored: i64 = db.query_one("SELECT count(*) FROM readings", &[])?.get(0);
    assert_eq!(stored, COUNT as i64);

    // Two late records, each stamped with its own event time (a device that
    // buffered them), produced the way any Kafka client would.
    let kafka = KafkaConfig {
        brokers: fixture.broker.address.clone(),
        ..KafkaConfig::default()
    };
    let topic = fixture
        .env
        .iter()
        .find(|(k, _)| k == "WEIR_KAFKA__READINGS_TOPIC")
        .map(|(_, v)| v.clone())
        .ok_or("no readings topic")?;
    let producer = KafkaProducer::connect(&kafka)?;
    for (ts, value) in [(within_ms, WITHIN_VALUE), (beyond_ms, BEYOND_VALUE)] {
        let reading = Reading::new(SensorId::new(&id)?, ts, value, Format::JsonV1);
        let payload = encode(&reading);
        producer.send(OutgoingRecord {
            topic: &topic,
            key: id.as_bytes(),
            payload: Some(&payload),
            headers: &[(
                CONTENT_TYPE_HEADER,
                Format::JsonV1.content_type().as_bytes(),
            )],
            timestamp_ms: Some(ts),
        })?;
    }
    assert_eq!(producer.finish(&topic, Duration::from_secs(60))?, 2);

    let mut second = fixture.spawn_run("second", &["-w", "1"])?;
    finish(&fixture, &mut second, "second", Duration::from_secs(300))?;

    let (count, sum) =
        window(&mut db, "sensor_5m", &id, bucket_5m(within_ms))?.ok_or("5m row gone")?;
    assert_eq!(count, w5.0 + 1, "the late reading joined its 5 min window");
    assert!(
        (sum - (w5.1 + WITHIN_VALUE)).abs() < 1e-6,
        "5m sum {sum} vs {}",
        w5.1 + WITHIN_VALUE
    );
    let (count, sum) =
        window(&mut db, "sensor_1h", &id, bucket_1h(within_ms))?.ok_or("1h row gone")?;
    assert_eq!(count, h1.0 + 1, "the late reading joined its 1 h window");
    assert!((sum - (h1.1 + WITHIN_VALUE)).abs() < 1e-6);
    assert_eq!(
        window(&mut db, "sensor_5m", &id, bucket_5m(beyond_ms))?,
        Some(old5),
        "a too-late reading changes no window"
    );

    let row = db.query_one(
        "SELECT value, flags FROM readings WHERE sensor_id = $1 AND time = $2",
        &[&id, &at(beyond_ms)],
    )?;
    assert_eq!(
        row.get::<_, f64>(0),
        BEYOND_VALUE,
        "the too-late reading is stored"
    );
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["too_late".to_string()]);
    let row = db.query_one(
        "SELECT value, flags FROM readings WHERE sensor_id = $1 AND time = $2",
        &[&id, &at(within_ms)],
    )?;
    assert_eq!(row.get::<_, f64>(0), WITHIN_VALUE);
    assert!(
        row.get::<_, Vec<String>>(1).is_empty(),
        "a late reading within the bound is not flagged"
    );
    let letters = db.query(
        "SELECT reason, key, payload FROM dead_letters WHERE reason = 'too_late'",
        &[],
    )?;
    assert_eq!(
        letters.len(),
        1,
        "exactly the too-late reading is dead-lettered"
    );
    assert_eq!(letters[0].get::<_, String>(1), id);
    let payload: Vec<u8> = letters[0].get(2);
    assert!(
        String::from_utf8_lossy(&payload).contains("98.25"),
        "the raw payload is kept"
    );
    let stored: i64 = db.query_one("SELECT count(*) FROM readings", &[])?.get(0);
    assert_eq!(stored, COUNT as i64 + 2);

    // Lag: the durable offsets reach the log end, and the group offsets
    // committed to the broker (for monitoring) agree with them.
    let output = common::run_weir(&["lag", "--json"], &fixture.env)?;
    assert!(output.status.success(), "{:?}", common::text(&output));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)?;
    assert_eq!(rows.len(), 12);
    let mut total = 0;
    for row in &rows {
        assert_eq!(row["lag"], 0, "{row}");
        if row["high"] == 0 {
            // Never read from: no durable offset, nothing to lag.
            assert!(row["durable"].is_null() || row["durable"] == 0, "{row}");
        } else {
            assert_eq!(row["durable"], row["high"], "{row}");
            assert_eq!(
                row["committed"], row["high"],
                "group offset committed: {row}"
            );
        }
        total += row["high"].as_i64().unwrap_or(0);
    }
    assert_eq!(total, COUNT as i64 + 2);
    Ok(())
}
