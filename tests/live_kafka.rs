//! `weir run` following the topics live while the simulator produces in
//! real time: readings become durable as they arrive (the record-time clock
//! and the idle rule keep the frontier moving), not only at the end, and a
//! stuck-high sensor raises critical anomalies while it happens.

mod common;

use std::time::{Duration, Instant};

use common::store::{Error, Fixture, interrupt, stored, wait_for_value};

#[test]
fn a_live_run_stores_readings_as_they_arrive() -> Result<(), Error> {
    let fixture = Fixture::new("live")?;
    // 100 sensors, one reading each per second, for 15 s; one stuck high from round 3.
    let mut simulator = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            "100",
            "--zones",
            "4",
            "--interval",
            "1s",
            "--rate",
            "realtime",
            "--count",
            "1500",
            "--stuck-sensors",
            "1",
            "--fault-after-rounds",
            "3",
        ],
    )?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;

    // While the simulator is still producing, readings are already durable.
    let mut db = fixture.db()?;
    let started = Instant::now();
    let mut during = 0;
    while simulator.try_wait()?.is_none() && started.elapsed() < Duration::from_secs(60) {
        during = stored(&mut db);
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = simulator.wait()?;
    assert!(status.success(), "simulator failed: {status}");
    assert!(
        during >= 500,
        "only {during} readings were durable before production ended"
    );
    // Everything within seconds of the last reading, offsets included.
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        1_500,
        Duration::from_secs(30),
    )?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        1_500,
        Duration::from_secs(30),
    )?;
    interrupt(&mut run)?;
    let count = |db: &mut postgres::Client, sql: &str| -> Result<i64, postgres::Error> {
        Ok(db.query_one(sql, &[])?.get(0))
    };
    assert_eq!(count(&mut db, "SELECT count(*) FROM sensor_latest")?, 100);
    let stuck = count(
        &mut db,
        "SELECT count(DISTINCT sensor_id) FROM anomalies WHERE threshold_kind = 'crithigh'",
    )?;
    assert!(
        stuck >= 1,
        "the stuck-high sensor raised critical anomalies"
    );
    Ok(())
}
