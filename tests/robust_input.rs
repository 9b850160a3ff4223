//! Ordinary faults of outside producers (issue #14, items 1–3), each sent
//! straight into Kafka by a plain librdkafka producer to a live `weir run`:
//!
//! - duplicates: exact repeats are dropped and counted, conflicting ones
//!   dead-lettered with their payload; every view equals a recomputation
//!   over `readings`;
//! - poison records (NUL bytes in a key, a sensor id, a registry zone, a
//!   control record; a record timestamp outside PostgreSQL's range; a NUL
//!   in an acknowledgement through the API) never stop the pipeline: it
//!   keeps storing good readings, across a restart too;
//! - a record stamped an hour ahead does not hold the pipeline: durable
//!   offsets keep advancing within seconds.

mod common;

use std::time::{Duration, Instant};

use common::kafka::Outside;
use common::store::{
    Error, Fixture, check_views, durable, interrupt, metric, start_ms, stored, tail, wait_for_value,
};
use common::webhook::free_port;

fn json(sensor: &str, ts: i64, value: f64) -> Vec<u8> {
    format!(r#"{{"sensorId":"{sensor}","timestamp":{ts},"value":{value}}}"#).into_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

fn registry(sensor: &str, zone: &str, crit_high: f64) -> Vec<u8> {
    format!(
        r#"{{"sensor_id":"{sensor}","kind":"temperature","zone":"{zone}","thresholds":{{"crit_high":{crit_high}}}}}"#
    )
    .into_bytes()
}

#[test]
fn duplicates_from_an_outside_producer_are_dropped_or_dead_lettered() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("dups")?;
    let topic = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let start = start_ms();
    // Three sensors, a reading each every 10 s for 20 minutes.
    let mut originals = Vec::new();
    for i in 0..120i64 {
        for s in 0..3 {
            let id = format!("tmp-dup-{s}");
            let ts = start + i * 10_000 + s;
            let value = 20.0 + ((i * 7 + s) % 13) as f64 / 4.0;
            producer.send(
                &topic,
                id.as_bytes(),
                Some(&json(&id, ts, value)),
                Some(ts + 40),
            )?;
            originals.push((id, ts, value));
        }
    }
    // Then repeats of earlier readings, as a retrying client sends them:
    // 30 exact, 10 with another value.
    let later = start + 1_200_000;
    let mut conflicts = Vec::new();
    for (n, (id, ts, value)) in originals.iter().step_by(9).take(40).enumerate() {
        let (value, conflict) = if n % 4 == 3 {
            (value + 100.0, true)
        } else {
            (*value, false)
        };
        let payload = json(id, *ts, value);
        producer.send(
            &topic,
            id.as_bytes(),
            Some(&payload),
            Some(later + n as i64),
        )?;
        if conflict {
            conflicts.push(payload);
        }
    }
    producer.flush()?;
    assert_eq!(conflicts.len(), 10);
    let total = (originals.len() + 40) as i64;

    let port = free_port()?;
    let mut run = fixture.spawn_live("run", port, &["-w", "2"])?;
    let address = format!("127.0.0.1:{port}");
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        total,
        Duration::from_secs(120),
    )?;
    let exact = metric(&address, "weir_duplicates_total{kind=\"exact\"}");
    let conflict = metric(&address, "weir_duplicates_total{kind=\"conflict\"}");
    interrupt(&mut run)?;

    let mut db = fixture.db()?;
    check_views(&mut db)?;
    assert_eq!(
        stored(&mut db),
        originals.len() as i64,
        "one row per (sensor, ts)"
    );
    let wrong: i64 = db
        .query_one("SELECT count(*) FROM readings WHERE value >= 100", &[])?
        .get(0);
    assert_eq!(wrong, 0, "the first reading of a (sensor, ts) wins");
    let letters: Vec<Vec<u8>> = db
        .query(
            "SELECT payload FROM dead_letters WHERE reason = 'duplicate_conflict' ORDER BY kafka_offset",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want = conflicts.clone();
    want.sort();
    let mut got = letters.clone();
    got.sort();
    assert_eq!(got, want, "each conflict dead-lettered with its payload");
    let others: i64 = db
        .query_one(
            "SELECT count(*) FROM dead_letters WHERE reason <> 'duplicate_conflict'",
            &[],
        )?
        .get(0);
    assert_eq!(others, 0, "exact repeats are not dead letters");
    assert_eq!(
        (exact, conflict),
        (Some(30.0), Some(10.0)),
        "duplicates counted"
    );
    let anomalies: i64 = db
        .query_one(
            "SELECT count(*) - count(DISTINCT (sensor_id, time)) FROM anomalies",
            &[],
        )?
        .get(0);
    assert_eq!(anomalies, 0, "no reading scored twice");
    Ok(())
}

#[test]
fn poison_records_never_stop_the_pipeline() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("poison")?;
    let (readings, registry_topic, control) = (
        fixture.topic("readings"),
        fixture.topic("registry"),
        fixture.topic("control"),
    );
    let producer = Outside::new(&fixture.broker.address)?;
    let now = now_ms();
    // A registered sensor with a critical threshold, and its poisoned twins.
    producer.send(
        &registry_topic,
        b"tmp-p1",
        Some(&registry("tmp-p1", "z1", 50.0)),
        Some(now - 60_000),
    )?;
    producer.send(
        &registry_topic,
        b"tmp-p2",
        Some(&registry("tmp-p2", "z\\u0000", 50.0)),
        Some(now - 60_000),
    )?;
    producer.send(&registry_topic, b"nul\0key", None, Some(now - 60_000))?;
    producer.flush()?;

    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut run = fixture.spawn_live("run", port, &[])?;
    let mut sent = 0i64;
    let mut send_good = |producer: &Outside, n: i64, value: f64| -> Result<(), Error> {
        for _ in 0..n {
            let ts = now_ms();
            producer.send(&readings, b"tmp-p1", Some(&json("tmp-p1", ts, value)), None)?;
            sent += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        producer.flush()
    };
    // Readings above the threshold: an alert fires.
    send_good(&producer, 20, 99.0)?;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM alerts WHERE state = 'open'",
        1,
        Duration::from_secs(90),
    )?;

    // The poison.
    let t = now_ms();
    // A NUL in the key (a key_mismatch dead letter keeps the key).
    producer.send(&readings, b"bad\0key", Some(&json("tmp-p1", t, 1.0)), None)?;
    // A NUL in the sensor id itself (the decoder's detail quotes it).
    producer.send(
        &readings,
        b"x",
        Some(br#"{"sensorId":"x\u0000y","timestamp":1,"value":1}"#),
        None,
    )?;
    // A record timestamp far beyond PostgreSQL's range, on a malformed record.
    producer.send(
        &readings,
        b"tmp-p1",
        Some(br#"{"sensorId":"tmp-p1","timestamp":1,"value":"high"}"#),
        Some(9_000_000_000_000_000),
    )?;
    // A control record with NULs, as an outside producer may write it.
    let mut db = fixture.db()?;
    let alert_id: String = db
        .query_one("SELECT alert_id FROM alerts WHERE state = 'open'", &[])?
        .get(0);
    let ack = format!(
        r#"{{"type":"ack","alert_id":"{alert_id}","author":"eve\u0000","comment":"\u0000\u0000"}}"#
    );
    producer.send(
        &control,
        format!("ack:{alert_id}").as_bytes(),
        Some(ack.as_bytes()),
        None,
    )?;
    producer.flush()?;
    // A NUL through the API is refused with a reason.
    let (status, body, _) = common::ingest::curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"comment":"mallory\u0000"}"#,
        &format!("http://{address}/api/alerts/{alert_id}/ack"),
    ])?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("comment"), "{body}");

    // Good readings keep being stored.
    let before = stored(&mut db);
    send_good(&producer, 50, 20.0)?;
    let want = before + 50;
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        "SELECT count(*) FROM readings",
        want,
        Duration::from_secs(90),
    )?;
    let reasons: Vec<(String, String)> = db
        .query(
            "SELECT reason, key FROM dead_letters ORDER BY kafka_offset",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(r, k)| r == "key_mismatch" && k == "bad\u{fffd}key"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(r, _)| r == "invalid_chars"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(r, k)| r == "wrong_type" && k == "tmp-p1"),
        "{reasons:?}"
    );
    // The outside ack applies, made storable.
    wait_for_value(
        &fixture,
        &mut run,
        "run",
        &format!(
            "SELECT count(*) FROM alerts WHERE alert_id = '{alert_id}' AND acked_by = 'eve\u{fffd}'"
        ),
        1,
        Duration::from_secs(30),
    )?;
    let rejected = metric(&address, "weir_registry_rejected_total");
    assert_eq!(rejected, Some(2.0), "the NUL zone and the NUL key refused");
    let unregistered: i64 = db
        .query_one(
            "SELECT count(*) FROM sensors WHERE sensor_id = 'tmp-p2'",
            &[],
        )?
        .get(0);
    assert_eq!(unregistered, 0);
    interrupt(&mut run)?;

    // A restart replays past the poison without stopping again.
    let mut again = fixture.spawn_live("again", port, &[])?;
    send_good(&producer, 10, 20.0)?;
    wait_for_value(
        &fixture,
        &mut again,
        "again",
        "SELECT count(*) FROM readings",
        want + 10,
        Duration::from_secs(90),
    )?;
    wait_for_value(
        &fixture,
        &mut again,
        "again",
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        sent + 3,
        Duration::from_secs(60),
    )?;
    interrupt(&mut again)?;
    Ok(())
}

