//! The ingest edge under hostile input and a failing disk (issue #14,
//! items 4 and 5), against a real Mosquitto, a real broker and a real
//! file system:
//! - MQTT publishes of 1,000,100 bytes and 2 MB at QoS 1 become `too_large`
//!   dead letters (payload cut, size kept), are acknowledged, and the good
//!   readings after them arrive;
//! - a byte corrupted in a closed buffer segment costs that one record (a
//!   `buffer_corrupt` dead letter in its place), not the records after it;
//! - a full file system (a small tmpfs: this test mounts, so it runs as
//!   root, as CI does) across segment rotations, then space again and a
//!   restart: every reading answered 202 reaches Kafka, once, and nothing
//!   answered otherwise does;
//! - `kill -9` of `weir ingest` under HTTP load, with a client that retries
//!   until it hears 202 and sends its last batches again after the crash:
//!   a live `weir run` stores each reading once, drops and counts the
//!   repeats, and every view equals a recomputation over `readings`
//!   (issue #14, item 1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::OwnBroker;
use common::ingest::{Error, Ingest, OwnMosquitto, TOKEN, post, reading};
use common::kafka::{Read, read_topic, reading_counts};

const T0: i64 = 1_764_000_000_000;

/// Publishes one payload at QoS 1 with `mosquitto_pub -f`.
fn publish_file(port: &str, topic: &str, path: &Path) -> Result<(), Error> {
    let output = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-f"])
        .arg(path)
        .output()?;
    assert!(
        output.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Publishes `lines` (one message each) at QoS 1.
fn publish_lines(port: &str, topic: &str, lines: &[String]) -> Result<(), Error> {
    let path = std::env::temp_dir().join(common::unique("lines"));
    std::fs::write(&path, lines.join("\n") + "\n")?;
    let output = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-l"])
        .stdin(std::fs::File::open(&path)?)
        .output()?;
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A value of `weir ingest`'s `/metrics`.
fn metric(ingest: &Ingest, name: &str) -> Option<f64> {
    common::store::metric(&ingest.http, name)
}

#[test]
fn oversized_mqtt_publishes_are_dead_letters_and_traffic_flows() -> Result<(), Error> {
    let _serial = common::serial();
    let mosquitto = OwnMosquitto::start("edge-mqtt")?;
    let broker = format!("broker = \"{}\"", mosquitto.address);
    let mut ingest = Ingest::new(
        "edge-mqtt",
        None,
        &[("ingest.mqtt", &broker), ("ingest.grpc", "enabled = false")],
    )?;
    ingest.start()?;
    let port = mosquitto.address.rsplit(':').next().unwrap_or("1883");
    let sizes = [1_000_100usize, 2_000_000];
    for (i, size) in sizes.iter().enumerate() {
        // A JSON-looking payload of that size, as a confused device sends it.
        let mut payload =
            format!(r#"{{"sensorId":"mq-big-{i}","timestamp":{T0},"value":1.0,"pad":""#)
                .into_bytes();
        payload.resize(size - 2, b'x');
        payload.extend_from_slice(b"\"}");
        let path = ingest.dir.join(format!("big-{i}.json"));
        std::fs::write(&path, &payload)?;
        publish_file(port, &ingest.topic(&format!("mq-big-{i}")), &path)?;
    }
    let good: Vec<String> = (0..200)
        .map(|i| reading("mq-ok", T0 + i * 1_000, i as f64))
        .collect();
    publish_lines(port, &ingest.topic("mq-ok"), &good)?;

    let readings = read_topic(&ingest.brokers, &ingest.readings, 12, good.len())?;
    let seen = reading_counts(&readings);
    assert_eq!(
        readings.len(),
        good.len(),
        "the good readings after the oversized ones arrive, once each:\n{}",
        ingest.log_tail()
    );
    assert!((0..200).all(|i| seen.get(&("mq-ok".to_string(), T0 + i * 1_000)) == Some(&1)));

    let dead = read_topic(&ingest.brokers, &ingest.dlq, 12, sizes.len())?;
    assert_eq!(dead.len(), sizes.len(), "one dead letter each");
    for (i, size) in sizes.iter().enumerate() {
        let letter = dead
            .iter()
            .find(|r| r.key == format!("mq-big-{i}"))
            .ok_or(format!("no dead letter for mq-big-{i}"))?;
        assert_eq!(letter.header("x-weir-reason"), Some("too_large"));
        assert_eq!(
            letter.header("x-weir-size"),
            Some(size.to_string().as_str())
        );
        assert_eq!(letter.header("x-weir-truncated"), Some("true"));
        assert_eq!(letter.payload.len(), weir_dataflow::MAX_PAYLOAD_BYTES);
        assert!(letter.payload.starts_with(b"{\"sensorId\":\"mq-big-"));
    }
    // Acknowledged: nothing waits in the buffer, and the bridge does not loop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&ingest, "weir_ingest_buffered_records") != Some(0.0) {
        assert!(Instant::now() < deadline, "the buffer never emptied");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ingest.alive(), "weir ingest died:\n{}", ingest.log_tail());
    let log = std::fs::read_to_string(ingest.log())?;
    assert_eq!(
        log.matches("mqtt broker unreachable").count(),
        0,
        "the bridge reconnected:\n{}",
        ingest.log_tail()
    );
    Ok(())
}

/// Settings for a `weir ingest` with its HTTP gateway only and the
/// per-device rate limit out of the way, plus `extra`.
fn http_only(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![
        ("ingest.mqtt", "enabled = false"),
        ("ingest.grpc", "enabled = false"),
        ("ingest.rate", "device_burst = 1000000.0"),
        ("ingest.rate", "device_per_sec = 1000000.0"),
    ];
    settings.extend_from_slice(extra);
    settings
}

/// The readings accepted (sensor, ts) and the count of each status.
type Sent = (Vec<(String, i64)>, BTreeMap<u16, usize>);

/// Sends `n` readings of `sensor` from `ts`, `per` per request; returns
/// the accepted ones and the statuses.
fn send(
    ingest: &Ingest,
    sensor: &str,
    ts: &mut i64,
    requests: usize,
    per: usize,
    stop_after_refusals: Option<usize>,
) -> Result<Sent, Error> {
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut accepted = Vec::new();
    let mut statuses = BTreeMap::new();
    let mut refused_in_a_row = 0;
    for _ in 0..requests {
        let batch: Vec<(String, i64)> = (0..per)
            .map(|i| (sensor.to_string(), *ts + i as i64 * 1_000))
            .collect();
        *ts += per as i64 * 1_000;
        let body = format!(
            "[{}]",
            batch
                .iter()
                .map(|(s, t)| reading(s, *t, 1.0))
                .collect::<Vec<_>>()
                .join(",")
        );
        let (status, _, _) = post(&ingest.http, "/ingest/batch", &headers, body.as_bytes())?;
        *statuses.entry(status).or_insert(0) += 1;
        if status == 202 {
            accepted.extend(batch);
            refused_in_a_row = 0;
        } else {
            refused_in_a_row += 1;
            if stop_after_refusals.is_some_and(|n| refused_in_a_row >= n) {
                break;
            }
        }
    }
    Ok((accepted, statuses))
}

/// A tmpfs mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, Error> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()?;
        assert!(
            status.success(),
            "mount -t tmpfs (this test needs root, as CI has)"
        );
        Ok(Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) -> Result<(), Error> {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()?;
        assert!(status.success(), "remount");
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Everything accepted is in Kafka once, and nothing else is.
fn exactly(records: &[Read], accepted: &[(String, i64)]) {
    let seen = reading_counts(records);
    let twice = seen.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "readings written twice");
    let missing: Vec<&(String, i64)> = accepted.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} accepted readings missing, e.g. {:?}",
        missing.len(),
        accepted.len(),
        missing.first()
    );
    assert_eq!(
        records.len(),
        accepted.len(),
        "nothing but what was accepted"
    );
}

#[test]
fn a_full_file_system_across_rotations_loses_nothing_acknowledged() -> Result<(), Error> {
    let _serial = common::serial();
    let mut broker = OwnBroker::start("edge-disk-broker")?;
    let mut ingest = Ingest::new(
        "edge-disk",
        Some(&broker.address),
        // Rotations while the disk fills.
        &http_only(&[("ingest.buffer", "segment_bytes = 16384")]),
    )?;
    let disk = Tmpfs::mount(&ingest.dir.join("buffer"), "256k")?;
    ingest.start()?;
    // Kafka away: everything stays in the buffer until the disk is full.
    broker.stop();
    let mut ts = T0;
    let (mut accepted, statuses) = send(&ingest, "load-disk", &mut ts, 2_000, 20, Some(20))?;
    assert!(
        statuses.keys().any(|s| *s == 503),
        "the disk never filled: {statuses:?}"
    );
    assert!(
        accepted.len() > 500,
        "a full disk after {} readings",
        accepted.len()
    );
    // Refusals go on while it is full, and weir ingest stays up.
    let (more, _) = send(&ingest, "load-disk", &mut ts, 20, 20, None)?;
    accepted.extend(more);
    assert!(ingest.alive(), "weir ingest died:\n{}", ingest.log_tail());
    // Space again: accepted at once, without a restart.
    disk.resize("64m")?;
    let (more, statuses) = send(&ingest, "load-disk", &mut ts, 50, 20, None)?;
    assert_eq!(
        statuses.get(&202),
        Some(&50),
        "{statuses:?}\n{}",
        ingest.log_tail()
    );
    accepted.extend(more);
    // A restart, with Kafka back.
    ingest.stop()?;
    broker.restart()?;
    ingest.start()?;
    let (more, statuses) = send(&ingest, "load-disk", &mut ts, 10, 20, None)?;
    assert_eq!(statuses.get(&202), Some(&10), "{statuses:?}");
    accepted.extend(more);
    let records = read_topic(&ingest.brokers, &ingest.readings, 12, accepted.len())?;
    exactly(&records, &accepted);
    Ok(())
}

#[test]
fn a_corrupt_byte_in_a_closed_segment_costs_one_record() -> Result<(), Error> {
    let _serial = common::serial();
    let mut broker = OwnBroker::start("edge-corrupt-broker")?;
    let mut ingest = Ingest::new(
        "edge-corrupt",
        Some(&broker.address),
        &http_only(&[("ingest.buffer", "segment_bytes = 16384")]),
    )?;
    ingest.start()?;
    broker.stop();
    let mut ts = T0;
    let (accepted, statuses) = send(&ingest, "load-corrupt", &mut ts, 50, 20, None)?;
    assert_eq!(statuses.get(&202), Some(&50), "{statuses:?}");
    ingest.stop()?;
    // One byte flipped in the middle of the second segment, at rest.
    let dir = ingest.dir.join("buffer");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segments.sort();
    assert!(segments.len() > 3, "rotated: {segments:?}");
    let mut bytes = std::fs::read(&segments[1])?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5A;
    std::fs::write(&segments[1], bytes)?;
    broker.restart()?;
    ingest.start()?;
    let records = read_topic(&ingest.brokers, &ingest.readings, 12, accepted.len() - 1)?;
    let seen = reading_counts(&records);
    let missing: Vec<&(String, i64)> = accepted.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert_eq!(
        missing.len(),
        1,
        "only the corrupted reading is missing:\n{}",
        ingest.log_tail()
    );
    assert_eq!(records.len(), accepted.len() - 1);
    let dead = read_topic(&ingest.brokers, &ingest.dlq, 12, 1)?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].header("x-weir-reason"), Some("buffer_corrupt"));
    assert_eq!(
        metric(&ingest, "weir_ingest_buffer_corrupt_total"),
        Some(1.0)
    );
    Ok(())
}

