//! The dashboard in a real browser (issue #5, criterion 3; issue #17):
//! headless Chromium (Debian's `chromium`, driven over its DevTools
//! protocol) loads the dashboard from a running pipeline that asks for
//! tokens. A wrong token is refused on the sign-in form; a viewer limited
//! to the stuck sensor's zone sees live values change within 3 s, only its
//! zone, and the open alert without an Ack button; after signing out, an
//! operator sees every zone, a healthy pipeline-health panel, acknowledges
//! the alert with the Ack button, and the acknowledgement is stored under
//! the operator's token name and shown. Screenshots go under the test's
//! output directory.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::browser::{Page, http_get_as, open};
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
    fixture
        .env
        .push(("WEIR_SERVER__AUTH__ENABLED".into(), "true".into()));
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
    let operator = create_token(&fixture, &["--name", "ops", "--role", "operator"])?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let result = drive(&fixture, &address, &operator).await;
    interrupt(&mut run)?;
    let _ = simulator.kill();
    let _ = simulator.wait();
    result
}

/// `weir token create … --json`: the token.
fn create_token(fixture: &common::store::Fixture, args: &[&str]) -> Result<String, Error> {
    let mut all = vec!["token", "create", "--json", "--expires", "1h"];
    all.extend_from_slice(args);
    let output = common::run_weir(&all, &fixture.env)?;
    let (stdout, stderr) = common::text(&output);
    if !output.status.success() {
        return Err(format!("weir token create: {stderr}").into());
    }
    let created: Value = serde_json::from_str(stdout.trim())?;
    created["token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("no token in {stdout}").into())
}

/// Types `token` into the sign-in form and submits it.
async fn sign_in(page: &mut Page, token: &str) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while page
        .eval("document.getElementById('signin')?.hidden === false")
        .await?
        != Value::Bool(true)
    {
        if Instant::now() > deadline {
            return Err("no sign-in form within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let submit = format!(
        "(() => {{ document.getElementById('signin-token').value = {}; \
         document.getElementById('signin').requestSubmit(); return true; }})()",
        serde_json::to_string(token)?
    );
    page.eval(&submit).await?;
    Ok(())
}

async fn drive(
    fixture: &common::store::Fixture,
    address: &str,
    operator: &str,
) -> Result<(), Error> {
    // Without a token the API answers 401; the stuck sensor's alert names
    // the zone the viewer will be limited to.
    assert!(
        http_get_as(address, "/api/zones", None)
            .unwrap_or_default()
            .contains("unauthorized")
            || http_get_as(address, "/api/zones", None).is_err()
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let zone = loop {
        let open: Value = serde_json::from_str(
            &http_get_as(address, "/api/alerts?state=open", Some(operator))
                .unwrap_or_else(|_| "[]".into()),
        )
        .unwrap_or(Value::Null);
        if let Some(zone) = open[0]["zone"].as_str() {
            break zone.to_string();
        }
        if Instant::now() > deadline {
            return Err("no open alert within 90 s".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let other = if zone == "zone-01" {
        "zone-02"
    } else {
        "zone-01"
    };
    let viewer = create_token(
        fixture,
        &["--name", "watcher", "--role", "viewer", "--zone", &zone],
    )?;
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_browser");
    std::fs::create_dir_all(&out)?;
    let (_browser, mut page) = open(&format!("http://{address}/#/zone/{zone}")).await?;

    // A token nobody issued is refused on the form.
    sign_in(
        &mut page,
        "weir_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let error = page
            .eval("document.getElementById('signin-error')?.innerText ?? ''")
            .await?;
        if error.as_str().is_some_and(|e| e.contains("unknown")) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("no sign-in error for a wrong token: {error}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    page.screenshot(&out.join("signin.png")).await?;
    sign_in(&mut page, &viewer).await?;

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
    page.screenshot(&out.join("viewer-zone.png")).await?;
    let who = page
        .eval("document.getElementById('who')?.dataset.role ?? ''")
        .await?;
    assert_eq!(who, Value::String("viewer".into()));
    // The viewer's overview holds its zone only, and its alert panel the
    // stuck sensor's alert without an Ack button.
    overview(&mut page, address, &[zone.as_str()], &[other]).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = page
            .eval("JSON.stringify({rows: document.querySelectorAll('#alert-list [data-alert]').length, \
                   buttons: document.querySelectorAll('#alert-list .ack-btn').length})")
            .await?;
        let parsed: Value = serde_json::from_str(rows.as_str().unwrap_or("{}"))?;
        if parsed["rows"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(parsed["buttons"], 0, "a viewer is offered no Ack: {parsed}");
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the viewer's alert panel stayed empty: {parsed}").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    page.screenshot(&out.join("viewer-overview.png")).await?;

    // Sign out; sign in as the operator: every zone, and the Ack button.
    page.eval("document.getElementById('signout').click()")
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sign_in(&mut page, operator).await?;
    overview(&mut page, address, &["zone-01", "zone-02"], &[]).await?;
    page.screenshot(&out.join("overview.png")).await?;
    pipeline_health_panel(&mut page).await?;
    ack_from_the_alert_panel(&mut page, address, operator, &out).await
}

/// The overview lists `shown` zones and none of `hidden`.
async fn overview(
    page: &mut Page,
    address: &str,
    shown: &[&str],
    hidden: &[&str],
) -> Result<(), Error> {
    page.call(
        "Page.navigate",
        json!({"url": format!("http://{address}/#/")}),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = page
            .eval("document.querySelector('#overview')?.innerText ?? ''")
            .await?;
        let text = text.as_str().unwrap_or_default();
        if shown.iter().all(|z| text.contains(z)) {
            for zone in hidden {
                assert!(!text.contains(zone), "{zone} shown: {text}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("overview without {shown:?}: {text}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
    operator: &str,
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
        let stored: Value = serde_json::from_str(&http_get_as(
            address,
            &format!("/api/alerts/{alert_id}"),
            Some(operator),
        )?)?;
        let text = page.eval(&format!("{row}?.innerText ?? ''")).await?;
        let shown = text.as_str().unwrap_or_default();
        if stored["alert"]["acked_by"] == "ops" && shown.contains("acked by") {
            assert!(shown.contains("ops"), "{shown}");
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
