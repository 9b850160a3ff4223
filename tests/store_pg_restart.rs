//! PostgreSQL restarted mid-stream (issue #4, criterion 2): while the
//! simulator produces at a steady rate and a live run consumes, the server
//! restarts; the run pauses, reconnects and carries on, and every reading is
//! stored exactly once.
//! Its own test binary: restarting the server would break other tests' connections.

mod common;

use std::process::Command;
use std::time::Duration;

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, check_exactly_once, expected, finish, interrupt, pg_url, start_ms, tail,
    wait_for_value, wait_stored_beyond,
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
    let (version, name) = cluster()?;
    // Readings keep arriving while PostgreSQL restarts: a live run, fed at a steady rate.
    let args = Fixture::simulate_args(&sim, "8000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut producer = fixture.spawn("simulate", &args)?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;

    let before = wait_stored_beyond(&fixture, &mut run, "run", 0, Duration::from_secs(120))?;
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, &name, "restart"])
        .status()?;
    assert!(
        status.success(),
        "pg_ctlcluster {version} {name} restart: {status}"
    );
    eprintln!("restarted PostgreSQL {version}/{name} with {before} readings stored");
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
        log.contains("postgres unavailable") && log.contains("postgres available again"),
        "the outage and the return are logged:\n{}",
        tail(&fixture.log_path("run"))
    );
    check_exactly_once(&mut fixture.db()?, &want)
}
