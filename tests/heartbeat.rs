//! `weir heartbeat` against a live `weir run` (issue #16, section 1): a
//! round passes on every path × check; weir killed: exactly one trigger
//! mail (and a PagerDuty `trigger`) within the deadline plus one interval,
//! naming the quiet Watchdog, and nothing in weir's own outbox but
//! Watchdog events; weir back: a resolve mail and a PagerDuty `resolve`.
//! weir's own `/health` shows the heartbeat's results (`server.heartbeat_url`).

mod common;

use std::time::{Duration, Instant};

use common::browser::open;
use common::heartbeat::{DEADLINE_MS, INTERVAL_MS, World};
use common::store::Error;

/// The heartbeat rows of the dashboard's pipeline-health panel, once every
/// path shows ok with a time for ws, rest and postgres (or an error after 30 s).
async fn heartbeat_panel(url: &str) -> Result<Vec<String>, Error> {
    let (_browser, mut page) = open(url).await?;
    let read = "JSON.stringify([...document.querySelectorAll('#health [data-hb-path]')]\
                .map(e => ({path: e.dataset.hbPath, ok: e.dataset.ok, text: e.innerText})))";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: serde_json::Value =
            serde_json::from_str(page.eval(read).await?.as_str().unwrap_or("[]"))?;
        let rows = rows.as_array().cloned().unwrap_or_default();
        let shown = |path: &str| {
            rows.iter().any(|r| {
                let text = r["text"].as_str().unwrap_or_default();
                r["path"] == path
                    && r["ok"] == "true"
                    && ["ws ", "rest ", "postgres "].iter().all(|c| {
                        text.split(" · ")
                            .any(|part| part.starts_with(c) && part.ends_with(" ms"))
                    })
            })
        };
        if ["http", "mqtt", "kafka"].iter().all(|p| shown(p)) {
            return Ok(rows
                .iter()
                .map(|r| r["text"].as_str().unwrap_or_default().to_string())
                .collect());
        }
        if Instant::now() > deadline {
            return Err(format!("the health panel's heartbeat rows after 30 s: {rows:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn weir_killed_pages_once_by_mail_and_webhook_and_resolves_when_back() -> Result<(), Error> {
    let mut world = World::new("hb-kill")?;
    let mut run = world.start_weir()?;
    let _heartbeat = world.start_heartbeat()?;

    // Healthy: every path × check passes, the histograms fill, no mail.
    let health = world.wait_all_ok(Duration::from_secs(120))?;
    assert_eq!(health["status"], "ok", "{health:#}");
    assert!(health["incident"].is_null(), "{health:#}");
    world.assert_observed()?;

    // weir's own /health (and so its dashboard) shows the heartbeat's results.
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let body = world.weir_health()?;
        let heartbeat = &body["heartbeat"];
        let passing = heartbeat["checks"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["ok"] == true).count());
        if heartbeat["status"] == "ok" && passing == 9 {
            break body;
        }
        if Instant::now() > deadline {
            return Err(format!("weir's /health lacks the heartbeat: {body:#}").into());
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(shown["heartbeat"]["name"], world.name.as_str(), "{shown:#}");
    // And the dashboard's pipeline-health panel, in a browser: one row per
    // path, each ok with an end-to-end time for every check.
    let url = format!("http://127.0.0.1:{}/", world.server_port);
    let rows = tokio::runtime::Runtime::new()?.block_on(heartbeat_panel(&url))?;
    eprintln!("health panel: {rows:?}");
    assert!(shown["heartbeat"]["fetched_ms"].is_i64(), "{shown:#}");
    // Its sensors are registered as heartbeats in their zone, and never scored.
    for path in ["http", "mqtt", "kafka"] {
        let id = format!("hb-{}-{path}", world.name);
        let sensor = world.weir_get(&format!("/api/sensors/{id}"))?;
        assert_eq!(
            (sensor["kind"].as_str(), sensor["zone"].as_str()),
            (Some("heartbeat"), Some("heartbeat")),
            "{sensor:#}"
        );
    }
    let anomalies = world.weir_get("/api/anomalies")?;
    assert_eq!(anomalies.as_array().map(Vec::len), Some(0), "{anomalies:#}");
    std::thread::sleep(Duration::from_millis(2 * INTERVAL_MS));
    let (status, health) = world.health()?;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health:#}"
    );
    assert!(
        world.mails("").is_empty(),
        "mail while healthy: {:?}",
        world.mails("")
    );
    assert!(world.pagerduty.received().is_empty());

    // weir dies.
    run.kill()?;
    run.wait()?;
    let killed = Instant::now();
    let within = Duration::from_millis(DEADLINE_MS + INTERVAL_MS) + Duration::from_secs(3);
    let (trigger, after) = world.wait_mail("TRIGGER", Duration::from_secs(60))?;
    eprintln!(
        "trigger mail {:?} after the kill: {}",
        killed.elapsed(),
        trigger.subject
    );
    assert!(
        after <= within,
        "trigger after {after:?}, more than deadline + interval (+3 s): {}",
        trigger.subject
    );
    assert!(trigger.body.contains("not seen within"), "{}", trigger.body);
    let incident = trigger
        .subject
        .split_whitespace()
        .find(|w| w.starts_with(&world.name) && w.ends_with(':'))
        .map(|w| w.trim_end_matches(':').to_string())
        .ok_or("no incident id in the subject")?;
    let pd = world.wait_pagerduty("trigger", Duration::from_secs(10))?;
    assert_eq!(pd["dedup_key"], incident.as_str(), "{pd:#}");
    assert_eq!(pd["routing_key"], format!("routing-{}", world.name));
    assert_eq!(pd["payload"]["severity"], "critical");

    // The quiet Watchdog becomes a reason while weir stays down; still one trigger.
    std::thread::sleep(Duration::from_millis(3 * INTERVAL_MS + DEADLINE_MS));
    let (_, health) = world.health()?;
    assert_eq!(health["status"], "failing", "{health:#}");
    let reasons = health["incident"]["reasons"].to_string();
    assert!(reasons.contains("watchdog:"), "{reasons}");
    assert!(reasons.contains("mqtt -> ws"), "{reasons}");
    assert!(reasons.contains("http: send failed"), "{reasons}");
    assert_eq!(world.mails("TRIGGER").len(), 1, "{:?}", world.mails(""));
    assert_eq!(world.pagerduty_events("trigger").len(), 1);
    world.assert_outbox_only_watchdog()?;

    // Back: one resolve on each channel, for the same incident.
    let _run = world.start_weir()?;
    let (resolve, after) = world.wait_mail("RESOLVED", Duration::from_secs(180))?;
    eprintln!(
        "resolve mail {after:?} after the restart: {}",
        resolve.subject
    );
    assert!(resolve.subject.contains(&incident), "{}", resolve.subject);
    assert!(
        resolve.body.contains("watchdog:"),
        "the quiet Watchdog is named: {}",
        resolve.body
    );
    let pd = world.wait_pagerduty("resolve", Duration::from_secs(10))?;
    assert_eq!(pd["dedup_key"], incident.as_str());
    assert_eq!(world.mails("TRIGGER").len(), 1);
    assert_eq!(world.mails("REMINDER").len(), 0);
    world.assert_outbox_only_watchdog()?;
    Ok(())
}
