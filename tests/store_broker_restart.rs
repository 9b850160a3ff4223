//! The broker restarted mid-stream on its durable engine (issue #4,
//! criterion 3): readings are produced at a steady rate while a live
//! `weir run` consumes them; the broker is stopped for 2 s and restarted.
//! The producer and the run both wait for it and carry on, and every reading
//! is stored exactly once.

mod common;

use std::time::Duration;

use weir::simulate::SimulatorConfig;

use common::store::{Error, Fixture, check_exactly_once, expected, start_ms, tail, under_load};

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
    let log = under_load(&mut fixture, &sim, "8000", |fixture, stored| {
        fixture.broker.stop();
        std::thread::sleep(Duration::from_secs(2));
        fixture.broker.restart()?;
        eprintln!("restarted the broker with {stored} readings stored");
        Ok(())
    })?;
    assert!(
        log.contains("broker unreachable") && log.contains("broker reachable again"),
        "the outage and the return are logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
