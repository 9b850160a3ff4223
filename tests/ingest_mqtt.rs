//! The MQTT bridge with `mosquitto_pub` (issue #7, criterion 1, and the
//! MQTT half of criterion 5), on a Mosquitto of the test's own configured
//! as the bridge needs (see `OwnMosquitto`): 10,000 readings at QoS 1 arrive in Kafka
//! exactly once; readings published while weir is stopped reach its
//! persistent session and arrive after it restarts; payloads that are not
//! readings become dead letters with their reason.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::corpus::{Target, cases};
use common::ingest::{Error, Ingest, OwnMosquitto, reading};
use common::kafka::{read_topic, reading_counts};

const T0: i64 = 1_764_000_000_000;
const SENSORS: usize = 10;
const PER_SENSOR: usize = 1_000;

/// Publishes `lines` (one message each) to `topic` at QoS 1 with mosquitto_pub.
fn publish(port: &str, topic: &str, lines: &[String]) -> Result<(), Error> {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        for line in lines {
            writeln!(stdin, "{line}")?;
        }
    }
    let output = child.wait_with_output()?;
    assert!(
        output.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Publishes one binary payload (`-f`), or an empty one (`-n`).
fn publish_bytes(ingest: &Ingest, port: &str, topic: &str, payload: &[u8]) -> Result<(), Error> {
    let mut command = Command::new("mosquitto_pub");
    command.args(["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic]);
    let path = ingest.dir.join("payload.bin");
    if payload.is_empty() {
        command.arg("-n");
    } else {
        std::fs::write(&path, payload)?;
        command.arg("-f").arg(&path);
    }
    let output = command.output()?;
    assert!(
        output.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[test]
fn mqtt_readings_arrive_once_even_those_sent_while_weir_was_away() -> Result<(), Error> {
    let mosquitto = OwnMosquitto::start("mqtt-broker")?;
    let port = mosquitto.port();
    let broker = format!("broker = \"{}\"", mosquitto.address);
    let mut ingest = Ingest::new(
        "mqtt",
        None,
        &[("ingest.mqtt", &broker), ("ingest.grpc", "enabled = false")],
    )?;
    ingest.start()?;
    // The bridge subscribes once connected: the session exists from then on.
    std::thread::sleep(std::time::Duration::from_secs(2));

    // 10,000 readings: ten sensors, a thousand each, one mosquitto_pub per sensor.
    let publishers: Vec<std::thread::JoinHandle<Result<(), String>>> = (0..SENSORS)
        .map(|s| {
            let topic = ingest.topic(&format!("mq-{s}"));
            let lines: Vec<String> = (0..PER_SENSOR)
                .map(|i| reading(&format!("mq-{s}"), T0 + i as i64 * 1_000, i as f64))
                .collect();
            let port = port.clone();
            std::thread::spawn(move || publish(&port, &topic, &lines).map_err(|e| e.to_string()))
        })
        .collect();
    for p in publishers {
        p.join().map_err(|_| "publisher panicked")??;
    }
    let first = read_topic(&ingest.brokers, &ingest.readings, 12, SENSORS * PER_SENSOR)?;
    let seen = reading_counts(&first);
    assert_eq!(first.len(), SENSORS * PER_SENSOR, "{}", ingest.log_tail());
    assert!(seen.values().all(|n| *n == 1), "a reading twice");
    assert_eq!(seen.len(), SENSORS * PER_SENSOR);
    // One sensor's readings in one partition, in order.
    for s in 0..SENSORS {
        let key = format!("mq-{s}");
        let mine: Vec<&common::kafka::Read> = first.iter().filter(|r| r.key == key).collect();
        assert!(
            mine.windows(2)
                .all(|w| w[0].partition == w[1].partition && w[0].offset < w[1].offset)
        );
    }

    // weir away: the broker keeps QoS 1 messages for its persistent session.
    ingest.stop()?;
    let topic = ingest.topic("mq-late");
    let late: Vec<String> = (0..500)
        .map(|i| reading("mq-late", T0 + i * 1_000, 2.0))
        .collect();
    publish(&port, &topic, &late)?;
    ingest.start()?;
    let all = read_topic(
        &ingest.brokers,
        &ingest.readings,
        12,
        SENSORS * PER_SENSOR + 500,
    )?;
    let seen = reading_counts(&all);
    assert_eq!(
        all.len(),
        SENSORS * PER_SENSOR + 500,
        "{}",
        ingest.log_tail()
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "a reading twice after the restart"
    );
    assert_eq!(seen.keys().filter(|(k, _)| k == "mq-late").count(), 500);

    // Payloads that are not readings: dead letters with a reason, nothing stored.
    let bad: Vec<_> = cases()
        .into_iter()
        .filter(|c| c.target == Target::Mqtt)
        .collect();
    assert!(bad.len() >= 20);
    for (i, case) in bad.iter().enumerate() {
        publish_bytes(
            &ingest,
            &port,
            &ingest.topic(&format!("corpus-m{i}")),
            &case.body,
        )?;
    }
    // One more: a valid reading of another sensor than its topic says.
    publish_bytes(
        &ingest,
        &port,
        &ingest.topic("mq-0"),
        reading("mq-1", T0, 1.0).as_bytes(),
    )?;
    let dead = read_topic(&ingest.brokers, &ingest.dlq, 12, bad.len() + 1)?;
    assert_eq!(dead.len(), bad.len() + 1, "{}", ingest.log_tail());
    assert!(
        dead.iter()
            .all(|d| d.header("x-weir-reason").is_some_and(|r| !r.is_empty()))
    );
    assert!(
        dead.iter()
            .any(|d| d.header("x-weir-reason") == Some("key_mismatch"))
    );
    let again = read_topic(
        &ingest.brokers,
        &ingest.readings,
        12,
        SENSORS * PER_SENSOR + 500,
    )?;
    assert_eq!(
        again.len(),
        SENSORS * PER_SENSOR + 500,
        "no bad payload stored as a reading"
    );
    assert!(ingest.alive(), "{}", ingest.log_tail());
    ingest.stop()?;
    Ok(())
}

/// A broker that asks for a password: the bridge with the right one gets a
/// reading through; with a wrong one it says the broker refused it.
#[test]
fn the_bridge_signs_in_to_a_broker_with_a_password_file() -> Result<(), Error> {
    let mosquitto = OwnMosquitto::start_with("mqtt-auth-broker", Some(("bridge", "br1dge-pass")))?;
    let port = mosquitto.port();
    let broker = format!("broker = \"{}\"", mosquitto.address);
    let mut ingest = Ingest::new(
        "mqtt-auth",
        None,
        &[
            ("ingest.mqtt", &broker),
            ("ingest.mqtt", "username = \"bridge\""),
            ("ingest.mqtt", "password = \"br1dge-pass\""),
            ("ingest.grpc", "enabled = false"),
        ],
    )?;
    ingest.start()?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    let topic = ingest.topic("mq-auth");
    let line = reading("mq-auth", T0, 7.0);
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "1",
            "-u",
            "bridge",
            "-P",
            "br1dge-pass",
            "-t",
            &topic,
            "-m",
            &line,
        ])
        .status()?;
    assert!(status.success());
    let read = read_topic(&ingest.brokers, &ingest.readings, 12, 1)?;
    assert_eq!(read.len(), 1, "{}", ingest.log_tail());
    ingest.stop()?;

    // Anonymous publishers are refused by the broker itself.
    let anonymous = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "1",
            "-t",
            &topic,
            "-m",
            &line,
        ])
        .output()?;
    assert!(
        !anonymous.status.success(),
        "an anonymous publish was taken"
    );

    let mut wrong = Ingest::new(
        "mqtt-auth-wrong",
        None,
        &[
            ("ingest.mqtt", &broker),
            ("ingest.mqtt", "username = \"bridge\""),
            ("ingest.mqtt", "password = \"not-it\""),
            ("ingest.grpc", "enabled = false"),
        ],
    )?;
    wrong.start()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !wrong.log_tail().contains("refused the connection") {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {}",
            wrong.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    wrong.stop()?;
    Ok(())
}

/// Waits up to 20 s for `needle` in `ingest`'s log.
fn wait_logged(ingest: &Ingest, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ingest.log_tail().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "`{needle}` not logged: {}",
            ingest.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// MQTT over TLS to a broker that also asks for a client certificate: the
/// bridge verifies the broker against its CA file, presents its own
/// certificate, and a reading published over TLS reaches Kafka. A bridge
/// that does not trust the broker's CA says why, every time, and takes
/// nothing; a plaintext client is refused by the TLS listener.
#[test]
fn the_bridge_speaks_tls_with_a_client_certificate() -> Result<(), Error> {
    let certs = std::env::temp_dir().join(common::unique("mqtt-tls-certs"));
    std::fs::create_dir_all(&certs)?;
    common::tls::certificates(&certs, "mosquitto")?;
    common::tls::client_certificate(&certs, "weir-bridge")?;
    let mosquitto = OwnMosquitto::start_tls("mqtt-tls-broker", &certs)?;
    let port = mosquitto.port();
    let file = |f: &str| format!("\"{}\"", certs.join(f).display());
    let broker = format!("broker = \"localhost:{port}\"");
    let (ca, cert, key) = (
        format!("ca_file = {}", file("ca.pem")),
        format!("cert_path = {}", file("client.pem")),
        format!("key_path = {}", file("client.key")),
    );
    let mut ingest = Ingest::new(
        "mqtt-tls",
        None,
        &[
            ("ingest.mqtt", &broker),
            ("ingest.grpc", "enabled = false"),
            ("ingest.mqtt.tls", "enabled = true"),
            ("ingest.mqtt.tls", &ca),
            ("ingest.mqtt.tls", &cert),
            ("ingest.mqtt.tls", &key),
        ],
    )?;
    ingest.start()?;
    wait_logged(&ingest, "mqtt bridge started");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let topic = ingest.topic("mq-tls");
    let line = reading("mq-tls", T0, 3.5);
    let over_tls = Command::new("mosquitto_pub")
        .args(["-h", "localhost", "-p", &port, "-q", "1", "-t", &topic])
        .args(["-m", &line, "--cafile"])
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("client.pem"))
        .arg("--key")
        .arg(certs.join("client.key"))
        .output()?;
    assert!(
        over_tls.status.success(),
        "mosquitto_pub over TLS: {}",
        String::from_utf8_lossy(&over_tls.stderr)
    );
    let read = read_topic(&ingest.brokers, &ingest.readings, 12, 1)?;
    assert_eq!(read.len(), 1, "{}", ingest.log_tail());
    let payload = String::from_utf8_lossy(&read[0].payload);
    assert!(payload.contains("\"mq-tls\""), "{payload}");
    ingest.stop()?;

    let plaintext = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-t", &topic])
        .args(["-m", &line])
        .output()?;
    assert!(!plaintext.status.success(), "a plaintext publish was taken");

    // Another CA: the bridge refuses the broker's certificate and says so.
    let other = std::env::temp_dir().join(common::unique("mqtt-tls-other-ca"));
    std::fs::create_dir_all(&other)?;
    common::tls::certificates(&other, "elsewhere")?;
    let other_ca = format!("ca_file = \"{}\"", other.join("ca.pem").display());
    let mut untrusting = Ingest::new(
        "mqtt-tls-untrusted",
        None,
        &[
            ("ingest.mqtt", &broker),
            ("ingest.grpc", "enabled = false"),
            ("ingest.mqtt.tls", "enabled = true"),
            ("ingest.mqtt.tls", &other_ca),
            ("ingest.mqtt.tls", &cert),
            ("ingest.mqtt.tls", &key),
        ],
    )?;
    untrusting.start()?;
    wait_logged(&untrusting, "mqtt TLS handshake failed");
    untrusting.stop()?;
    let _ = std::fs::remove_dir_all(&certs);
    let _ = std::fs::remove_dir_all(&other);
    Ok(())
}
