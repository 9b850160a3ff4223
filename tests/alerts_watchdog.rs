//! The Watchdog (issue #16, section 2): a live `weir run` writes an
//! always-firing `watchdog` event to every channel at its interval — the
//! webhook and the alerts topic get one each time — and when weir dies they
//! stop; when it is back they resume.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::kafka::read_topic;
use common::store::{Error, Fixture, tail};
use common::webhook::{Received, Receiver, free_port, webhook_env};

fn watchdogs(receiver: &Receiver) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "watchdog")
        .collect()
}

fn wait_watchdogs(receiver: &Receiver, count: usize, log: &str) -> Result<Vec<Received>, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = watchdogs(receiver);
        if seen.len() >= count {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {count} watchdog events after 60 s\n{log}",
                seen.len()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_watchdog_fires_at_its_interval_on_every_channel_and_stops_with_weir() -> Result<(), Error> {
    let mut fixture = Fixture::new("watchdog")?;
    let port = free_port()?;
    let receiver = Receiver::start(port)?;
    fixture.env.extend([
        webhook_env(port),
        ("WEIR_DELIVERY__WATCHDOG_MS".into(), "1000".into()),
    ]);
    let mut run = fixture.spawn("run-1", &["run", "--no-server", "--report-secs", "2"])?;
    let first = wait_watchdogs(&receiver, 5, &tail(&fixture.log_path("run-1")))?;

    // At its interval: one a second (on two busy cores, within 0.5–2.5 s),
    // each once, numbered in order, stamped with wall time.
    let stamps: Vec<i64> = first
        .iter()
        .filter_map(|r| r.body["ts_ms"].as_i64())
        .collect();
    assert_eq!(
        stamps.len(),
        first.len(),
        "every event has its ts_ms: {first:?}"
    );
    for pair in stamps.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (500..=2_500).contains(&gap),
            "interval {gap} ms: {stamps:?}"
        );
    }
    let seqs: Vec<i64> = first
        .iter()
        .filter_map(|r| r.body["seq"].as_i64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let keys: BTreeSet<&str> = first.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), first.len(), "each once");
    assert!(
        first
            .iter()
            .all(|r| r.body["alert"]["alert_id"] == "watchdog")
    );

    // The alerts topic got the same events.
    let on_topic = read_topic(
        &fixture.broker.address,
        &fixture.topic("alerts"),
        12,
        first.len(),
    )?;
    let topic_ids: BTreeSet<String> = on_topic
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.payload).ok())
        .filter(|v| v["event"] == "watchdog")
        .filter_map(|v| v["event_id"].as_str().map(str::to_string))
        .collect();
    for r in &first {
        let id = r.body["event_id"].as_str().unwrap_or_default();
        assert!(
            topic_ids.contains(id),
            "{id} not on the alerts topic: {topic_ids:?}"
        );
    }

    // weir dies: the events stop.
    run.kill()?;
    run.wait()?;
    std::thread::sleep(Duration::from_secs(2));
    let at_death = watchdogs(&receiver).len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        watchdogs(&receiver).len(),
        at_death,
        "no watchdog while weir is down"
    );

    // Back: they resume.
    let mut again = fixture.spawn("run-2", &["run", "--no-server", "--report-secs", "2"])?;
    let resumed = wait_watchdogs(&receiver, at_death + 2, &tail(&fixture.log_path("run-2")));
    let _ = again.kill();
    let _ = again.wait();
    resumed?;
    Ok(())
}
