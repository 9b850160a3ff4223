//! PostgreSQL restarted mid-stream (issue #4, criterion 2): while the
//! simulator produces at a steady rate and a live run consumes, the server
//! restarts; the run pauses, reconnects and carries on, and every reading is
//! stored exactly once.
//! Its own test binary: restarting the server would break other tests' connections.

mod common;

use std::process::Command;

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, check_exactly_once, expected, pg_cluster, start_ms, tail, under_load,
};

#[test]
fn a_postgres_restart_mid_stream_loses_and_duplicates_nothing() -> Result<(), Error> {
    let mut fixture = Fixture::new("pgrestart")?;
    let sim = SimulatorConfig {
        sensors: 500,
        zones: 10,
        interval_ms: 5_000,
        count: 100_000,
        rate_per_sec: f64::INFINITY,
        seed: 8,
        start_ms: start_ms(),
        ..SimulatorConfig::default()
    };
    let want = expected(&sim)?;
    let (version, name) = pg_cluster()?;
    // Readings keep arriving while PostgreSQL restarts: a live run, fed at a steady rate.
    let log = under_load(&mut fixture, &sim, "8000", |_, stored| {
        let status = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, &name, "restart"])
            .status()?;
        assert!(
            status.success(),
            "pg_ctlcluster {version} {name} restart: {status}"
        );
        eprintln!("restarted PostgreSQL {version}/{name} with {stored} readings stored");
        Ok(())
    })?;
    assert!(
        log.contains("postgres unavailable") && log.contains("postgres available again"),
        "the outage and the return are logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
