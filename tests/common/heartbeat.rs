//! The world of a `weir heartbeat` test: a broker, topics and schema of its
//! own (`Fixture`), its own Mosquitto, a PagerDuty-shaped webhook receiver,
//! one config file for `weir run` (ingest gateways on, Watchdog every
//! second) and `weir heartbeat` (short interval and deadline, mail to the
//! aiosmtpd of `scripts/services.sh`), and readers for the mail it sends.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ingest::{OwnMosquitto, curl};
use super::store::{Error, Fixture, Running, tail};
use super::webhook::{Receiver, free_port};

/// Round every 2 s, each reading looked for 6 s, Watchdog quiet after 5 s.
/// Not tighter: Tansu's sqlite engine pauses for seconds on a loaded
/// 2-core machine (docs/PERFORMANCE.md measured rounds of 3.3 s), and a
/// pause while weir is healthy would page (then the test fails, rightly).
pub const INTERVAL_MS: u64 = 2_000;
/// See [`INTERVAL_MS`].
pub const DEADLINE_MS: u64 = 6_000;
const TOKEN: &str = "hb-test-token";

/// The SMTP server's port (`scripts/lib.sh`: WEIR_SMTP_PORT).
pub fn smtp_port() -> String {
    std::env::var("WEIR_SMTP_PORT").unwrap_or_else(|_| "8025".into())
}

/// Its maildir (`scripts/lib.sh`: WEIR_SMTP_MAILDIR).
pub fn maildir() -> PathBuf {
    std::env::var_os("WEIR_SMTP_MAILDIR").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".local/state/weir/maildir")
        },
        PathBuf::from,
    )
}

/// One received mail: its subject (unfolded) and body.
#[derive(Clone, Debug)]
pub struct Mail {
    /// `Subject:`.
    pub subject: String,
    /// Everything after the headers.
    pub body: String,
}

/// Every mail in the maildir whose subject contains `needle`, oldest first.
pub fn mails(needle: &str) -> Vec<Mail> {
    let mut found: Vec<(std::time::SystemTime, Mail)> = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir().join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let text = text.replace("\r\n", "\n");
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
            let subject = unfolded
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_string();
            if subject.contains(needle) {
                let body = if unfolded.to_ascii_lowercase().contains("quoted-printable") {
                    unquote(body)
                } else {
                    body.to_string()
                };
                let at = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                found.push((at, Mail { subject, body }));
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, m)| m).collect()
}

