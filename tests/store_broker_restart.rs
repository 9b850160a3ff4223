//! The broker restarted mid-stream on its durable engine (issue #4,
//! criterion 3): the run waits for it, resumes, and stores every reading
//! exactly once.

mod common;

use std::time::Duration;

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, START_MS, check_exactly_once, expected, finish, tail, wait_stored_beyond,
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
        start_ms: START_MS,
        ..SimulatorConfig::default()
    };
    fixture.simulate(&sim)?;
    let want = expected(&sim)?;

    let mut child = fixture.spawn_run("run", &["-w", "2"])?;
    let before = wait_stored_beyond(&fixture, &mut child, "run", 0, Duration::from_secs(120))?;
    fixture.broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    fixture.broker.restart()?;
    eprintln!("restarted the broker with {before} readings stored");
    finish(&fixture, &mut child, "run", Duration::from_secs(600))?;
    let log = std::fs::read_to_string(fixture.log_path("run"))?;
    assert!(
        log.contains("broker unreachable"),
        "the outage is logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
