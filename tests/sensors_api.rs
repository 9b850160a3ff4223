//! Sensor registry management (issue 18, first part): `PUT` and `DELETE
//! /api/sensors/{id}` and `weir sensors put | rm` write registry records
//! that a live `weir run` applies, mirrors and keeps version by version
//! (`GET /api/sensors/{id}/versions`, `weir sensors get`); bad bodies are
//! refused with the field named; every change is in the audit log. Kinds
//! are data (`/api/kinds`): a new one is accepted by a running pipeline;
//! `POST /api/sensors/import` takes a CSV file, all or nothing.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::kafka::Outside;
use common::store::{Error, Fixture, tail};
use common::webhook::{free_port, now_ms, request, request_as};
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
    // Exported as CSV in the columns import reads, and imported back whole.
    let export = run_weir(&["sensors", "export", "--zone", "tube-9"], &fixture.env)?;
    let (exported, stderr) = text(&export);
    assert!(export.status.success(), "{stderr}");
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 3, "{exported}");
    assert!(
        lines[0].starts_with("sensor_id,kind,zone,location,unit,"),
        "{exported}"
    );
    assert!(
        lines[2].starts_with("co-csv-1,carbon_monoxide,tube-9,\"km 1,2\",ppm,,30,,50,0,10000,"),
        "{exported}"
    );
    let again = fixture.logs.join("exported.csv");
    std::fs::write(&again, &exported)?;
    let reimport = run_weir(
        &["sensors", "import", &again.display().to_string()],
        &fixture.env,
    )?;
    assert!(
        text(&reimport).0.contains("imported 2 sensors"),
        "{:?}",
        text(&reimport)
    );

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

