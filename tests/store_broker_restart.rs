//! The broker restarted mid-stream on its durable engine (issue #4,
//! criterion 3): readings are produced at a steady rate while a live
//! `weir run` consumes them; the broker is stopped for 2 s and restarted.
//! The producer and the run both wait for it and carry on, and every reading
//! is stored exactly once.

mod common;

use std::time::Duration;

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, check_exactly_once, expected, finish, interrupt, start_ms, tail,
    wait_for_value, wait_stored_beyond,
};

#[test]
fn a_broker_restart_mid_stream_loses_and_duplicates_nothing() -> Result<(), Error> {
    let mut fixture = Fixture::new("brokerrestart")?;
    let sim = SimulatorConfig {
        sensors: 500,
        zones: 10,
        interval_ms: 5_000,
        count: 100_000,
        rate_per_sec: f64::INFINITY,
        seed: 9,
        start_ms: start_ms(),
        ..SimulatorConfig::default()
    };
    let want = expected(&sim)?;
    let args = Fixture::simulate_args(&sim, "8000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut producer = fixture.spawn("simulate", &args)?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;

    let before = wait_stored_beyond(&fixture, &mut run, "run", 0, Duration::from_secs(120))?;
    fixture.broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    fixture.broker.restart()?;
    eprintln!("restarted the broker with {before} readings stored");
    finish(
        &fixture,
        &mut producer,
        "simulate",
        Duration::from_secs(300),
    )?;
    let count = sim.count as i64;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        count,
        Duration::from_secs(300),
    )?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        count,
        Duration::from_secs(60),
    )?;
    interrupt(&mut run)?;

    let log = std::fs::read_to_string(fixture.log_path("run"))?;
    assert!(
        log.contains("broker unreachable") && log.contains("broker reachable again"),
        "the outage and the return are logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
