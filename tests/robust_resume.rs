//! Restarts, shapes and backlogs (issue #14, items 6, 8, 9 and 12), each on
//! a broker of its own, fed by a plain librdkafka producer or the simulator:
//!
//! - after a restart mid-stream, readings six hours old (a store-and-forward
//!   logger uploading its backlog) update their windows: `sensor_5m` equals
//!   a GROUP BY over `readings`;
//! - more workers than partitions (`-w 16` over 12) keep up in a live run;
//! - a durable offset below the log start (records deleted by retention
//!   before they were stored) or past its end fails the run loudly, or with
//!   `kafka.on_gap = "record"` is recorded and the run goes on;
//! - a backlog in the topic is committed progressively, not all at the end.

mod common;

use std::time::{Duration, Instant};

use common::OwnBroker;
use common::kafka::Outside;
use common::store::{
    Error, Fixture, check_views, durable, finish, interrupt, stored, tail, wait_for_value,
};
use common::{text, webhook::free_port};
use weir::simulate::SimulatorConfig;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn json(sensor: &str, ts: i64, value: f64) -> Vec<u8> {
    format!(r#"{{"sensorId":"{sensor}","timestamp":{ts},"value":{value}}}"#).into_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// Three sensors, a reading a minute each, over `[from, to)`, on partition 0.
fn steady(producer: &Outside, topic: &str, from: i64, to: i64) -> Result<i64, Error> {
    let mut sent = 0;
    let mut t = from;
    while t < to {
        for s in 0..3 {
            let id = format!("tmp-st{s}");
            let value = 20.0 + ((t / MIN + s) % 7) as f64;
            producer.send_to(topic, 0, id.as_bytes(), &json(&id, t + s, value), t + s + 5)?;
            sent += 1;
        }
        t += MIN;
    }
    producer.flush()?;
    Ok(sent)
}

#[test]
fn after_a_restart_hours_old_readings_update_their_windows() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("late-upload")?;
    let topic = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let now = now_ms() / (5 * MIN) * (5 * MIN);
    // The logger's window: [now − 6 h 5 min, now − 6 h).
    let window = now - 6 * HOUR - 5 * MIN;
    let mut sent = 0;
    // Part 1: the logger's first nine readings, sent as they were taken,
    // then three hours of steady sensors (7 h to 4 h ago).
    for i in 0..9 {
        let ts = window + i * 20_000;
        producer.send_to(&topic, 0, b"tmp-log", &json("tmp-log", ts, 1.0), ts + 10)?;
        sent += 1;
    }
    sent += steady(&producer, &topic, now - 7 * HOUR, now - 4 * HOUR)?;
    let mut run = fixture.spawn_run("part-1", &[])?;
    finish(&fixture, &mut run, "part-1", Duration::from_secs(120))?;
    // Part 2: the last four hours. A restart now rewinds to the end of part
    // 1 (more than the rewind span, 3 h 5 min, before the durable point).
    sent += steady(&producer, &topic, now - 4 * HOUR, now - MIN)?;
    let mut run = fixture.spawn_run("part-2", &[])?;
    finish(&fixture, &mut run, "part-2", Duration::from_secs(120))?;
    let mut db = fixture.db()?;
    let checkpoints: i64 = db
        .query_one("SELECT count(*) FROM source_checkpoints", &[])?
        .get(0);
    assert!(checkpoints >= 2, "a checkpoint to rewind to mid-stream");

    // Part 3: a live restart, and the logger uploads the rest of its
    // backlog, six hours old (its window gets six more readings).
    let mut live = fixture.spawn_live("live", free_port()?, &[])?;
    for i in 9..30 {
        let ts = window + i * 20_000;
        producer.send_to(&topic, 0, b"tmp-log", &json("tmp-log", ts, 2.0), now_ms())?;
        sent += 1;
    }
    producer.flush()?;
    wait_for_value(
        &fixture,
        &mut live,
        "live",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        sent,
        Duration::from_secs(120),
    )?;
    interrupt(&mut live)?;
    let log = std::fs::read_to_string(fixture.log_path("live"))?;
    assert!(
        log.contains("resuming from postgres") && !log.contains("start={0: 0}"),
        "the live run resumed mid-stream: {}",
        tail(&fixture.log_path("live"))
    );
    assert_eq!(stored(&mut db), sent, "every reading stored once");
    check_views(&mut db)?;
    let first: (i64, f64) = db
        .query_one(
            "SELECT count, sum FROM sensor_5m WHERE sensor_id = 'tmp-log' AND bucket = to_timestamp($1::float8 / 1000)",
            &[&(window as f64)],
        )
        .map(|r| (r.get(0), r.get(1)))?;
    assert_eq!(
        first,
        (15, 9.0 + 12.0),
        "the logger's first window, old and uploaded readings"
    );
    Ok(())
}

#[test]
fn more_workers_than_partitions_keep_up_in_a_live_run() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("w16")?;
    let topic = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let mut run = fixture.spawn_live("run", free_port()?, &["-w", "16"])?;
    let mut sent = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        for s in 0..24 {
            let id = format!("tmp-w{s}");
            producer.send(&topic, id.as_bytes(), Some(&json(&id, now_ms(), 1.0)), None)?;
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    producer.flush()?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        sent,
        Duration::from_secs(30),
    )?;
    let mut db = fixture.db()?;
    assert_eq!(stored(&mut db), sent);
    interrupt(&mut run)?;
    Ok(())
}