/// A quoted-printable body decoded (soft line breaks, `=XX` bytes).
fn unquote(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A heartbeat test's world.
pub struct World {
    /// Broker, topics, schema, logs.
    pub fixture: Fixture,
    /// The heartbeat's name (unique: it is in every mail subject).
    pub name: String,
    /// The PagerDuty-shaped receiver.
    pub pagerduty: Receiver,
    /// `weir run`'s server port.
    pub server_port: u16,
    /// The heartbeat's `/health` and `/metrics`.
    pub heartbeat: String,
    config: PathBuf,
    _mosquitto: OwnMosquitto,
    runs: usize,
    /// With TLS everywhere: the certificates (`ca.pem` signs them all).
    certs: Option<PathBuf>,
}

impl World {
    /// Sets everything up; nothing of weir runs yet.
    pub fn new(test: &str) -> Result<World, Error> {
        World::with_tls(test, false)
    }

    /// As `new`; with `tls`, every connection that can be TLS is: weir's
    /// server and HTTP gateway serve HTTPS (the heartbeat checks over
    /// `https://` and `wss://`), and Mosquitto takes only TLS with a client
    /// certificate, from the bridge and from the heartbeat.
    pub fn with_tls(test: &str, tls: bool) -> Result<World, Error> {
        let mut fixture = Fixture::new(test)?;
        fixture
            .env
            .push(("WEIR_DELIVERY__WATCHDOG_MS".into(), "1000".into()));
        let certs = fixture.logs.join("certs");
        let mosquitto = if tls {
            std::fs::create_dir_all(&certs)?;
            super::tls::certificates(&certs, "weir")?;
            super::tls::client_certificate(&certs, "weir-client")?;
            OwnMosquitto::start_tls(&format!("{test}-mqtt"), &certs)?
        } else {
            OwnMosquitto::start(&format!("{test}-mqtt"))?
        };
        let file = |f: &str| certs.join(f).display().to_string();
        let (scheme, tls_settings) = if tls {
            let (ca, cert, key) = (file("ca.pem"), file("server.pem"), file("server.key"));
            let (client, client_key) = (file("client.pem"), file("client.key"));
            let mqtt_tls = format!(
                "enabled = true\nca_file = \"{ca}\"\ncert_path = \"{client}\"\nkey_path = \"{client_key}\"\n"
            );
            let listener = format!("cert_path = \"{cert}\"\nkey_path = \"{key}\"\n");
            (
                "https://",
                format!(
                    "ca_file = \"{ca}\"\n[heartbeat.mqtt_tls]\n{mqtt_tls}[ingest.mqtt.tls]\n{mqtt_tls}\
                     [server.tls]\n{listener}[ingest.http.tls]\n{listener}"
                ),
            )
        } else {
            ("", String::new())
        };
        let pd_port = free_port()?;
        let pagerduty = Receiver::start(pd_port)?;
        let (server_port, ingest_port, grpc_port, hb_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() % 1_000_000_000);
        let name = format!("t{}x{nanos}", std::process::id());
        let config = fixture.logs.join("weir.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
heartbeat_url = "http://127.0.0.1:{hb_port}/health"
[ingest]
enabled = true
[ingest.http]
listen = "127.0.0.1:{ingest_port}"
[ingest.grpc]
enabled = false
listen = "127.0.0.1:{grpc_port}"
[ingest.mqtt]
broker = "{mqtt}"
client_id = "{name}-bridge"
topic_filter = "{name}/+/readings"
[ingest.buffer]
dir = "{buffer}"
[ingest.auth]
required = true
tokens = [{{ token = "{TOKEN}", device = "heartbeat", sensors = ["hb-*"] }}]
[heartbeat]
name = "{name}"
listen = "127.0.0.1:{hb_port}"
interval_ms = {INTERVAL_MS}
deadline_ms = {DEADLINE_MS}
server = "{scheme}127.0.0.1:{server_port}"
ingest_http = "{scheme}127.0.0.1:{ingest_port}"
ingest_token = "{TOKEN}"
mqtt_broker = "{mqtt}"
mqtt_client_id = "{name}-hb"
watchdog_after_ms = 5000
remind_every_ms = 600000
smtp_server = "127.0.0.1:{smtp}"
smtp_to = ["oncall@example.invalid"]
pagerduty_url = "http://127.0.0.1:{pd_port}/v2/enqueue"
pagerduty_routing_key = "routing-{name}"
{tls_settings}"#,
                mqtt = mosquitto.address,
                buffer = fixture.logs.join("buffer").display(),
                smtp = smtp_port(),
            ),
        )?;
        Ok(World {
            fixture,
            name,
            pagerduty,
            server_port,
            heartbeat: format!("127.0.0.1:{hb_port}"),
            config,
            _mosquitto: mosquitto,
            runs: 0,
            certs: tls.then_some(certs),
        })
    }

    /// Starts a live `weir run` (server, ingest gateways) and waits until its server answers.
    pub fn start_weir(&mut self) -> Result<Running, Error> {
        self.runs += 1;
        let name = format!("run-{}", self.runs);
        let config = self.config.display().to_string();
        let mut run = self
            .fixture
            .spawn_live(&name, self.server_port, &["--config", &config])?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, _, _) =
                self.weir_curl("/health")
                    .unwrap_or((0, String::new(), String::new()));
            if status == 200 || status == 503 {
                return Ok(run);
            }
            if let Some(exit) = run.try_wait()? {
                return Err(format!(
                    "{name} exited ({exit}):\n{}",
                    tail(&self.fixture.log_path(&name))
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name}: no server in 120 s:\n{}",
                    tail(&self.fixture.log_path(&name))
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts `weir heartbeat`.
    pub fn start_heartbeat(&self) -> Result<Running, Error> {
        let config = self.config.display().to_string();
        self.fixture
            .spawn("heartbeat", &["heartbeat", "--config", &config])
    }

    /// The heartbeat's log, for messages.
    pub fn log(&self) -> String {
        format!(
            "heartbeat:\n{}\nrun-{}:\n{}",
            tail(&self.fixture.log_path("heartbeat")),
            self.runs,
            tail(&self.fixture.log_path(&format!("run-{}", self.runs)))
        )
    }

    /// The heartbeat's `/health`: (status, body).
    pub fn health(&self) -> Result<(u16, Value), Error> {
        let (status, body, _) = curl(&[&format!("http://{}/health", self.heartbeat)])?;
        Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
    }

    /// `curl` of `path` on `weir run`'s server (over HTTPS with TLS on).
    fn weir_curl(&self, path: &str) -> Result<(u16, String, String), Error> {
        match &self.certs {
            None => curl(&[&format!("http://127.0.0.1:{}{path}", self.server_port)]),
            Some(certs) => curl(&[
                "--cacert",
                &certs.join("ca.pem").display().to_string(),
                &format!("https://127.0.0.1:{}{path}", self.server_port),
            ]),
        }
    }

    /// A JSON answer of `weir run`'s server.
    pub fn weir_get(&self, path: &str) -> Result<Value, Error> {
        let (_, body, _) = self.weir_curl(path)?;
        Ok(serde_json::from_str(&body)?)
    }

    /// `weir run`'s own `/health` body.
    pub fn weir_health(&self) -> Result<Value, Error> {
        let (_, body, _) = self.weir_curl("/health")?;
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// The heartbeat's `/metrics` text.
    pub fn metrics(&self) -> Result<String, Error> {
        Ok(curl(&[&format!("http://{}/metrics", self.heartbeat)])?.1)
    }

    /// Waits until every path × check of the latest round passed.
    pub fn wait_all_ok(&self, timeout: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok((200, health)) = self.health() {
                let checks = health["checks"].as_array().cloned().unwrap_or_default();
                if checks.len() == 9 && checks.iter().all(|c| c["ok"] == true) {
                    return Ok(health);
                }
                last = health;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!(
            "not every check passed in {timeout:?}: {last:#}\n{}",
            self.log()
        )
        .into())
    }

    /// Waits for a mail of this heartbeat whose subject contains `word` (`TRIGGER`, `RESOLVED`).
    pub fn wait_mail(&self, word: &str, timeout: Duration) -> Result<(Mail, Duration), Error> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(mail) = self.mails(word).into_iter().next() {
                return Ok((mail, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no {word} mail for {} in {timeout:?}\n{}",
            self.name,
            self.log()
        )
        .into())
    }

    /// This heartbeat's mails whose subject contains `word`.
    pub fn mails(&self, word: &str) -> Vec<Mail> {
        mails(&format!("[weir heartbeat {}]", self.name))
            .into_iter()
            .filter(|m| m.subject.contains(word))
            .collect()
    }

    /// The PagerDuty events received with `event_action` = `action`.
    pub fn pagerduty_events(&self, action: &str) -> Vec<Value> {
        self.pagerduty
            .received()
            .into_iter()
            .map(|r| r.body)
            .filter(|b| b["event_action"] == action)
            .collect()
    }

    /// Waits for a PagerDuty event with `event_action` = `action`.
    pub fn wait_pagerduty(&self, action: &str, timeout: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(event) = self.pagerduty_events(action).into_iter().next() {
                return Ok(event);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("no pagerduty {action} in {timeout:?}\n{}", self.log()).into())
    }

    /// Every `e2e` histogram count of `/metrics` is above zero (9 series).
    pub fn assert_observed(&self) -> Result<(), Error> {
        let text = self.metrics()?;
        let counts: Vec<(String, f64)> = text
            .lines()
            .filter(|l| l.starts_with("weir_heartbeat_e2e_seconds_count{"))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_string(), value.parse().ok()?))
            })
            .collect();
        assert_eq!(counts.len(), 9, "{text}");
        assert!(counts.iter().all(|(_, n)| *n >= 1.0), "{counts:?}");
        Ok(())
    }

    /// Nothing but Watchdog events in weir's outbox (`alert_events`).
    pub fn assert_outbox_only_watchdog(&self) -> Result<(), Error> {
        let mut db = self.fixture.db()?;
        let rows = db.query(
            "SELECT event, alert_id, count(*) FROM alert_events GROUP BY 1, 2",
            &[],
        )?;
        let groups: Vec<(String, String, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert!(
            groups
                .iter()
                .all(|(event, alert, _)| event == "watchdog" && alert == "watchdog"),
            "weir's outbox holds more than watchdog events: {groups:?}"
        );
        Ok(())
    }
}