#[test]
fn a_reading_stamped_an_hour_ahead_does_not_hold_the_pipeline() -> Result<(), Error> {
    let _serial = common::serial();
    let fixture = Fixture::new("skew")?;
    let readings = fixture.topic("readings");
    let producer = Outside::new(&fixture.broker.address)?;
    let port = free_port()?;
    let mut run = fixture.spawn_live("run", port, &[])?;
    // Ten sensors, each a reading every 100 ms, stamped by librdkafka (now).
    let send_round = |round: i64| -> Result<(), Error> {
        for s in 0..10 {
            let id = format!("tmp-s{s}");
            producer.send(
                &readings,
                id.as_bytes(),
                Some(&json(&id, now_ms(), round as f64)),
                None,
            )?;
        }
        Ok(())
    };
    let mut round = 0;
    let mut sent = 0i64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        send_round(round)?;
        round += 1;
        sent += 10;
        std::thread::sleep(Duration::from_millis(100));
    }
    producer.flush()?;
    // One producer whose clock runs an hour fast.
    let ahead = now_ms() + 3_600_000;
    producer.send(
        &readings,
        b"tmp-s3",
        Some(&json("tmp-s3", ahead, 1.0)),
        Some(ahead),
    )?;
    sent += 1;
    producer.flush()?;
    let skewed_at = Instant::now();
    // Normal traffic goes on; everything sent up to 3 s after the skewed
    // record must be durable within 15 s of it.
    while skewed_at.elapsed() < Duration::from_secs(3) {
        send_round(round)?;
        round += 1;
        sent += 10;
        std::thread::sleep(Duration::from_millis(100));
    }
    producer.flush()?;
    let mut db = fixture.db()?;
    loop {
        let now = durable(&mut db);
        if now >= sent {
            break;
        }
        if let Some(status) = run.try_wait()? {
            return Err(format!(
                "weir run exited ({status}):\n{}",
                tail(&fixture.log_path("run"))
            )
            .into());
        }
        if skewed_at.elapsed() > Duration::from_secs(15) {
            return Err(format!(
                "durable offsets stuck at {now} of {sent} 15 s after a record stamped an hour ahead:\n{}",
                tail(&fixture.log_path("run"))
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let flags: Vec<String> = db
        .query_one(
            "SELECT flags FROM readings WHERE sensor_id = 'tmp-s3' AND value = 1 AND time > now() + interval '30 minutes'",
            &[],
        )?
        .get(0);
    assert!(flags.contains(&"clock_skew".to_string()), "{flags:?}");
    assert!(flags.contains(&"future_timestamp".to_string()), "{flags:?}");
    let clamped = metric(&format!("127.0.0.1:{port}"), "weir_clock_clamped_total");
    assert_eq!(clamped, Some(1.0));
    interrupt(&mut run)?;
    Ok(())
}
