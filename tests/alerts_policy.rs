//! Alerting through the real pipeline (issue #6, criteria 1, 2 and 5): the
//! simulator's fault injection, `weir run --until-end`, the alert tables in
//! PostgreSQL and a real webhook receiver.
//!
//! - A sensor stuck high for 100 readings, normal, then stuck again inside
//!   the cooldown: one alert, escalated once, resolved; a suppression; a new
//!   alert after the cooldown.
//! - Six sensors of one zone going critical within 60 s: one grouped zone
//!   alert listing all six; those that fired before the group formed were
//!   delivered and are folded in, the others inhibited.
//! - The same input replayed into a fresh schema on another cluster shape
//!   makes the same decisions, event for event.
//! - Every deliverable event reaches the webhook exactly once, in event
//!   order, with its idempotency key.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use weir::simulate::{Generator, SimulatorConfig};

use common::store::{Error, Fixture, finish, pinned_start_ms};
use common::webhook::{Behaviour, Receiver, free_port, signed_webhook_env};

const SENSORS: u32 = 30;
const ZONES: u32 = 5;
const ROUNDS: u64 = 320;
const INTERVAL_MS: u64 = 10_000;

/// (event, deliver, round) of one alert key's events, by event time.
fn key_events(
    db: &mut postgres::Client,
    sensor: &str,
    kind: &str,
    start: i64,
) -> Result<Vec<(String, bool, i64)>, Error> {
    Ok(db
        .query(
            "SELECT e.event, e.deliver, (extract(epoch FROM e.time) * 1000)::bigint \
             FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.sensor_id = $1 AND a.kind = $2 ORDER BY e.time, e.event_id",
            &[&sensor, &kind],
        )?
        .iter()
        .map(|r| {
            let ts: i64 = r.get(2);
            (r.get(0), r.get(1), (ts - start) / INTERVAL_MS as i64)
        })
        .collect())
}

/// Every stored alert event: id → (event, deliver, reason, event time).
type Decisions = BTreeMap<String, (String, bool, Option<String>, i64)>;

