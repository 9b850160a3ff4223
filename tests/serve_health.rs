//! `/health` where people look (issue #16, section 4): a webhook that is
//! down leaves alert events waiting — `/health` says `degraded` (503) and
//! names the channel — and once the receiver is up and the outbox drained
//! it is `ok` (200) again.

mod common;

use std::time::{Duration, Instant};

use common::store::{Error, Fixture, tail};
use common::webhook::{Receiver, free_port, request, webhook_env};

/// Polls `/health` until `want` holds for its (status, body), or fails after 90 s.
fn wait_health(
    api: &str,
    what: &str,
    log: &dyn Fn() -> String,
    want: impl Fn(u16, &serde_json::Value) -> bool,
) -> Result<serde_json::Value, Error> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (0, serde_json::Value::Null);
    while Instant::now() < deadline {
        if let Ok((status, body)) = request(api, "GET", "/health", "") {
            let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if want(status, &body) {
                return Ok(body);
            }
            last = (status, body);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "/health never {what}; last {} {}\n{}",
        last.0,
        last.1,
        log()
    )
    .into())
}

#[test]
fn health_is_degraded_while_a_channel_falls_behind_and_ok_once_it_drains() -> Result<(), Error> {
    let mut fixture = Fixture::new("health")?;
    let hook = free_port()?;
    let api_port = free_port()?;
    let api = format!("127.0.0.1:{api_port}");
    fixture.env.extend([
        webhook_env(hook),
        // Events to deliver without any reading: the Watchdog, twice a second.
        ("WEIR_DELIVERY__WATCHDOG_MS".into(), "500".into()),
        ("WEIR_DELIVERY__MAX_BACKOFF_MS".into(), "1000".into()),
        ("WEIR_SERVER__HEALTH_OUTBOX_MS".into(), "3000".into()),
    ]);
    let mut run = fixture.spawn_live("run", api_port, &["--no-ingest"])?;
    let log = || tail(&fixture.log_path("run"));

    // Nothing listens on the webhook's port: its events wait.
    let degraded = wait_health(&api, "degraded", &log, |status, body| {
        status == 503 && body["status"] == "degraded"
    });
    let degraded = match degraded {
        Ok(body) => body,
        Err(e) => {
            let _ = run.kill();
            return Err(e);
        }
    };
    let reasons = degraded["reasons"].to_string();
    assert!(
        reasons.contains("webhook:test"),
        "names the channel: {degraded}"
    );
    assert!(
        degraded["outbox"]["webhook:test"]["waiting"].as_i64() > Some(0),
        "{degraded}"
    );
    assert_eq!(degraded["broker"], "ok");
    assert_eq!(degraded["database"], "ok");
    // The alerts topic keeps up: only the webhook is behind.
    assert!(!reasons.contains("to kafka"), "{degraded}");

    // The receiver comes up: the backlog drains, health is ok again.
    let receiver = Receiver::start(hook)?;
    let ok = wait_health(&api, "ok", &log, |status, body| {
        status == 200 && body["status"] == "ok"
    });
    let _ = run.kill();
    let _ = run.wait();
    let ok = ok?;
    assert_eq!(ok["reasons"], serde_json::json!([]), "{ok}");
    assert!(
        receiver
            .received()
            .iter()
            .any(|r| r.body["event"] == "watchdog"),
        "the waiting events were delivered"
    );
    Ok(())
}
