//! Alerting live (issue #6, criteria 3 and 4): a silence created through
//! the API holds a zone's alerts back until it ends; a webhook receiver
//! that is down for 30 s (while weir is also killed and restarted) gets
//! every deliverable event once it is up: none lost, none twice.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::store::{Error, Fixture, interrupt, tail};
use common::webhook::{Receiver, free_port, request, webhook_env};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout`.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn silences_hold_alerts_and_a_dead_webhook_loses_nothing() -> Result<(), Error> {
    let mut fixture = Fixture::new("alerts-live")?;
    let hook_port = free_port()?;
    let api_port = free_port()?;
    let api = format!("127.0.0.1:{api_port}");
    fixture.env.extend([
        webhook_env(hook_port),
        ("WEIR_SERVER__LISTEN".into(), api.clone()),
        ("WEIR_ALERTS__RESOLVE_AFTER_MS".into(), "8000".into()),
        ("WEIR_ALERTS__COOLDOWN_MS".into(), "20000".into()),
        ("WEIR_DELIVERY__MAX_BACKOFF_MS".into(), "2000".into()),
    ]);
    let mut run = fixture.spawn("run-1", &["run", "-w", "2", "--report-secs", "2"])?;
    wait_for("the server", Duration::from_secs(60), || {
        Ok(std::net::TcpStream::connect(&api).ok())
    })?;

    // A silence on zone-02 for the next 25 s of event time.
    let (status, body) = request(
        &api,
        "POST",
        "/api/silences",
        &format!(
            r#"{{"zone":"zone-02","starts":{},"duration_ms":25000,"comment":"maintenance"}}"#,
            now_ms()
        ),
    )?;
    assert_eq!(status, 201, "{body}");
    let silence: serde_json::Value = serde_json::from_str(&body)?;
    let silence_id = silence["id"].as_str().ok_or("no silence id")?.to_string();
    let (status, body) = request(&api, "POST", "/api/silences", r#"{"ends":5}"#)?;
    assert_eq!(status, 400, "a silence needs a matcher: {body}");

    // Real time, one reading per sensor per second; zone-02's six sensors
    // critical from second 10 to second 25.
    let mut sim = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            "12",
            "--zones",
            "2",
            "--interval",
            "1s",
            "--count",
            "960",
            "--seed",
            "5",
            "--abnormal-zone",
            "zone-02",
            "--abnormal-windows",
            "10-25",
        ],
    )?;
    let mut db = fixture.db()?;
    // While the silence lasts: recorded, not delivered.
    let held: Vec<(String, String)> = wait_for("silenced alerts", Duration::from_secs(90), || {
        let rows: Vec<(String, String)> = db
            .query(
                "SELECT e.event, a.scope FROM alert_events e JOIN alerts a USING (alert_id) \
                 WHERE a.zone = 'zone-02' ORDER BY e.time, e.event_id",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(rows
            .iter()
            .any(|(_, scope)| scope == "zone")
            .then_some(rows))
    })?;
    assert!(
        held.iter()
            .all(|(event, _)| ["silenced", "inhibited", "grouped", "updated"]
                .contains(&event.as_str())),
        "nothing but silenced, inhibited or grouped alerts during the silence: {held:?}"
    );
    assert!(
        held.contains(&("silenced".into(), "zone".into())),
        "{held:?}"
    );
    let delivered_early: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.zone = 'zone-02' AND e.deliver AND e.time < to_timestamp($1::float8 / 1000)",
            &[&(silence["ends_ms"].as_i64().unwrap_or(0) as f64)],
        )?
        .get(0);
    assert_eq!(
        delivered_early, 0,
        "nothing deliverable before the silence ends"
    );

    // After it ends: the zone alert is delivered (to a webhook that is down).
    let first: String = wait_for(
        "the zone alert after the silence",
        Duration::from_secs(90),
        || {
            Ok(db
                .query_opt(
                    "SELECT e.reason FROM alert_events e JOIN alerts a USING (alert_id) \
                 WHERE a.zone = 'zone-02' AND a.scope = 'zone' AND e.event = 'fired' AND e.deliver",
                    &[],
                )?
                .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()))
        },
    )?;
    assert!(
        first.contains(&silence_id),
        "delivered because the silence ended: {first}"
    );
    let down_since = Instant::now();

    // Someone takes it: an ack through the API (404 for an unknown alert).
    let zone_alert: String = db
        .query_one(
            "SELECT alert_id FROM alerts WHERE zone = 'zone-02' AND scope = 'zone'",
            &[],
        )?
        .get(0);
    let path = |id: &str| format!("/api/alerts/{}/ack", id.replace(':', "%3A"));
    let (status, body) = request(&api, "POST", &path(&zone_alert), r#"{"comment":"on it"}"#)?;
    assert_eq!(status, 202, "{body}");
    let (status, _) = request(&api, "POST", &path("no:such:alert"), r#"{}"#)?;
    assert_eq!(status, 404);

    // weir dies mid-delivery and comes back.
    std::thread::sleep(Duration::from_secs(4));
    run.kill()?;
    run.wait()?;
    let mut run = fixture.spawn("run-2", &["run", "-w", "2", "--report-secs", "2"])?;

    // The receiver has been down for 30 s: the events are recorded as undelivered.
    let failing: i64 = wait_for("undelivered rows", Duration::from_secs(60), || {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM alert_deliveries WHERE channel = 'webhook:test' \
                 AND state = 'failing' AND last_error IS NOT NULL",
                &[],
            )?
            .get(0);
        Ok((n > 0 && down_since.elapsed() >= Duration::from_secs(30)).then_some(n))
    })?;
    let receiver = Receiver::start(hook_port)?;

    // Everything deliverable arrives, once.
    let status = sim.wait()?;
    assert!(
        status.success(),
        "simulate:\n{}",
        tail(&fixture.log_path("simulate"))
    );
    let deliverable = wait_for("every delivery", Duration::from_secs(120), || {
        let pending: i64 = db
            .query_one(
                "SELECT count(*) FROM alert_deliveries WHERE channel = 'webhook:test' AND state <> 'delivered'",
                &[],
            )?
            .get(0);
        let all: BTreeSet<String> = db
            .query("SELECT event_id FROM alert_events WHERE deliver", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let received: BTreeSet<String> = receiver.received().into_iter().map(|r| r.key).collect();
        Ok((pending == 0 && received == all).then_some(all))
    });
    interrupt(&mut run)?;
    let deliverable =
        deliverable.map_err(|e| format!("{e}\n{}", tail(&fixture.log_path("run-2"))))?;
    let keys: Vec<String> = receiver.received().into_iter().map(|r| r.key).collect();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "no event delivered twice: {keys:?}"
    );
    assert_eq!(unique, deliverable);
    assert!(failing > 0);
    let resolved: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.zone = 'zone-02' AND a.scope = 'zone' AND e.event = 'resolved' AND e.deliver",
            &[],
        )?
        .get(0);
    assert_eq!(
        resolved, 1,
        "the zone alert resolved, once, after the restart too"
    );
    let acked: Option<String> = db
        .query_one(
            "SELECT acked_by FROM alerts WHERE alert_id = $1",
            &[&zone_alert],
        )?
        .get(0);
    assert_eq!(
        acked.as_deref(),
        Some("anonymous"),
        "the ack was applied (authentication off: the author is anonymous)"
    );
    let ack_events: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_events WHERE alert_id = $1 AND event = 'acked' AND deliver",
            &[&zone_alert],
        )?
        .get(0);
    assert_eq!(ack_events, 1, "one acked event, delivered");
    Ok(())
}
