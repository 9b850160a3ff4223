//! `weir heartbeat` with PostgreSQL stopped (issue #16, section 1): one
//! trigger mail naming the `postgres` check, one resolve once it is back.
//! Its own test binary, one test: stopping the shared PostgreSQL breaks
//! other tests' connections.

mod common;

use std::process::Command;
use std::time::Duration;

use common::heartbeat::World;
use common::store::{Error, pg_cluster};

fn pg_ctl(version: &str, name: &str, action: &str) -> Result<(), Error> {
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, name, action])
        .status()?;
    assert!(
        status.success(),
        "pg_ctlcluster {version} {name} {action}: {status}"
    );
    Ok(())
}

/// Starts PostgreSQL again even when the test fails half-way.
struct Restart(String, String);

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = pg_ctl(&self.0, &self.1, "start");
    }
}

#[test]
fn postgres_stopped_pages_once_and_resolves_when_back() -> Result<(), Error> {
    let mut world = World::new("hb-pg")?;
    let (version, name) = pg_cluster()?;
    let _run = world.start_weir()?;
    let _heartbeat = world.start_heartbeat()?;
    world.wait_all_ok(Duration::from_secs(120))?;
    assert!(world.mails("").is_empty(), "mail while healthy");

    let restart = Restart(version.clone(), name.clone());
    pg_ctl(&version, &name, "stop")?;
    let trigger = world.wait_mail("TRIGGER", Duration::from_secs(60));
    drop(restart); // PostgreSQL back before any assertion can fail
    let restarted = std::time::Instant::now();
    let (trigger, after) = trigger?;
    eprintln!(
        "trigger mail {after:?} after PostgreSQL stopped: {}",
        trigger.subject
    );
    assert!(trigger.body.contains("-> postgres"), "{}", trigger.body);
    world.wait_pagerduty("trigger", Duration::from_secs(10))?;

    let (resolve, _) = world.wait_mail("RESOLVED", Duration::from_secs(180))?;
    eprintln!(
        "resolve mail within {:?} of `pg_ctlcluster start` returning: {}",
        restarted.elapsed(),
        resolve.subject
    );
    world.wait_pagerduty("resolve", Duration::from_secs(10))?;
    assert_eq!(world.mails("TRIGGER").len(), 1, "one incident");
    Ok(())
}