#[test]
fn a_new_kind_is_taken_by_the_running_pipeline_and_csv_imports_through_the_api() -> Result<(), Error>
{
    let fixture = Fixture::new("sensors-kinds")?;
    let port = free_port()?;
    let api = format!("127.0.0.1:{port}");
    let _run = fixture.spawn_live("run", port, &[])?;
    wait_for("the server and its schema", || {
        Ok(request(&api, "GET", "/api/kinds/none_yet", "")
            .ok()
            .filter(|(status, _)| *status == 404))
    })?;

    // The built-in kinds; an unknown one is refused, naming how to add it.
    let (status, body) = request(&api, "GET", "/api/kinds", "")?;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<Value> = serde_json::from_str(&body)?;
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["kind"].as_str()).collect();
    assert_eq!(
        names,
        [
            "airflow",
            "carbon_monoxide",
            "heartbeat",
            "temperature",
            "voltage"
        ],
        "{body}"
    );
    let sensor = r#"{"kind": "vibration", "zone": "pump-3", "location": "bearing"}"#;
    let (status, answer) = request(&api, "PUT", "/api/sensors/vib-1", sensor)?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("unknown kind `vibration`") && answer.contains("/api/kinds/vibration"),
        "{answer}"
    );

    // A kind: bad bodies named, built-in ones fixed, then created and changed.
    for (path, body, want, named) in [
        (
            "/api/kinds/vibration",
            r#"{"unit": "mm/s"}"#,
            400,
            "valid_range",
        ),
        (
            "/api/kinds/vibration",
            r#"{"valid_range": {"min": 0, "max": 50}, "thresholds": {"warn_high": 9, "crit_high": 3}}"#,
            400,
            "thresholds.crit_high",
        ),
        (
            "/api/kinds/Vibration",
            r#"{"valid_range": {"min": 0, "max": 50}}"#,
            400,
            "name",
        ),
        (
            "/api/kinds/temperature",
            r#"{"valid_range": {"min": 0, "max": 50}}"#,
            409,
            "built-in",
        ),
    ] {
        let (status, answer) = request(&api, "PUT", path, body)?;
        assert_eq!(status, want, "{path} {body} → {answer}");
        assert!(answer.contains(named), "{answer} should name {named}");
    }
    let kind = r#"{"unit": "mm/s", "valid_range": {"min": 0, "max": 50},
                   "thresholds": {"warn_high": 7.1, "crit_high": 11.2}, "description": "ISO 10816 velocity"}"#;
    let (status, answer) = request(&api, "PUT", "/api/kinds/vibration", kind)?;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = request(&api, "PUT", "/api/kinds/vibration", kind)?;
    assert_eq!(status, 200, "{answer}");

    // A sensor of it takes its defaults; the running pipeline enriches,
    // range-checks and scores its readings.
    let (status, answer) = request(&api, "PUT", "/api/sensors/vib-1", sensor)?;
    assert_eq!(status, 202, "{answer}");
    let put: Value = serde_json::from_str(&answer)?;
    assert_eq!(put["sensor"]["unit"], "mm/s", "{answer}");
    assert_eq!(put["sensor"]["valid_range"]["max"], 50.0, "{answer}");
    assert_eq!(put["sensor"]["thresholds"]["crit_high"], 11.2, "{answer}");
    let valid_from = put["sensor"]["valid_from_ms"].as_i64().unwrap_or_default();
    wait_for("vib-1's version", || {
        Ok(Some(versions(&api, "vib-1")?).filter(|v| v.len() == 1))
    })?;
    let producer = Outside::new(&fixture.broker.address)?;
    let readings = fixture.topic("readings");
    // Normal, over the kind's critical threshold, outside its range; record
    // times past the version's by more than `reference_delay_ms` (1 s), so
    // the version applies to them, and sent once they are past (a record
    // time ahead of the wall clock would be flagged `clock_skew`).
    let first = valid_from + 2_000;
    while now_ms() < first + 2_000 {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, value) in [3.0, 12.5, 80.0].iter().enumerate() {
        let ts = first + i as i64 * 1_000;
        let payload = format!(r#"{{"sensorId":"vib-1","timestamp":{ts},"value":{value}}}"#);
        producer.send(&readings, b"vib-1", Some(payload.as_bytes()), Some(ts))?;
    }
    producer.flush()?;
    let mut db = fixture.db()?;
    let stored = wait_for("vib-1's readings and dead letter", || {
        let rows = db.query(
            "SELECT value, zone, flags FROM readings WHERE sensor_id = 'vib-1' ORDER BY time",
            &[],
        )?;
        let dead: i64 = db
            .query_one(
                "SELECT count(*) FROM dead_letters WHERE key = 'vib-1' AND reason = 'out_of_range'",
                &[],
            )?
            .get(0);
        let stored: Vec<(f64, String, Vec<String>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok((stored.len() == 2 && dead == 1).then_some(stored))
    })?;
    for (value, zone, flags) in &stored {
        assert_eq!(zone, "pump-3", "{value}: {stored:?}");
        assert!(flags.is_empty(), "registered, in time: {stored:?}");
    }
    let anomaly = wait_for("the threshold anomaly", || {
        let rows = db.query(
            "SELECT value, threshold_kind, severity FROM anomalies WHERE sensor_id = 'vib-1'",
            &[],
        )?;
        Ok(rows.first().map(|r| {
            (
                r.get::<_, f64>(0),
                r.get::<_, Option<String>>(1),
                r.get::<_, String>(2),
            )
        }))
    })?;
    assert_eq!(
        anomaly,
        (12.5, Some("crithigh".to_string()), "critical".to_string())
    );

    // A kind in use cannot go; the audit log has it.
    wait_for("vib-1 in the mirror", || {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM sensors WHERE sensor_id = 'vib-1'",
                &[],
            )?
            .get(0);
        Ok((n == 1).then_some(()))
    })?;
    let (status, answer) = request(&api, "DELETE", "/api/kinds/vibration", "")?;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("vib-1"), "{answer}");
    let (_, audit) = request(&api, "GET", "/api/audit?action=kind.put", "")?;
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&audit)?.len(),
        2,
        "{audit}"
    );

    // CSV through the API: JSON is refused (415); one bad row stops the
    // file (400, each bad row named by line) unless partial=true.
    let csv = "sensor_id,kind,zone,location,valid_min,valid_max\r\n\
               vib-2,vibration,pump-4,\"inlet, north\",,\r\n\
               vib-3,vibration,pump-4,,10,2\r\n\
               tmp-csv,temperature,pump-4,,,\r\n\
               vib-4,plasma,pump-4,,,\r\n";
    let (status, answer) = request(&api, "POST", "/api/sensors/import", csv)?;
    assert_eq!(status, 415, "{answer}");
    let (status, answer) = request_as(&api, "POST", "/api/sensors/import", "text/csv", csv)?;
    assert_eq!(status, 400, "{answer}");
    let refused: Value = serde_json::from_str(&answer)?;
    let lines: Vec<i64> = refused["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|r| r["line"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(lines, [3, 5], "{answer}");
    assert!(
        answer.contains("valid_range") && answer.contains("plasma"),
        "{answer}"
    );
    assert!(answer.contains("nothing written"), "{answer}");
    let (status, answer) = request_as(
        &api,
        "POST",
        "/api/sensors/import?partial=true",
        "text/csv",
        csv,
    )?;
    assert_eq!(status, 202, "{answer}");
    let taken: Value = serde_json::from_str(&answer)?;
    assert_eq!(taken["imported"], 2, "{answer}");
    let imported = wait_for("the imported sensors", || {
        let rows = db.query(
            "SELECT sensor_id, unit, location FROM sensors WHERE zone = 'pump-4' ORDER BY sensor_id",
            &[],
        )?;
        let got: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok((got.len() == 2).then_some(got))
    })?;
    assert_eq!(
        imported,
        [
            ("tmp-csv".into(), "°C".into(), String::new()),
            ("vib-2".into(), "mm/s".into(), "inlet, north".into())
        ]
    );
    // Nothing went wrong, so nothing is logged as an error (librdkafka
    // reported every partition's end as one before).
    let log = std::fs::read_to_string(fixture.log_path("run"))?;
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        !log.contains("panicked"),
        "{}",
        tail(&fixture.log_path("run"))
    );
    Ok(())
}
