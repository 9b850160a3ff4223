//! Sensor registry management (issue 18, first part): `PUT` and `DELETE
//! /api/sensors/{id}` and `weir sensors put | rm` write registry records
//! that a live `weir run` applies, mirrors and keeps version by version
//! (`GET /api/sensors/{id}/versions`, `weir sensors get`); bad bodies are
//! refused with the field named; every change is in the audit log.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::store::{Error, Fixture, tail};
use common::webhook::{free_port, request};
use common::{run_weir, text};

/// Polls `check` every 200 ms until it returns `Some`, or fails after 60 s.
fn wait_for<T>(
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after 60 s waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The versions the API lists for `id` (empty while there are none).
fn versions(api: &str, id: &str) -> Result<Vec<Value>, Error> {
    let (status, body) = request(api, "GET", &format!("/api/sensors/{id}/versions"), "")?;
    match status {
        200 => Ok(serde_json::from_str::<Vec<Value>>(&body)?),
        404 => Ok(Vec::new()),
        _ => Err(format!("versions of {id}: {status} {body}").into()),
    }
}

#[test]
fn sensors_change_through_the_api_and_the_cli_version_by_version() -> Result<(), Error> {
    let fixture = Fixture::new("sensors-api")?;
    let port = free_port()?;
    let api = format!("127.0.0.1:{port}");
    let _run = fixture.spawn_live("run", port, &[])?;
    // The server listens before `weir run` has migrated its schema: wait
    // for a table-backed answer (404 for an unknown sensor, not 503).
    wait_for("the server and its schema", || {
        Ok(request(&api, "GET", "/api/sensors/none-yet/versions", "")
            .ok()
            .filter(|(status, _)| *status == 404))
    })?;

    // Refused, each naming what is wrong; nothing is written.
    for (body, named) in [
        (
            r#"{"kind": "temperature", "zone": "north", "thresholds": {"warn_high": 60, "crit_high": 40}}"#,
            "thresholds",
        ),
        (
            r#"{"kind": "temperature", "zone": "north", "colour": "red"}"#,
            "`colour`",
        ),
        (r#"{"kind": "plasma", "zone": "north"}"#, "kind"),
        (
            r#"{"kind": "temperature", "zone": "north", "sensor_id": "tmp-other"}"#,
            "sensor_id",
        ),
        (r#"{"kind": "temperature", "zone": "nor\u0000th"}"#, "zone"),
        (
            r#"{"kind": "temperature", "zone": "north", "valid_range": {"min": 5, "max": 1}}"#,
            "valid_range",
        ),
    ] {
        let (status, answer) = request(&api, "PUT", "/api/sensors/tmp-api", body)?;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            answer.contains(named),
            "{body} → {answer} (should name {named})"
        );
    }

    // Created, then moved to another zone from a later event time.
    let first = r#"{"kind": "temperature", "zone": "north", "location": "portal", "thresholds": {"warn_high": 40, "crit_high": 60}}"#;
    let (status, answer) = request(&api, "PUT", "/api/sensors/tmp-api", first)?;
    assert_eq!(status, 202, "{answer}");
    let created: Value = serde_json::from_str(&answer)?;
    assert_eq!(created["sensor"]["unit"], "°C", "kind default: {answer}");
    let one = wait_for("the first version", || {
        Ok(Some(versions(&api, "tmp-api")?).filter(|v| v.len() == 1))
    })?;
    assert_eq!(one[0]["sensor"]["zone"], "north", "{one:?}");
    // A second after the first version (already past): readings from then
    // on are in the new zone.
    let moved_from = one[0]["valid_from_ms"].as_i64().unwrap_or_default() + 1_000;
    let second = format!(
        r#"{{"kind": "temperature", "zone": "south", "location": "portal", "valid_from_ms": {moved_from}}}"#
    );
    let (status, answer) = request(&api, "PUT", "/api/sensors/tmp-api", &second)?;
    assert_eq!(status, 202, "{answer}");
    let two = wait_for("the second version", || {
        Ok(Some(versions(&api, "tmp-api")?).filter(|v| v.len() == 2))
    })?;
    assert_eq!(two[1]["sensor"]["zone"], "south", "{two:?}");
    assert_eq!(
        two[1]["valid_from_ms"].as_i64(),
        Some(moved_from),
        "{two:?}"
    );

    // The CLI: another sensor from a file, read back with its versions, removed.
    let file = fixture.logs.join("vlt-cli.json");
    std::fs::write(
        &file,
        r#"{"kind": "voltage", "zone": "grid-7", "valid_range": {"min": 0, "max": 500}}"#,
    )?;
    let put = run_weir(
        &[
            "sensors",
            "put",
            "vlt-cli",
            "--file",
            &file.display().to_string(),
        ],
        &fixture.env,
    )?;
    assert!(put.status.success(), "sensors put: {:?}", text(&put));
    let bad_file = fixture.logs.join("bad.json");
    std::fs::write(&bad_file, r#"{"kind": "voltage", "zone": ""}"#)?;
    let bad = run_weir(
        &[
            "sensors",
            "put",
            "vlt-bad",
            "--file",
            &bad_file.display().to_string(),
        ],
        &fixture.env,
    )?;
    assert!(!bad.status.success(), "an empty zone was taken");
    assert!(text(&bad).1.contains("zone"), "{:?}", text(&bad));
    wait_for("vlt-cli in the mirror", || {
        let list = run_weir(&["sensors", "list", "--zone", "grid-7"], &fixture.env)?;
        Ok(text(&list).0.contains("vlt-cli").then_some(()))
    })?;
    let get = run_weir(&["sensors", "get", "vlt-cli"], &fixture.env)?;
    let got: Value = serde_json::from_str(&text(&get).0)?;
    assert_eq!(
        got["current"]["sensor"]["valid_range"]["max"], 500.0,
        "{got}"
    );
    let rm = run_weir(&["sensors", "rm", "vlt-cli"], &fixture.env)?;
    assert!(rm.status.success(), "sensors rm: {:?}", text(&rm));
    wait_for("the removal", || {
        let v = versions(&api, "vlt-cli")?;
        Ok(v.last().filter(|l| l["removed"] == true).map(|_| ()))
    })?;

    // A CSV import: one bad row stops the file unless --partial.
    let csv = fixture.logs.join("fleet.csv");
    std::fs::write(
        &csv,
        "sensor_id,kind,zone,location,warn_high,crit_high\r\n\
         co-csv-1,carbon_monoxide,tube-9,\"km 1,2\",30,50\r\n\
         co-csv-2,carbon_monoxide,tube-9,km 1.4,50,30\r\n\
         air-csv-3,airflow,tube-9,,,\r\n",
    )?;
    let csv_path = csv.display().to_string();
    let all = run_weir(&["sensors", "import", &csv_path], &fixture.env)?;
    let (_, stderr) = text(&all);
    assert!(!all.status.success(), "a bad row was imported: {stderr}");
    assert!(
        stderr.contains("fleet.csv:3: sensor `co-csv-2`") && stderr.contains("thresholds"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing written"), "{stderr}");
    let partial = run_weir(&["sensors", "import", &csv_path, "--partial"], &fixture.env)?;
    assert!(partial.status.success(), "{:?}", text(&partial));
    assert!(
        text(&partial).0.contains("imported 2 sensors"),
        "{:?}",
        text(&partial)
    );
    let listed = wait_for("the imported sensors", || {
        let list = run_weir(&["sensors", "list", "--zone", "tube-9"], &fixture.env)?;
        let out = text(&list).0;
        Ok((out.contains("co-csv-1") && out.contains("air-csv-3")).then_some(out))
    })?;
    assert!(!listed.contains("co-csv-2"), "{listed}");
    assert!(listed.contains("km 1,2"), "{listed}");

    // Removed through the API; then it is unknown.
    let (status, answer) = request(&api, "DELETE", "/api/sensors/tmp-api", "")?;
    assert_eq!(status, 202, "{answer}");
    let three = wait_for("tmp-api removed", || {
        let v = versions(&api, "tmp-api")?;
        Ok((v.last().is_some_and(|l| l["removed"] == true)).then_some(v))
    })?;
    let (status, answer) = request(&api, "DELETE", "/api/sensors/tmp-api", "")?;
    assert_eq!(status, 404, "a removed sensor is unknown: {answer}");
    assert_eq!(three.len(), 3, "{three:?}");
    assert_eq!(three[2]["removed"], true, "{three:?}");

    // Who did what.
    let (status, audit) = request(&api, "GET", "/api/audit?action=sensor.put", "")?;
    assert_eq!(status, 200, "{audit}");
    let puts: Vec<Value> = serde_json::from_str(&audit)?;
    let targets: Vec<&str> = puts.iter().filter_map(|a| a["target"].as_str()).collect();
    assert_eq!(
        targets.iter().filter(|t| **t == "tmp-api").count(),
        2,
        "{audit}"
    );
    assert!(
        puts.iter().any(|a| a["target"] == "vlt-cli"
            && a["actor"].as_str().is_some_and(|s| s.starts_with("cli:"))),
        "{audit}"
    );
    let (_, deletes) = request(&api, "GET", "/api/audit?action=sensor.delete", "")?;
    assert!(
        deletes.contains("tmp-api") && deletes.contains("vlt-cli"),
        "{deletes}"
    );
    assert!(
        !tail(&fixture.log_path("run")).contains("panicked"),
        "{}",
        tail(&fixture.log_path("run"))
    );
    Ok(())
}