/// A live `weir run` on the ingest's topics and schema; its log path.
fn spawn_run(ingest: &Ingest, port: u16) -> Result<(common::store::Running, PathBuf), Error> {
    let log_path = ingest.dir.join(format!("run-{port}.log"));
    let log = std::fs::File::create(&log_path)?;
    let child = common::weir()
        .args(["run", "-w", "2", "--report-secs", "2"])
        .envs(ingest.env.iter().map(|(k, v)| (k, v)))
        .env("WEIR_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok((common::store::Running::from(child), log_path))
}

fn schema_db(ingest: &Ingest) -> Result<postgres::Client, Error> {
    let schema = ingest
        .env
        .iter()
        .find(|(k, _)| k == "WEIR_POSTGRES__SCHEMA")
        .map(|(_, v)| v.clone())
        .ok_or("no schema")?;
    let mut db = postgres::Client::connect(&common::store::pg_url(), postgres::NoTls)?;
    db.batch_execute(&format!("SET search_path TO {schema}"))?;
    Ok(db)
}

#[test]
fn kill_9_of_weir_ingest_under_load_with_retries_leaves_views_exact() -> Result<(), Error> {
    let _serial = common::serial();
    let mut ingest = Ingest::new("edge-kill", None, &http_only(&[]))?;
    ingest.start()?;
    let port = common::webhook::free_port()?;
    let (mut run, run_log) = spawn_run(&ingest, port)?;
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let from = now - 20 * 60_000;
    // 200 batches of 20 (4 sensors, a reading each per second of event
    // time); each retried until it is answered 202, as a client does.
    let batch_of = |b: i64| -> (Vec<(String, i64)>, String) {
        let batch: Vec<(String, i64)> = (0..20)
            .map(|i| {
                (
                    format!("load-kill-{}", i % 4),
                    from + b * 5_000 + (i / 4) * 1_000,
                )
            })
            .collect();
        let body = format!(
            "[{}]",
            batch
                .iter()
                .enumerate()
                .map(|(i, (s, t))| reading(s, *t, (b * 20 + i as i64) as f64 / 8.0))
                .collect::<Vec<_>>()
                .join(",")
        );
        (batch, body)
    };
    let mut accepted = std::collections::BTreeSet::new();
    let mut sent_twice = 0;
    for b in 0..200i64 {
        if b == 100 {
            // A crash between the buffer and the cursor: kill -9, then back.
            ingest.kill();
            ingest.start()?;
            // The client never heard the last answers before the crash:
            // it sends its last 10 batches again.
            for again in 90..100 {
                let (_, body) = batch_of(again);
                let (status, _, _) =
                    post(&ingest.http, "/ingest/batch", &headers, body.as_bytes())?;
                assert_eq!(status, 202);
                sent_twice += 20;
            }
        }
        let (batch, body) = batch_of(b);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status =
                post(&ingest.http, "/ingest/batch", &headers, body.as_bytes()).map_or(0, |r| r.0);
            if status == 202 {
                break;
            }
            assert!(Instant::now() < deadline, "never accepted: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
        accepted.extend(batch);
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut db = schema_db(&ingest)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = common::store::stored(&mut db);
        if stored == accepted.len() as i64 {
            break;
        }
        if let Some(status) = run.try_wait()? {
            return Err(format!(
                "weir run exited ({status}):\n{}",
                common::store::tail(&run_log)
            )
            .into());
        }
        assert!(
            Instant::now() < deadline,
            "{stored} of {} stored:\n{}",
            accepted.len(),
            common::store::tail(&run_log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Windows and statistics counted each reading once.
    std::thread::sleep(Duration::from_secs(3));
    common::store::check_views(&mut db)?;
    let exact = common::store::metric(
        &format!("127.0.0.1:{port}"),
        "weir_duplicates_total{kind=\"exact\"}",
    )
    .unwrap_or(0.0);
    assert!(
        exact >= f64::from(sent_twice),
        "the repeats were dropped and counted: {exact} < {sent_twice}"
    );
    Ok(())
}
