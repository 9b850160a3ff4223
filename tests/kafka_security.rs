//! Kafka with credentials over TLS (issue 17): a broker that requires
//! SASL/SCRAM-SHA-512 logins, reached only through a TLS listener whose
//! certificate chains to a CA of the test's own. weir's clients get
//! librdkafka's own properties from `[kafka] properties` (here from the
//! environment, the password from a file): `weir topics` (the admin
//! client), `weir simulate` (a producer) and `weir run` (consumers and
//! producers) store every reading exactly once. A wrong password, an
//! untrusted CA and plaintext to the TLS port each fail, and the log says
//! which.
//!
//! Tansu 0.6.0 implements SASL/SCRAM but has no TLS listener of its own
//! (its acceptor is built and never used), so `socat` terminates TLS with
//! OpenSSL in front of it, and the broker advertises the TLS address: every
//! connection a client makes after bootstrap is TLS too.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir::simulate::SimulatorConfig;

use common::store::{Error, Fixture, Running, check_exactly_once, expected, finish, start_ms};
use common::{OwnBroker, free_port, run_weir, text, unique};

const USER: &str = "weir-pipeline";
const PASSWORD: &str = "s3cret-Pass";

/// `socat` listening with TLS (`certs/server.pem`) on `port`, forwarding
/// each connection in plain TCP to `target`.
fn tls_proxy(certs: &Path, port: u16, target: &str) -> Result<Running, Error> {
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
        certs.join("server.pem").display(),
        certs.join("server.key").display()
    );
    let child = Command::new("socat")
        .args([&listen, &format!("TCP:{target}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting socat (Debian package socat): {e}"))?;
    let proxy = Running::from(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("socat did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(proxy)
}

/// `env` with `key` set to `value` (replacing any earlier value).
fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env.iter().filter(|(k, _)| k != key).cloned().collect();
    env.push((key.to_string(), value.to_string()));
    env
}

#[test]
fn the_pipeline_uses_sasl_scram_over_tls_and_names_what_is_wrong() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(unique("kafka-sec"));
    let (certs, other) = (dir.join("certs"), dir.join("other"));
    std::fs::create_dir_all(&certs)?;
    std::fs::create_dir_all(&other)?;
    common::tls::certificates(&certs, "kafka")?;
    common::tls::certificates(&other, "elsewhere")?;

    // A SCRAM user, made while the broker still takes anyone; then the
    // broker requires logins and tells clients to use the TLS address.
    let mut broker = OwnBroker::start("kafkasec-broker")?;
    let made = Command::new(OwnBroker::tansu())
        .args(["user", "create", "--broker"])
        .arg(format!("tcp://{}", broker.address))
        .args([USER, PASSWORD])
        .output()?;
    assert!(
        made.status.success(),
        "tansu user create: {:?}",
        text(&made)
    );
    let tls_port = free_port()?;
    broker.reconfigure(&format!("localhost:{tls_port}"), &["--authentication"])?;
    let _proxy = tls_proxy(&certs, tls_port, &broker.address)?;

    let password_file = dir.join("kafka-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n"))?;
    let ca = certs.join("ca.pem").display().to_string();
    let secure = [
        (
            "WEIR_KAFKA__BROKERS".to_string(),
            format!("localhost:{tls_port}"),
        ),
        (
            "WEIR_KAFKA__PROPERTIES__SECURITY.PROTOCOL".into(),
            "SASL_SSL".into(),
        ),
        (
            "WEIR_KAFKA__PROPERTIES__SASL.MECHANISM".into(),
            "SCRAM-SHA-512".into(),
        ),
        ("WEIR_KAFKA__PROPERTIES__SASL.USERNAME".into(), USER.into()),
        (
            "WEIR_KAFKA__PROPERTIES__SASL.PASSWORD_FILE".into(),
            password_file.display().to_string(),
        ),
        ("WEIR_KAFKA__PROPERTIES__SSL.CA.LOCATION".into(), ca),
    ];
    let extra: Vec<(&str, &str)> = secure
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // `weir topics` over SASL_SSL (the fixture creates the topics with it).
    let fixture = Fixture::with_broker("kafkasec", broker, &extra)?;

    let sim = SimulatorConfig {
        sensors: 20,
        zones: 2,
        interval_ms: 1_000,
        count: 2_000,
        rate_per_sec: f64::INFINITY,
        seed: 17,
        start_ms: start_ms(),
        ..SimulatorConfig::default()
    };
    let want = expected(&sim)?;
    fixture.simulate(&sim)?;
    let mut run = fixture.spawn_run("run", &[])?;
    finish(&fixture, &mut run, "run", Duration::from_secs(300))?;
    check_exactly_once(&mut fixture.db()?, &want)?;

    // What an operator gets wrong, one at a time: each `weir topics` fails
    // and its log names the cause (librdkafka's report, routed to weir's log).
    let wrong_password = dir.join("wrong-password");
    std::fs::write(&wrong_password, "not-the-password\n")?;
    let env = with(&fixture.env, "WEIR_KAFKA__REQUEST_TIMEOUT_MS", "6000");
    let cases = [
        (
            "a wrong password",
            with(
                &env,
                "WEIR_KAFKA__PROPERTIES__SASL.PASSWORD_FILE",
                &wrong_password.display().to_string(),
            ),
            "SASL authentication error",
        ),
        (
            "a CA that did not sign the broker's certificate",
            with(
                &env,
                "WEIR_KAFKA__PROPERTIES__SSL.CA.LOCATION",
                &other.join("ca.pem").display().to_string(),
            ),
            "certificate verify failed",
        ),
        (
            "plaintext to the TLS listener",
            with(
                &env,
                "WEIR_KAFKA__PROPERTIES__SECURITY.PROTOCOL",
                "SASL_PLAINTEXT",
            ),
            "security.protocol",
        ),
    ];
    for (what, env, reason) in cases {
        let output = run_weir(&["topics"], &env)?;
        let (stdout, stderr) = text(&output);
        assert!(
            !output.status.success(),
            "{what}: `weir topics` succeeded:\n{stdout}{stderr}"
        );
        assert!(
            stderr.contains(reason),
            "{what}: the log does not say `{reason}`:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
