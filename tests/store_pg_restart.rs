//! PostgreSQL restarted mid-stream (issue #4, criterion 2): the run pauses,
//! reconnects and completes, and every reading is stored exactly once.
//! Its own test binary: restarting the server would break other tests' connections.

mod common;

use std::process::Command;
use std::time::Duration;

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, check_exactly_once, expected, finish, pg_url, start_ms, tail,
    wait_stored_beyond,
};

/// `version cluster` of the cluster serving the tests' PostgreSQL port.
fn cluster() -> Result<(String, String), Error> {
    let url = pg_url();
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("5432")
        .to_string();
    let output = Command::new("pg_lsclusters").arg("--no-header").output()?;
    let listing = String::from_utf8(output.stdout)?;
    listing
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.len() > 2 && cols[2] == port)
        .map(|cols| (cols[0].to_string(), cols[1].to_string()))
        .ok_or_else(|| {
            format!("no PostgreSQL cluster on port {port} in `pg_lsclusters`:\n{listing}").into()
        })
}

#[test]
fn a_postgres_restart_mid_stream_loses_and_duplicates_nothing() -> Result<(), Error> {
    let fixture = Fixture::new("pgrestart")?;
    let start = start_ms();
    let sim = SimulatorConfig {
        sensors: 500,
        zones: 10,
        interval_ms: 5_000,
        count: 100_000,
        rate_per_sec: f64::INFINITY,
        seed: 8,
        start_ms: start,
        ..SimulatorConfig::default()
    };
    fixture.simulate(&sim)?;
    let want = expected(&sim)?;
    let (version, name) = cluster()?;

    let mut child = fixture.spawn_run("run", &["-w", "2"])?;
    let before = wait_stored_beyond(&fixture, &mut child, "run", 0, Duration::from_secs(120))?;
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, &name, "restart"])
        .status()?;
    assert!(
        status.success(),
        "pg_ctlcluster {version} {name} restart: {status}"
    );
    eprintln!("restarted PostgreSQL {version}/{name} with {before} readings stored");
    finish(&fixture, &mut child, "run", Duration::from_secs(600))?;

    let log = std::fs::read_to_string(fixture.log_path("run"))?;
    assert!(
        log.contains("postgres unavailable"),
        "the outage is logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    assert!(
        log.contains("postgres available again"),
        "the return is logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
