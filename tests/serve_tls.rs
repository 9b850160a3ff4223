//! TLS on weir's listeners (issue #17): a CA and a server certificate made
//! here with `openssl`; the API server and the HTTP ingest gateway answer
//! `curl --cacert` over HTTPS, the gRPC gateway a tonic client over TLS;
//! each refuses a plaintext client cleanly (and goes on serving); the
//! server takes a new certificate on SIGHUP without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ingest::{Ingest, TOKEN, curl, reading};
use common::store::{Error, Fixture, interrupt, tail};
use common::tls::certificates;

/// The subject the server at `address` presents.
fn presented_subject(address: &str, ca: &Path) -> Result<String, Error> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {address} -CAfile {} -verify_return_error </dev/null 2>/dev/null \
             | openssl x509 -noout -subject",
            ca.display()
        ))
        .output()?;
    // OpenSSL 3 prints `subject=CN = x`, older ones `subject=CN=x`.
    Ok(String::from_utf8_lossy(&output.stdout)
        .replace(' ', "")
        .trim()
        .to_string())
}

fn dir(name: &str) -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(common::unique(name));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_and_the_gateways_speak_tls_and_reload_it() -> Result<(), Error> {
    let certs = dir("tls-certs")?;
    certificates(&certs, "weir-one")?;
    let ca = certs.join("ca.pem");
    let ca_arg = ca.display().to_string();
    let (cert, key) = (
        certs.join("server.pem").display().to_string(),
        certs.join("server.key").display().to_string(),
    );

    // The API server.
    let mut fixture = Fixture::new("tls")?;
    let address = format!("127.0.0.1:{}", common::free_port()?);
    for (k, v) in [
        ("WEIR_SERVER__LISTEN", address.clone()),
        ("WEIR_SERVER__TLS__CERT_PATH", cert.clone()),
        ("WEIR_SERVER__TLS__KEY_PATH", key.clone()),
    ] {
        fixture.env.push((k.into(), v));
    }
    let mut run = fixture.spawn("run", &["run", "-w", "1", "--report-secs", "2"])?;
    let result = (|| -> Result<(), Error> {
        let url = format!(
            "https://127.0.0.1:{}/api/openapi.json",
            address.rsplit(':').next().unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let (status, body, _) = loop {
            let answer = curl(&["--cacert", &ca_arg, &url])?;
            if answer.0 == 200 || Instant::now() > deadline {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"openapi\""), "{body}");
        // Without the CA the certificate is not trusted: curl refuses.
        let untrusted = Command::new("curl")
            .args(["-sS", "--max-time", "10", &url])
            .output()?;
        assert!(!untrusted.status.success(), "an unknown CA was trusted");
        // Plain HTTP to the TLS port fails cleanly, and TLS still works after.
        let plain = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                &format!("http://{address}/api/openapi.json"),
            ])
            .output()?;
        assert!(!plain.status.success(), "plain HTTP answered: {:?}", plain);
        let (status, _, _) = curl(&["--cacert", &ca_arg, &format!("https://{address}/health")])?;
        assert!(status == 200 || status == 503, "health over TLS: {status}");
        assert_eq!(presented_subject(&address, &ca)?, "subject=CN=weir-one");
        // A new certificate, then SIGHUP: new handshakes get it.
        certificates(&certs, "weir-two")?;
        let pid = run.id().to_string();
        Command::new("kill").args(["-HUP", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let subject = presented_subject(&address, &ca)?;
            if subject == "subject=CN=weir-two" {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("still {subject} after SIGHUP").into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let (status, _, _) = curl(&["--cacert", &ca_arg, &url])?;
        assert_eq!(status, 200);
        Ok(())
    })();
    interrupt(&mut run)?;
    result.map_err(|e| format!("{e}\nweir run:\n{}", tail(&fixture.log_path("run"))))?;

    // The HTTP ingest gateway, on the reloaded certificate.
    let mut ingest = Ingest::new(
        "tls-ingest",
        None,
        &[
            ("ingest.mqtt", "enabled = false"),
            ("ingest.http.tls", &format!("cert_path = \"{cert}\"")),
            ("ingest.http.tls", &format!("key_path = \"{key}\"")),
            ("ingest.grpc.tls", &format!("cert_path = \"{cert}\"")),
            ("ingest.grpc.tls", &format!("key_path = \"{key}\"")),
        ],
    )?;
    ingest.start()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let body = reading("dev-tls-1", now, 21.5);
    let url = format!("https://{}/ingest", ingest.http);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, answer, _) = curl(&[
        "--cacert",
        &ca_arg,
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "--data",
        &body,
        &url,
    ])?;
    assert!(
        (200..300).contains(&status),
        "{status} {answer}\n{}",
        ingest.log_tail()
    );
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &format!("http://{}/ingest", ingest.http),
        ])
        .output()?;
    assert!(
        !plain.status.success(),
        "plain HTTP accepted by the TLS gateway"
    );
    assert!(ingest.alive(), "the gateway survives a plain HTTP client");
    grpc_over_tls(&ingest, &ca).await?;
    assert!(
        ingest.alive(),
        "the gateway survives a plaintext gRPC client"
    );
    ingest.stop()?;
    Ok(())
}

/// `Send` over TLS with a tonic client trusting only the test's CA; a
/// plaintext client gets an error, not an answer.
async fn grpc_over_tls(ingest: &Ingest, ca: &Path) -> Result<(), Error> {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};
    use weir_connectors::ingest::proto::ingest::ingest_client::IngestClient;
    use weir_connectors::ingest::proto::reading::SensorReading;
    let request = |sensor: &str| -> Result<tonic::Request<SensorReading>, Error> {
        let mut request = tonic::Request::new(SensorReading {
            sensor_id: sensor.into(),
            ts_ms: Some(1_764_000_000_000),
            value: Some(1.5),
            flags: vec![],
            unit: None,
            battery: None,
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse()?);
        Ok(request)
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read_to_string(ca)?))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", ingest.grpc))?
        .tls_config(tls)?
        .connect()
        .await?;
    let ack = IngestClient::new(channel)
        .send(request("rpc-tls-1")?)
        .await?
        .into_inner();
    assert!(ack.accepted, "{ack:?}");
    let plaintext = async {
        let channel = Channel::from_shared(format!("http://{}", ingest.grpc))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .connect()
            .await?;
        IngestClient::new(channel)
            .send(request("rpc-tls-2")?)
            .await?;
        Ok::<(), Error>(())
    }
    .await;
    assert!(plaintext.is_err(), "a plaintext gRPC client was answered");
    Ok(())
}
