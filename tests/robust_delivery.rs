//! Alert delivery keeps flowing (issue #14, item 7), against a real webhook
//! receiver and the real outbox:
//!
//! - a receiver that refuses one event (HTTP 400 every time) gets it
//!   `delivery.max_attempts` times; then it is parked as `failed` with its
//!   last error, and every other event is delivered, once;
//! - `kill -9` of `weir run` after 50 of a round of 200 deliveries repeats
//!   at most the one delivery that was on the wire.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::store::{Error, Fixture, finish, start_ms, tail, wait_for_value};
use common::webhook::{Behaviour, Receiver, free_port, webhook_env};
use weir::simulate::SimulatorConfig;

/// Many sensors spiking now and then, in zones too big to group: a few
/// hundred deliverable events (fired, resolved, escalated).
fn spiky(start: i64) -> SimulatorConfig {
    SimulatorConfig {
        sensors: 120,
        zones: 4,
        interval_ms: 10_000,
        count: 120 * 120,
        rate_per_sec: f64::INFINITY,
        seed: 23,
        start_ms: start,
        spike_rate: 0.03,
        ..SimulatorConfig::default()
    }
}

fn env(fixture: &mut Fixture, port: u16) {
    fixture.env.extend([
        webhook_env(port),
        ("WEIR_DELIVERY__KAFKA".into(), "false".into()),
        ("WEIR_DELIVERY__INITIAL_BACKOFF_MS".into(), "200".into()),
        ("WEIR_DELIVERY__MAX_BACKOFF_MS".into(), "1000".into()),
        ("WEIR_ALERTS__GROUP_THRESHOLD".into(), "1000".into()),
    ]);
}

#[test]
fn an_event_the_receiver_refuses_is_parked_and_the_rest_delivered() -> Result<(), Error> {
    let _serial = common::serial();
    let mut fixture = Fixture::new("refused")?;
    let port = free_port()?;
    env(&mut fixture, port);
    let receiver = Receiver::start_with(
        port,
        Behaviour {
            refuse_first: true,
            ..Behaviour::default()
        },
    )?;
    fixture.simulate(&spiky(start_ms()))?;
    let mut run = fixture.spawn_run("run", &["--no-server"])?;
    finish(&fixture, &mut run, "run", Duration::from_secs(240))?;
    let mut db = fixture.db()?;
    let states: BTreeMap<String, i64> = db
        .query(
            "SELECT state, count(*) FROM alert_deliveries GROUP BY 1",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let delivered = states.get("delivered").copied().unwrap_or(0);
    assert!(delivered > 20, "{states:?}");
    assert_eq!(states.get("failed"), Some(&1), "{states:?}");
    assert_eq!(states.len(), 2, "nothing else waits: {states:?}");
    let (parked, refusals, error): (String, i32, String) = db
        .query_one(
            "SELECT event_id, refusals, last_error FROM alert_deliveries WHERE state = 'failed'",
            &[],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))?;
    assert_eq!(refusals, 5, "delivery.max_attempts refusals");
    assert!(error.contains("400"), "{error}");
    let received = receiver.received();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &received {
        *counts.entry(r.key.as_str()).or_default() += 1;
    }
    assert_eq!(counts.get(parked.as_str()), Some(&5));
    assert!(
        counts.iter().all(|(k, n)| *k == parked || *n == 1),
        "every other event once"
    );
    assert_eq!(counts.len() as i64, delivered + 1);
    Ok(())
}

#[test]
fn a_crash_mid_round_repeats_at_most_the_delivery_on_the_wire() -> Result<(), Error> {
    let _serial = common::serial();
    let mut fixture = Fixture::new("mid-round")?;
    let port = free_port()?;
    env(&mut fixture, port);
    fixture
        .env
        .push(("WEIR_DELIVERY__BATCH".into(), "200".into()));
    let sim = spiky(start_ms());
    fixture.simulate(&sim)?;
    // The receiver is away while the outbox fills.
    let mut run = fixture.spawn("run", &["run", "--no-server", "--report-secs", "2"])?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        sim.count as i64,
        Duration::from_secs(120),
    )?;
    let mut db = fixture.db()?;
    let waiting: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_deliveries WHERE state <> 'delivered'",
            &[],
        )?
        .get(0);
    assert!(waiting >= 200, "a round of 200 waits: {waiting}");
    // Back, slowly: 50 ms an event; weir dies after the 50th.
    let receiver = Receiver::start_with(
        port,
        Behaviour {
            delay: Duration::from_millis(50),
            ..Behaviour::default()
        },
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < 50 {
        assert!(
            Instant::now() < deadline,
            "deliveries did not resume:\n{}",
            tail(&fixture.log_path("run"))
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    run.kill()?;
    run.wait()?;
    let at_kill = receiver.received().len();
    let mut again = fixture.spawn("again", &["run", "--no-server", "--report-secs", "2"])?;
    wait_for_value(
        &fixture,
        &mut again,
        "again",
        "SELECT count(*) FROM alert_deliveries WHERE state <> 'delivered'",
        0,
        Duration::from_secs(120),
    )?;
    let _ = again.kill();
    let _ = again.wait();
    let received = receiver.received();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &received {
        *counts.entry(r.key.as_str()).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.len() <= 1,
        "{} events delivered again after the crash (at {at_kill} received): {repeated:?}",
        repeated.len()
    );
    assert_eq!(counts.len() as i64, waiting, "every event delivered");
    Ok(())
}
