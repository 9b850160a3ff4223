//! The history API through the real pipeline (issue #5, criterion 2): each
//! source choice (hot tier, raw readings, 5-minute and 1-hour windows) with
//! the points it must hold, the point limit, bad parameters and unknown
//! sensors, all answered as JSON with the reason.

mod common;

use std::time::Duration;

use serde_json::Value;
use std::io::{Read, Write};
use weir::simulate::{Generator, SimulatorConfig};

use common::store::{Error, Fixture, interrupt, wait_for_value};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const INTERVAL_MS: i64 = 30_000;

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// (status, JSON body) of `GET path` (plain HTTP/1.1 over a std socket).
fn get(address: &str, path: &str) -> Result<(u16, Value), Error> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // Chunked or not: the JSON is the part between the first `{`/`[` and the last `}`/`]`.
    let start = body
        .find(['{', '['])
        .ok_or_else(|| format!("no JSON in {text}"))?;
    let end = body.rfind(['}', ']']).ok_or("no JSON end")? + 1;
    Ok((status, serde_json::from_str(&body[start..end])?))
}

#[test]
fn history_picks_its_source_by_range_and_refuses_bad_requests() -> Result<(), Error> {
    let mut fixture = Fixture::new("servehistory")?;
    let address = format!("127.0.0.1:{}", free_port()?);
    fixture
        .env
        .push(("WEIR_SERVER__LISTEN".into(), address.clone()));
    fixture
        .env
        .push(("WEIR_SERVER__MAX_POINTS".into(), "1000".into()));
    // 10 sensors, one reading each per 30 s, for the last 26 hours.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = (now - 26 * HOUR) - (now - 26 * HOUR).rem_euclid(HOUR);
    let sim = SimulatorConfig {
        sensors: 10,
        zones: 2,
        interval_ms: INTERVAL_MS as u64,
        count: 10 * 26 * 120,
        rate_per_sec: f64::INFINITY,
        seed: 5,
        start_ms: start,
        ..SimulatorConfig::default()
    };
    fixture.simulate(&sim)?;
    let id = Generator::new(&sim, 0)?.fleet().sensors[0]
        .sensor
        .sensor_id
        .as_str()
        .to_string();
    let last = start + (26 * 120 - 1) * INTERVAL_MS;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let stored = wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        sim.count as i64,
        Duration::from_secs(300),
    );
    let result = match stored {
        Ok(()) => checks(&fixture, &address, &id, last),
        Err(e) => Err(e),
    };
    interrupt(&mut run)?;
    result
}

fn checks(fixture: &Fixture, address: &str, id: &str, last: i64) -> Result<(), Error> {
    let mut db = fixture.db()?;
    let count = |db: &mut postgres::Client, sql: &str, from: i64, to: i64| -> Result<i64, Error> {
        let from = std::time::UNIX_EPOCH + Duration::from_millis(from as u64);
        let to = std::time::UNIX_EPOCH + Duration::from_millis(to as u64);
        Ok(db.query_one(sql, &[&id, &from, &to])?.get(0))
    };
    let history = |from: i64, to: i64, resolution: &str| {
        format!("/api/sensors/{id}/history?from={from}&to={to}&resolution={resolution}")
    };

    // The last 30 minutes: the hot tier, every point (one per 30 s).
    let (status, body) = get(address, &history(last - HOUR / 2, last, "auto"))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "hot", "{body}");
    assert_eq!(body["resolution"], "raw");
    let points = body["points"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(
        points, 61,
        "30 min at one reading per 30 s, both ends included: {body}"
    );
    assert_eq!(body["points"][60]["t"], last);

    // 70 minutes: past the hot tier's range, raw readings from PostgreSQL.
    let (from, to) = (last - 70 * 60_000, last);
    let (status, body) = get(address, &history(from, to, "raw"))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "readings");
    let want = count(
        &mut db,
        "SELECT count(*) FROM readings WHERE sensor_id = $1 AND time >= $2 AND time <= $3",
        from,
        to,
    )?;
    assert_eq!(body["points"].as_array().map(Vec::len), Some(want as usize));
    assert_eq!(want, 141);

    // Past the point limit (1,000): nine hours of raw readings are refused with the reason.
    let (status, body) = get(address, &history(last - 9 * HOUR, last, "raw"))?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "too_many_points");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("1000")),
        "{body}"
    );

    // Two hours, resolution auto: beyond the hot tier's hour, raw readings.
    let (status, body) = get(address, &history(last - 2 * HOUR, last, "auto"))?;
    assert_eq!(
        (status, body["source"].as_str()),
        (200, Some("readings")),
        "{body}"
    );
    assert_eq!(body["points"].as_array().map(Vec::len), Some(241));

    // Asked for 5-minute windows: sensor_5m, row for row.
    let (from, to) = (last - 10 * HOUR, last);
    let (status, body) = get(address, &history(from, to, "5m"))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "sensor_5m");
    let want = count(
        &mut db,
        "SELECT count(*) FROM sensor_5m WHERE sensor_id = $1 AND bucket >= $2 AND bucket <= $3",
        from,
        to,
    )?;
    assert_eq!(body["points"].as_array().map(Vec::len), Some(want as usize));
    assert!(want >= 119, "{want} windows");
    assert_eq!(
        body["points"][0]["count"], 10,
        "a full 5-minute window holds 10 readings: {}",
        body["points"][0]
    );

    // Eight days: beyond raw; auto picks 5-minute windows, past the limit here; 1-hour windows answer.
    let (status, body) = get(address, &history(last - 8 * DAY, last, "auto"))?;
    assert_eq!(
        status, 400,
        "auto over 8 days picks sensor_5m, over the limit: {body}"
    );
    assert_eq!(body["error"], "too_many_points");
    let (status, body) = get(address, &history(last - 8 * DAY, last, "1h"))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "sensor_1h");
    let want = count(
        &mut db,
        "SELECT count(*) FROM sensor_1h WHERE sensor_id = $1 AND bucket >= $2 AND bucket <= $3",
        last - 8 * DAY,
        last,
    )?;
    assert_eq!(body["points"].as_array().map(Vec::len), Some(want as usize));
    assert_eq!(want, 26, "26 hours of data");
    // Over 30 days, auto picks 1-hour windows by itself.
    let (status, body) = get(address, &history(last - 32 * DAY, last, "auto"))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "sensor_1h");
    assert_eq!(body["points"].as_array().map(Vec::len), Some(26));

    // Bad parameters and unknown sensors.
    for (path, code, needle) in [
        (
            format!("/api/sensors/{id}/history?from=soon"),
            400,
            "`from`",
        ),
        (
            format!("/api/sensors/{id}/history?from=10&to=5"),
            400,
            "after `to`",
        ),
        (
            format!("/api/sensors/{id}/history?resolution=2m"),
            400,
            "`resolution`",
        ),
        (
            format!(
                "/api/sensors/{id}/history?from=0&to={}&resolution=raw",
                8 * DAY
            ),
            400,
            "7 days",
        ),
        (
            "/api/sensors/no-such-sensor/history?from=0&to=1000".to_string(),
            404,
            "no-such-sensor",
        ),
        (
            "/api/sensors/no-such-sensor".to_string(),
            404,
            "no-such-sensor",
        ),
    ] {
        let (status, body) = get(address, &path)?;
        assert_eq!(status, code, "{path}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(needle)),
            "{path}: {body}"
        );
    }
    Ok(())
}
