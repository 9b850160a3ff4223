//! Bounded resources (issue #14, item 11), against the real broker and
//! PostgreSQL:
//!
//! - readings on 1,000 distinct days create no more daily partitions than
//!   the retention allows, and rows, anomalies, dead letters and resolved
//!   alerts past their retention are deleted by the upkeep;
//! - sensors that fell silent leave the dataflow's state, and the hot tier
//!   holds at most `server.hot_max_sensors`, while 20,000 distinct sensor
//!   ids stream through.

mod common;

use std::time::{Duration, Instant};

use common::kafka::Outside;
use common::store::{Error, Fixture, finish, interrupt, metric, wait_for_value};
use common::webhook::free_port;

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

fn json(sensor: &str, ts: i64, value: f64) -> Vec<u8> {
    format!(r#"{{"sensorId":"{sensor}","timestamp":{ts},"value":{value}}}"#).into_bytes()
}

#[test]
fn a_thousand_days_of_readings_stay_within_the_retention() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("days")?;
    let (readings, registry) = (fixture.topic("readings"), fixture.topic("registry"));
    let producer = Outside::new(&fixture.broker.address)?;
    let now = now_ms();
    // A registered sensor with a threshold, in force for three years.
    let sensor = format!(
        r#"{{"sensor_id":"tmp-old","kind":"temperature","zone":"z","thresholds":{{"crit_high":50}},"valid_from_ms":{}}}"#,
        now - 1_100 * DAY
    );
    producer.send(
        &registry,
        b"tmp-old",
        Some(sensor.as_bytes()),
        Some(now - 60_000),
    )?;
    producer.flush()?;
    std::thread::sleep(Duration::from_millis(1_500));
    // A store-and-forward logger uploads 1,000 days today, oldest first:
    // one reading a day, every tenth day above the threshold (alerts that
    // fire and resolve), and a dead letter stamped 40 days ago.
    for i in (0..1_000).rev() {
        let ts = now - i * DAY;
        let value = if i % 10 == 0 { 90.0 } else { 20.0 };
        producer.send(
            &readings,
            b"tmp-old",
            Some(&json("tmp-old", ts, value)),
            None,
        )?;
    }
    producer.send(
        &readings,
        b"tmp-old",
        Some(b"{broken"),
        Some(now - 40 * DAY),
    )?;
    producer.flush()?;
    let mut run = fixture.spawn_run("run", &[])?;
    finish(&fixture, &mut run, "run", Duration::from_secs(180))?;
    let mut db = fixture.db()?;
    let count = |db: &mut postgres::Client, sql: &str| -> Result<i64, Error> {
        Ok(db.query_one(sql, &[])?.get(0))
    };
    let partitions = count(
        &mut db,
        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
         WHERE p.relname = 'readings' AND p.relnamespace = current_schema()::regnamespace",
    )?;
    // Retention (30 days) + yesterday and today + 3 ahead + the default.
    assert!(
        partitions <= 30 + 2 + 3 + 1,
        "{partitions} partitions of readings"
    );
    assert!(
        count(
            &mut db,
            "SELECT count(*) FROM anomalies WHERE time < now() - interval '90 days'"
        )? > 0
    );
    assert!(
        count(
            &mut db,
            "SELECT count(*) FROM alerts WHERE resolved_at < now() - interval '365 days'"
        )? > 0
    );
    // The upkeep (at every start, hourly after) applies every retention.
    let output = common::run_weir(&["migrate"], &fixture.env)?;
    assert!(output.status.success(), "{:?}", common::text(&output));
    for (sql, what) in [
        (
            "SELECT count(*) FROM readings WHERE time < now() - interval '31 days'",
            "readings",
        ),
        (
            "SELECT count(*) FROM anomalies WHERE time < now() - interval '91 days'",
            "anomalies",
        ),
        (
            "SELECT count(*) FROM dead_letters WHERE record_time < now() - interval '31 days'",
            "dead letters",
        ),
        (
            "SELECT count(*) FROM alerts WHERE resolved_at < now() - interval '366 days'",
            "alerts",
        ),
        (
            "SELECT count(*) FROM alert_events e WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = e.alert_id)",
            "orphan alert events",
        ),
    ] {
        assert_eq!(count(&mut db, sql)?, 0, "{what} past their retention");
    }
    assert!(
        count(&mut db, "SELECT count(*) FROM readings")? >= 30,
        "the last 30 days stay"
    );
    Ok(())
}

#[test]
fn silent_sensors_leave_memory_while_distinct_ids_stream_through() -> Result<(), Error> {
    let _serial = common::serial();
    let mut fixture = Fixture::new("ids")?;
    fixture.env.extend([
        (
            "WEIR_DATAFLOW__FORGET_AFTER_MS".to_string(),
            "2000".to_string(),
        ),
        (
            "WEIR_SERVER__HOT_MAX_SENSORS".to_string(),
            "1000".to_string(),
        ),
    ]);
    let readings = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut run = fixture.spawn_live("run", port, &[])?;
    // 20,000 sensors, one reading each, over about ten seconds.
    let started = Instant::now();
    for i in 0..20_000 {
        let id = format!("tmp-id-{i:05}");
        producer.send(
            &readings,
            id.as_bytes(),
            Some(&json(&id, now_ms(), 1.0)),
            None,
        )?;
        if i % 200 == 199 {
            std::thread::sleep(
                Duration::from_millis(100).saturating_sub(started.elapsed() / 10_000),
            );
        }
    }
    producer.flush()?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        20_000,
        Duration::from_secs(120),
    )?;
    // The last ones fall silent too: wait past forget_after.
    std::thread::sleep(Duration::from_secs(4));
    producer.send(
        &readings,
        b"tmp-last",
        Some(&json("tmp-last", now_ms(), 1.0)),
        None,
    )?;
    producer.flush()?;
    std::thread::sleep(Duration::from_secs(2));
    let forgotten = metric(&address, "weir_sensors_forgotten_total").unwrap_or(0.0);
    let evicted = metric(&address, "weir_hot_evicted_total").unwrap_or(0.0);
    let (status, body, _) = common::ingest::curl(&[&format!("http://{address}/api/sensors")])?;
    interrupt(&mut run)?;
    assert_eq!(status, 200);
    let held = serde_json::from_str::<serde_json::Value>(&body)?
        .as_array()
        .map_or(usize::MAX, Vec::len);
    assert!(
        forgotten >= 19_000.0,
        "sensors forgotten by the dataflow: {forgotten}"
    );
    assert!(
        evicted >= 19_000.0,
        "sensors evicted from the hot tier: {evicted}"
    );
    assert!(held <= 1_000, "the hot tier holds {held} sensors");
    Ok(())
}
