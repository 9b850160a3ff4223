//! `https://` webhooks (issue #17): a receiver written in Python
//! (`http.server` over `ssl`, a certificate from a CA made here) gets the
//! Watchdog's events from a live `weir run` that trusts that CA through the
//! webhook's `ca_file`, each signed; a second webhook, same receiver kind,
//! whose certificate weir cannot verify (the system's CAs do not know the
//! test's CA) gets nothing, and its outbox rows say why.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::store::{Error, Fixture, tail};
use common::tls::certificates;
use common::webhook::check_signature;

const RECEIVER: &str = r#"
import http.server, json, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(out, "a") as f:
            f.write(json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode()}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

struct Hook {
    child: Child,
    out: std::path::PathBuf,
    port: u16,
}

impl Hook {
    fn start(dir: &Path, name: &str) -> Result<Hook, Error> {
        let port = common::free_port()?;
        let out = dir.join(format!("{name}.jsonl"));
        let child = Command::new("python3")
            .args(["-c", RECEIVER, &port.to_string()])
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the python receiver did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Hook { child, out, port })
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_webhooks_verify_the_receiver_and_sign_each_event() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(common::unique("https-hooks"));
    std::fs::create_dir_all(&dir)?;
    certificates(&dir, "hook-receiver")?;
    let good = Hook::start(&dir, "good")?;
    let untrusted = Hook::start(&dir, "untrusted")?;
    let mut fixture = Fixture::new("https-hooks")?;
    let secret = "hook-secret-https";
    fixture.env.extend([
        (
            "WEIR_DELIVERY__WEBHOOKS".to_string(),
            format!(
                r#"[{{name = "good", url = "https://127.0.0.1:{}/hook", ca_file = "{}", secret = "{secret}"}},
                   {{name = "untrusted", url = "https://127.0.0.1:{}/hook"}}]"#,
                good.port,
                dir.join("ca.pem").display(),
                untrusted.port
            ),
        ),
        ("WEIR_DELIVERY__WATCHDOG_MS".to_string(), "1000".to_string()),
    ]);
    let mut run = fixture.spawn("run", &["run", "--no-server", "--report-secs", "2"])?;
    let result = (|| -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let received = loop {
            let received = good.received();
            if received.len() >= 3 {
                break received;
            }
            if Instant::now() > deadline {
                return Err(
                    format!("{} events at the https receiver after 60 s", received.len()).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        for event in &received {
            let body = event["body"].as_str().unwrap_or_default();
            let parsed: Value = serde_json::from_str(body)?;
            assert_eq!(parsed["event"], "watchdog", "{body}");
            let failed = check_signature(
                secret,
                event["headers"]["x-weir-timestamp"]
                    .as_str()
                    .unwrap_or_default(),
                event["headers"]["x-weir-signature"]
                    .as_str()
                    .unwrap_or_default(),
                body.as_bytes(),
                now,
            );
            assert_eq!(failed, None, "{event}");
        }
        // The untrusted receiver got nothing; the outbox says why.
        assert!(
            untrusted.received().is_empty(),
            "a delivery without verifying the certificate"
        );
        let mut db = fixture.db()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let errors: Vec<String> = db
                .query(
                    "SELECT coalesce(last_error, '') FROM alert_deliveries \
                     WHERE channel = 'webhook:untrusted' AND state <> 'delivered'",
                    &[],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if errors
                .iter()
                .any(|e| e.contains("certificate") || e.contains("UnknownIssuer"))
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("no certificate error recorded: {errors:?}").into());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let delivered: i64 = db
            .query_one(
                "SELECT count(*) FROM alert_deliveries WHERE channel = 'webhook:untrusted' AND state = 'delivered'",
                &[],
            )?
            .get(0);
        assert_eq!(delivered, 0);
        Ok(())
    })();
    let _ = run.kill();
    let _ = run.wait();
    result.map_err(|e| format!("{e}\nweir run:\n{}", tail(&fixture.log_path("run"))).into())
}