#[test]
fn records_deleted_before_they_were_stored_are_a_gap_never_skipped_silently() -> Result<(), Error> {
    let _serial = common::serial();
    // Retention runs every second on this broker; the topics keep a minute.
    let broker = OwnBroker::start_with(
        "gap-broker",
        "sqlite://data/tansu.db?maintenance_interval=1s",
    )?;
    let mut fixture =
        Fixture::with_broker("gap", broker, &[("WEIR_KAFKA__RETENTION_MS", "60000")])?;
    let topic = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let send = |count: i64, stamped: i64, value: f64| -> Result<(), Error> {
        for i in 0..count {
            let id = format!("tmp-g{}", i % 12);
            producer.send_to(
                &topic,
                (i % 12) as i32,
                id.as_bytes(),
                &json(&id, stamped + i, value),
                stamped + i,
            )?;
        }
        producer.flush()
    };
    // Stored, then expiring 20 s from now.
    send(48, now_ms() - 40_000, 1.0)?;
    let mut run = fixture.spawn_run("stored", &[])?;
    finish(&fixture, &mut run, "stored", Duration::from_secs(60))?;
    let mut db = fixture.db()?;
    assert_eq!(durable(&mut db), 48);
    // Never stored: already past the retention; then two fresh records a
    // partition. Once the first two batches are deleted, every partition's
    // log starts past its durable offset. (Tansu 0.6.0 reports a log whose
    // records are all deleted as (0, 0): the fresh ones keep it honest.)
    send(48, now_ms() - 120_000, 2.0)?;
    send(24, now_ms(), 3.0)?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while producer
        .watermarks(&topic, 12)?
        .iter()
        .any(|(low, _)| *low < 8)
    {
        assert!(
            Instant::now() < deadline,
            "retention did not delete: {:?}",
            producer.watermarks(&topic, 12)?
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // By default the run stops, naming the partition, the offsets and the way out.
    let output = common::run_weir(&["run", "--until-end"], &fixture.env)?;
    let (_, err) = text(&output);
    assert!(!output.status.success(), "the run must fail: {err}");
    assert!(
        err.contains("deleted from the log")
            && err.contains("partition")
            && err.contains("kafka.on_gap"),
        "{err}"
    );
    assert_eq!(durable(&mut db), 48, "nothing moved");

    // With `on_gap = "record"` the gaps are rows, and the run goes on.
    fixture
        .env
        .push(("WEIR_KAFKA__ON_GAP".into(), "record".into()));
    let mut run = fixture.spawn_run("record", &[])?;
    finish(&fixture, &mut run, "record", Duration::from_secs(60))?;
    let gaps: Vec<(i32, i64, i64, String)> = db
        .query(
            "SELECT kafka_partition, from_offset, to_offset, kind FROM source_gaps ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(gaps.len(), 12, "{gaps:?}");
    assert!(
        gaps.iter()
            .all(|(_, from, to, kind)| (*from, *to, kind.as_str()) == (4, 8, "deleted")),
        "{gaps:?}"
    );
    assert_eq!(
        stored(&mut db),
        48 + 24,
        "the records after the gap are stored"
    );
    assert_eq!(durable(&mut db), 96 + 24);

    // A durable offset past the log's end (a topic recreated under the same
    // name, a database restored from elsewhere) is a gap too.
    db.batch_execute(
        "UPDATE source_offsets SET next_offset = next_offset + 1000 WHERE kafka_partition = 3",
    )?;
    fixture.env.retain(|(k, _)| k != "WEIR_KAFKA__ON_GAP");
    let output = common::run_weir(&["run", "--until-end"], &fixture.env)?;
    let (_, err) = text(&output);
    assert!(
        !output.status.success() && err.contains("past the log end") && err.contains("partition 3"),
        "{err}"
    );
    Ok(())
}

/// A backlog far larger than what alignment lets the partitions read ahead
/// (12 partitions x `align_max_records`, 60,000): 1,000,000 readings, which
/// the run catches up with in about 15 s. (240,000 was enough while the
/// broker served compressed batches slowly; read at full speed they were
/// all stored within 2 s of the first commit, in steps too big to tell a
/// progressive commit from one at the end.)
#[test]
fn a_backlog_is_committed_progressively() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("backlog")?;
    let sim = SimulatorConfig {
        sensors: 2_000,
        zones: 10,
        interval_ms: 10_000,
        count: 1_000_000,
        rate_per_sec: f64::INFINITY,
        seed: 5,
        start_ms: common::store::start_ms(),
        ..SimulatorConfig::default()
    };
    fixture.simulate(&sim)?;
    let mut run = fixture.spawn_live("run", free_port()?, &[])?;
    let started = Instant::now();
    let mut db = fixture.db()?;
    let mut seen: Vec<(f64, i64)> = Vec::new();
    loop {
        let now = stored(&mut db);
        if seen.last().is_none_or(|(_, n)| *n != now) {
            seen.push((started.elapsed().as_secs_f64(), now));
        }
        if now >= sim.count as i64 {
            break;
        }
        if let Some(status) = run.try_wait()? {
            return Err(
                format!("run exited ({status}):\n{}", tail(&fixture.log_path("run"))).into(),
            );
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("{now} of {} stored after 300 s: {seen:?}", sim.count).into());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    interrupt(&mut run)?;
    let first = seen
        .iter()
        .find(|(_, n)| *n > 0)
        .map_or(f64::MAX, |(t, _)| *t);
    let largest = seen
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .max()
        .unwrap_or(sim.count as i64);
    assert!(first < 20.0, "first rows after {first:.1} s: {seen:?}");
    assert!(
        seen.len() >= 6,
        "rows appeared in a few steps only: {seen:?}"
    );
    assert!(
        largest <= sim.count as i64 / 3,
        "one commit took {largest} rows: {seen:?}"
    );
    check_views(&mut db)?;
    Ok(())
}

#[test]
fn an_idle_pipeline_sleeps_and_the_first_record_wakes_it() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("asleep")?;
    let topic = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut run = fixture.spawn_live("run", port, &[])?;
    // Idle: its partitions go to the watcher (one cheap fetch a second or
    // two for the broker, instead of one every 10 ms).
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::store::metric(&address, "weir_sources_asleep") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "never asleep:\n{}",
            tail(&fixture.log_path("run"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The first record wakes it, is stored, and keeps its own time as its
    // clock (no reading is held back by the sleep).
    let ts = now_ms();
    producer.send(
        &topic,
        b"tmp-wake",
        Some(&json("tmp-wake", ts, 1.0)),
        Some(ts),
    )?;
    producer.flush()?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        1,
        Duration::from_secs(15),
    )?;
    assert_eq!(
        common::store::metric(&address, "weir_sources_asleep"),
        Some(0.0)
    );
    let mut db = fixture.db()?;
    let flags: Vec<String> = db.query_one("SELECT flags FROM readings", &[])?.get(0);
    assert!(flags.is_empty() || flags == ["unregistered"], "{flags:?}");
    interrupt(&mut run)?;
    Ok(())
}