fn decisions(db: &mut postgres::Client) -> Result<Decisions, Error> {
    Ok(db
        .query(
            "SELECT event_id, event, deliver, reason, (extract(epoch FROM time) * 1000)::bigint \
             FROM alert_events",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect())
}

#[test]
fn alerts_are_deduplicated_escalated_grouped_delivered_and_replayed_alike() -> Result<(), Error> {
    let mut fixture = Fixture::new("alerts")?;
    let start = pinned_start_ms();
    let sim = SimulatorConfig {
        sensors: SENSORS,
        zones: ZONES,
        interval_ms: INTERVAL_MS,
        count: u64::from(SENSORS) * ROUNDS,
        rate_per_sec: f64::INFINITY,
        seed: 11,
        start_ms: start,
        stuck_sensors: 1,
        stuck_windows: "40-140,185-260".into(),
        ..SimulatorConfig::default()
    };
    let generator = Generator::new(&sim, 0)?;
    let stuck = generator
        .fleet()
        .sensors
        .iter()
        .find(|s| s.stuck)
        .ok_or("no stuck sensor")?;
    let stuck_id = stuck.sensor.sensor_id.as_str().to_string();
    // The abnormal zone: one without the stuck sensor.
    let zone = (1..=ZONES)
        .map(|z| format!("zone-{z:02}"))
        .find(|z| *z != stuck.sensor.zone)
        .ok_or("no other zone")?;
    let members: BTreeSet<String> = generator
        .fleet()
        .sensors
        .iter()
        .filter(|s| s.sensor.zone == zone)
        .map(|s| s.sensor.sensor_id.as_str().to_string())
        .collect();
    assert_eq!(members.len(), 6, "six sensors per zone");

    let mut args = Fixture::simulate_args(&sim, "max");
    args.extend(
        [
            "--stuck-sensors",
            "1",
            "--stuck-windows",
            "40-140,185-260",
            "--abnormal-zone",
            &zone,
            "--abnormal-windows",
            "60-90",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run_weir(&args, &fixture.env)?;
    assert!(
        output.status.success(),
        "simulate: {:?}",
        common::text(&output)
    );

    // Run A: one worker, delivering to a webhook receiver that checks every
    // request's signature and Authorization header.
    let port = free_port()?;
    let secret = "hook-secret-7f3a";
    let receiver = Receiver::start_with(
        port,
        Behaviour {
            secret: Some(secret.into()),
            require_header: Some(("Authorization".into(), "Bearer hook-token".into())),
            ..Behaviour::default()
        },
    )?;
    fixture.env.push(signed_webhook_env(port, secret));
    let mut first = fixture.spawn_run("one-worker", &["-w", "1", "--no-server"])?;
    finish(&fixture, &mut first, "one-worker", Duration::from_secs(300))?;
    let mut db = fixture.db()?;

    // 1. The stuck sensor: rounds 40–139 and 185–259 stuck high.
    let events = key_events(&mut db, &stuck_id, "threshold_high", start)?;
    let expected: Vec<(String, bool, i64)> = [
        ("fired", true, 40),
        ("escalated", true, 100),
        ("resolved", true, 169),
        ("suppressed", false, 185),
        ("fired", true, 199),
        ("escalated", true, 259),
        ("resolved", true, 289),
    ]
    .iter()
    .map(|(e, d, r)| (e.to_string(), *d, *r))
    .collect();
    assert_eq!(events, expected, "{stuck_id}'s threshold alerts");
    let first_alert: (i64, String, String) = db
        .query_one(
            "SELECT occurrences, level, state FROM alerts WHERE sensor_id = $1 AND kind = 'threshold_high' \
             ORDER BY fired_at LIMIT 1",
            &[&stuck_id],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))?;
    assert_eq!(
        first_alert,
        (100, "page".into(), "resolved".into()),
        "one alert for 100 anomalous readings"
    );

    // 2. The abnormal zone: one zone alert listing all six.
    let zone_alerts = db.query(
        "SELECT alert_id, members, status FROM alerts WHERE scope = 'zone' AND zone = $1",
        &[&zone],
    )?;
    assert_eq!(zone_alerts.len(), 1, "one grouped alert for {zone}");
    let listed: BTreeSet<String> = zone_alerts[0]
        .get::<_, Vec<String>>(1)
        .into_iter()
        .collect();
    assert_eq!(listed, members, "the zone alert lists all six");
    let zone_id: String = zone_alerts[0].get(0);
    let zone_events: Vec<(String, bool)> = db
        .query(
            "SELECT event, deliver FROM alert_events WHERE alert_id = $1 ORDER BY time, event_id",
            &[&zone_id],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(zone_events.first(), Some(&("fired".into(), true)));
    assert_eq!(zone_events.last(), Some(&("resolved".into(), true)));
    let statuses: BTreeMap<String, (String, Option<String>)> = db
        .query(
            "SELECT sensor_id, status, group_id FROM alerts WHERE zone = $1 AND scope = 'sensor' \
             AND kind = 'threshold_high'",
            &[&zone],
        )?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    // The input is pinned (the simulator's daily cycle starts at the same
    // time of day on every run), so every decision is: the four sensors
    // that fired before the fifth formed the group were delivered, then
    // folded in; the fifth and sixth were inhibited.
    let split: BTreeMap<&str, &str> = statuses
        .iter()
        .map(|(sensor, (status, _))| (sensor.as_str(), status.as_str()))
        .collect();
    assert_eq!(
        split,
        BTreeMap::from([
            ("air-00003", "grouped"),
            ("co-00002", "grouped"),
            ("co-00006", "inhibited"),
            ("tmp-00001", "grouped"),
            ("tmp-00005", "inhibited"),
            ("vlt-00004", "grouped"),
        ]),
        "{statuses:?}"
    );
    assert!(
        statuses
            .values()
            .all(|(_, g)| g.as_deref() == Some(zone_id.as_str())),
        "{statuses:?}"
    );
    // Every event of the zone, in order: (alert's sensor or `zone`, kind,
    // event, delivered, ms after the start).
    let zone_list: Vec<(String, String, String, bool, i64)> = db
        .query(
            "SELECT coalesce(a.sensor_id, 'zone'), a.kind, e.event, e.deliver, \
             (extract(epoch FROM e.time) * 1000)::bigint - $2 \
             FROM alert_events e JOIN alerts a USING (alert_id) WHERE a.zone = $1 \
             ORDER BY e.time, e.event_id",
            &[&zone, &start],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let expected_list: Vec<(String, String, String, bool, i64)> = [
        ("vlt-00004", "zscore", "fired", true, 351_000),
        ("tmp-00001", "threshold_high", "fired", true, 600_000),
        ("co-00002", "threshold_high", "fired", true, 600_333),
        ("air-00003", "threshold_high", "fired", true, 600_666),
        ("vlt-00004", "threshold_high", "fired", true, 601_000),
        ("air-00003", "threshold_high", "grouped", false, 601_333),
        ("co-00002", "threshold_high", "grouped", false, 601_333),
        ("tmp-00001", "threshold_high", "grouped", false, 601_333),
        ("tmp-00005", "threshold_high", "inhibited", false, 601_333),
        ("vlt-00004", "threshold_high", "grouped", false, 601_333),
        ("vlt-00004", "zscore", "grouped", false, 601_333),
        ("zone", "zone", "fired", true, 601_333),
        ("co-00006", "threshold_high", "inhibited", false, 601_666),
        ("zone", "zone", "updated", true, 601_666),
        ("vlt-00004", "zscore", "resolved", false, 651_000),
        ("tmp-00001", "threshold_high", "resolved", false, 1_190_000),
        ("co-00002", "threshold_high", "resolved", false, 1_190_333),
        ("air-00003", "threshold_high", "resolved", false, 1_190_666),
        ("vlt-00004", "threshold_high", "resolved", false, 1_191_000),
        ("tmp-00005", "threshold_high", "resolved", false, 1_191_333),
        ("co-00006", "threshold_high", "resolved", false, 1_191_666),
        ("zone", "zone", "resolved", true, 1_191_666),
    ]
    .iter()
    .map(|(s, k, e, d, t)| (s.to_string(), k.to_string(), e.to_string(), *d, *t))
    .collect();
    assert_eq!(
        zone_list, expected_list,
        "the zone's decisions, event for event"
    );
    // Members send nothing once the zone alert has fired.
    let member_deliveries: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.group_id = $1 AND e.deliver \
             AND e.time >= (SELECT fired_at FROM alerts WHERE alert_id = $1)",
            &[&zone_id],
        )?
        .get(0);
    assert_eq!(member_deliveries, 0, "members send nothing once grouped");

    // 4. Delivery: every deliverable event reached the webhook once, in order.
    let deliverable: BTreeSet<String> = db
        .query("SELECT event_id FROM alert_events WHERE deliver", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let received = receiver.received();
    let keys: Vec<String> = received.iter().map(|r| r.key.clone()).collect();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), unique.len(), "no event delivered twice");
    assert_eq!(
        unique, deliverable,
        "every deliverable event, and only those"
    );
    assert!(
        received
            .iter()
            .all(|r| r.body["idempotency_key"] == r.key.as_str()),
        "the key is in the payload too"
    );
    let times: Vec<i64> = received
        .iter()
        .filter_map(|r| r.body["ts_ms"].as_i64())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in event order");
    assert_eq!(
        receiver.rejected(),
        Vec::<String>::new(),
        "every delivery signed"
    );
    signatures_hold(&receiver, secret)?;
    let pending: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_deliveries WHERE state <> 'delivered'",
            &[],
        )?
        .get(0);
    assert_eq!(
        pending, 0,
        "the outbox is drained (webhook and the alerts topic)"
    );

    // 5. The same input, from the start, on two workers, into a fresh schema:
    // the same decisions.
    let again = format!("{}_replay", fixture.schema);
    fixture
        .env
        .retain(|(k, _)| k != "WEIR_POSTGRES__SCHEMA" && k != "WEIR_DELIVERY__WEBHOOKS");
    fixture
        .env
        .push(("WEIR_POSTGRES__SCHEMA".into(), again.clone()));
    fixture
        .env
        .push(("WEIR_DELIVERY__KAFKA".into(), "false".into()));
    let mut second = fixture.spawn_run("two-workers", &["-w", "2", "--no-server"])?;
    finish(
        &fixture,
        &mut second,
        "two-workers",
        Duration::from_secs(300),
    )?;
    let mut replay = postgres::Client::connect(&common::store::pg_url(), postgres::NoTls)?;
    replay.batch_execute(&format!("SET search_path TO {again}"))?;
    let a = decisions(&mut db)?;
    let b = decisions(&mut replay)?;
    assert!(
        a.len() > 20,
        "a meaningful number of decisions: {}",
        a.len()
    );
    assert_eq!(a, b, "a replay on another shape decides the same");
    Ok(())
}

/// One delivery checked with an outside tool (`openssl dgst -hmac`); a
/// tampered copy (its body changed, or replayed with an old timestamp) is
/// refused by the receiver with 401.
fn signatures_hold(receiver: &Receiver, secret: &str) -> Result<(), Error> {
    let received = receiver.received();
    let first = received.first().ok_or("nothing delivered")?;
    let mut signed = first.timestamp.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&first.raw);
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(openssl.stdin.as_mut().ok_or("no stdin")?, &signed)?;
    let output = openssl.wait_with_output()?;
    let hex = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(first.signature, format!("sha256={hex}"), "openssl agrees");
    let send = |timestamp: &str, body: &[u8]| -> Result<u16, Error> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&receiver.address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let head = format!(
            "POST /hook HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Authorization: Bearer hook-token\r\nIdempotency-Key: tampered\r\n\
             X-Weir-Timestamp: {timestamp}\r\nX-Weir-Signature: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            receiver.address,
            first.signature,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    };
    // One byte more: a changed body.
    let mut tampered = first.raw.clone();
    tampered.push(b' ');
    assert_eq!(send(&first.timestamp, &tampered)?, 401, "a tampered body");
    let rejected = receiver.rejected();
    assert!(
        rejected.last().is_some_and(|r| r.contains("bad signature")),
        "{rejected:?}"
    );
    // The same body and signature, replayed later than 5 minutes: the
    // timestamp is part of what is signed, so it cannot be moved.
    let old = first.timestamp.parse::<i64>()? - 600_000;
    assert_eq!(send(&old.to_string(), &first.raw)?, 401, "a replay");
    Ok(())
}
