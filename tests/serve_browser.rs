//! The dashboard in a real browser (issue #5, criterion 3): headless
//! Chromium (Debian's `chromium`, driven over its DevTools protocol) loads
//! the dashboard from a running pipeline, sees live values change within
//! 3 s, and saves screenshots under the test's output directory. It also
//! acknowledges a stuck sensor's alert with the alert panel's Ack button (after
//! the pipeline-health panel says healthy) and
//! sees the acknowledgement stored and shown.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::browser::{Page, http_get, open};
use common::store::{Error, Fixture, interrupt};

fn free_port() -> std::io::Result<u16> {
    common::free_port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_values_in_a_browser() -> Result<(), Error> {
    let mut fixture = Fixture::new("browser")?;
    let address = format!("127.0.0.1:{}", free_port()?);
    fixture
        .env
        .push(("WEIR_SERVER__LISTEN".into(), address.clone()));
    let mut simulator = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            "40",
            "--zones",
            "2",
            "--interval",
            "1s",
            "--rate",
            "realtime",
            "--count",
            "4800",
            // One sensor stuck above critical from round 5: an open alert
            // for the alert panel's Ack button.
            "--stuck-sensors",
            "1",
            "--fault-after-rounds",
            "5",
        ],
    )?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let result = drive(&address).await;
    interrupt(&mut run)?;
    let _ = simulator.kill();
    let _ = simulator.wait();
    result
}

async fn drive(address: &str) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_get(address, "/api/zones")
        .unwrap_or_default()
        .contains("zone-02")
    {
        if Instant::now() > deadline {
            return Err("the server never listed the zones".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_browser");
    std::fs::create_dir_all(&out)?;
    let (_browser, mut page) = open(&format!("http://{address}/#/zone/zone-01")).await?;

    let read = "JSON.stringify({state: document.querySelector('#status')?.dataset.state, \
                values: [...document.querySelectorAll('[data-sensor] .value')].map(e => e.textContent)})";
    let state = |v: &Value| -> Result<(String, Vec<String>), Error> {
        let parsed: Value = serde_json::from_str(v.as_str().unwrap_or("{}"))?;
        let values = parsed["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        Ok((
            parsed["state"].as_str().unwrap_or_default().to_string(),
            values,
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let (status, values) = state(&page.eval(read).await?)?;
        if status == "connected"
            && values.len() == 20
            && values.iter().all(|v| !v.trim().is_empty())
        {
            break values;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "dashboard not live after 30 s: status {status:?}, values {values:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Live values change within 3 s (each sensor sends once a second).
    let started = Instant::now();
    let changed = loop {
        let (_, values) = state(&page.eval(read).await?)?;
        let changed = values.iter().zip(&first).filter(|(a, b)| a != b).count();
        if changed > 0 {
            break changed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no value changed within 3 s: {first:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "{changed} of 20 values changed after {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await; // let the charts fill a little
    page.screenshot(&out.join("zone-01.png")).await?;
    page.call(
        "Page.navigate",
        json!({"url": format!("http://{address}/#/")}),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let overview = page
        .eval("document.querySelector('#overview')?.innerText ?? ''")
        .await?;
    assert!(
        overview
            .as_str()
            .is_some_and(|t| t.contains("zone-01") && t.contains("zone-02")),
        "{overview}"
    );
    page.screenshot(&out.join("overview.png")).await?;
    pipeline_health_panel(&mut page).await?;
    ack_from_the_alert_panel(&mut page, address, &out).await
}

/// The pipeline-health panel shows `/health`: healthy, with the age of
/// the last durable commit (readings flow, so offsets become durable).
async fn pipeline_health_panel(page: &mut Page) -> Result<(), Error> {
    let read = "JSON.stringify({state: document.querySelector('#health')?.dataset.state,                 text: document.querySelector('#health')?.innerText ?? ''})";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let parsed: Value = serde_json::from_str(page.eval(read).await?.as_str().unwrap_or("{}"))?;
        let text = parsed["text"].as_str().unwrap_or_default().to_string();
        if parsed["state"] == "ok" && text.contains("Healthy") && text.contains(" s ago") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("health panel after 30 s: {parsed}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The stuck sensor's alert is listed in the alert panel; its Ack button
/// acknowledges it through the API, the `alert-control` topic and the
/// pipeline, and the row then shows who acked it.
async fn ack_from_the_alert_panel(
    page: &mut Page,
    address: &str,
    out: &std::path::Path,
) -> Result<(), Error> {
    let panel = "document.querySelector('#alert-list')?.innerText ?? ''";
    let deadline = Instant::now() + Duration::from_secs(60);
    let alert_id = loop {
        let id = page
            .eval(
                "document.querySelector('#alert-list [data-alert] .ack-btn')\
                 ?.closest('[data-alert]')?.dataset.alert ?? ''",
            )
            .await?;
        if let Some(id) = id.as_str().filter(|s| !s.is_empty()) {
            break id.to_string();
        }
        if Instant::now() > deadline {
            let text = page.eval(panel).await?;
            return Err(format!("no open alert with an Ack button after 60 s: {text}").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let row = format!(
        "[...document.querySelectorAll('#alert-list [data-alert]')].find(e => e.dataset.alert === {})",
        serde_json::to_string(&alert_id)?
    );
    let clicked = page
        .eval(&format!("(() => {{ const b = {row}?.querySelector('.ack-btn'); if (!b) return false; b.click(); return true; }})()"))
        .await?;
    assert_eq!(clicked, Value::Bool(true), "the Ack button of {alert_id}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored: Value =
            serde_json::from_str(&http_get(address, &format!("/api/alerts/{alert_id}"))?)?;
        let text = page.eval(&format!("{row}?.innerText ?? ''")).await?;
        let shown = text.as_str().unwrap_or_default();
        if stored["alert"]["acked_by"] == "dashboard" && shown.contains("acked by") {
            assert!(shown.contains("dashboard"), "{shown}");
            assert!(
                stored["events"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["event"] == "acked")),
                "{stored}"
            );
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the ack of {alert_id} did not show within 60 s: stored {}, row {shown:?}",
                stored["alert"]
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    page.screenshot(&out.join("alerts.png")).await?;
    Ok(())
}
