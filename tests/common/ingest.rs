//! A `weir ingest` of the test's own: free ports, its own MQTT client id and
//! topic prefix, a fresh disk buffer, device tokens, and topics of its own
//! (on the shared broker, or one of the test's own).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::webhook::free_port;
use super::{brokers, run_weir, text, topic_env, unique, weir};

/// Boxed errors.
pub type Error = Box<dyn std::error::Error>;

/// The token the tests' device uses (may send `corpus-*`, `dev-*`, `mq-*`, `rpc-*`).
pub const TOKEN: &str = "test-token-1";
/// A token that may only send `other-*`.
pub const NARROW_TOKEN: &str = "test-token-2";

/// One `weir ingest` and its world.
pub struct Ingest {
    /// Environment for `weir` children (topics, broker).
    pub env: Vec<(String, String)>,
    /// The config file.
    pub config: PathBuf,
    /// `127.0.0.1:port` of the HTTP gateway.
    pub http: String,
    /// `127.0.0.1:port` of the gRPC gateway.
    pub grpc: String,
    /// MQTT topic prefix (`<prefix>/<sensor>/readings`).
    pub mqtt_prefix: String,
    /// Kafka brokers.
    pub brokers: String,
    /// The readings topic.
    pub readings: String,
    /// The dead-letter topic.
    pub dlq: String,
    /// Logs and the buffer.
    pub dir: PathBuf,
    child: Option<Child>,
    runs: usize,
}

impl Ingest {
    /// Sets up (topics created), not started. `settings` are (section, `key = value`)
    /// lines added to the test's config file, e.g. `("ingest.mqtt", "enabled = false")`.
    pub fn new(
        name: &str,
        broker: Option<&str>,
        settings: &[(&str, &str)],
    ) -> Result<Ingest, Error> {
        let prefix = unique(name);
        let mut env = topic_env(&prefix);
        let brokers = broker.map_or_else(brokers, str::to_string);
        env.retain(|(k, _)| k != "WEIR_KAFKA__BROKERS");
        env.push(("WEIR_KAFKA__BROKERS".into(), brokers.clone()));
        let dir = std::env::temp_dir().join(format!("{prefix}-ingest"));
        std::fs::create_dir_all(&dir)?;
        let (http, grpc) = (free_port()?, free_port()?);
        let mqtt_prefix = format!("{prefix}-sensors");
        let config = dir.join("weir.toml");
        let mut sections: std::collections::BTreeMap<&str, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut add =
            |section: &'static str, line: String| sections.entry(section).or_default().push(line);
        add("ingest.http", format!("listen = \"127.0.0.1:{http}\""));
        add("ingest.grpc", format!("listen = \"127.0.0.1:{grpc}\""));
        add("ingest.mqtt", format!("client_id = \"{prefix}\""));
        add(
            "ingest.mqtt",
            format!("topic_filter = \"{mqtt_prefix}/+/readings\""),
        );
        add(
            "ingest.buffer",
            format!("dir = \"{}\"", dir.join("buffer").display()),
        );
        add("ingest.auth", "required = true".into());
        add(
            "ingest.auth",
            format!(
                "tokens = [{{ token = \"{TOKEN}\", device = \"test-device\", sensors = [\"corpus-*\", \"dev-*\", \"mq-*\", \"rpc-*\", \"load-*\"] }}, \
                 {{ token = \"{NARROW_TOKEN}\", device = \"narrow\", sensors = [\"other-*\"] }}]"
            ),
        );
        let mut file = String::new();
        for (section, line) in settings {
            sections
                .entry(section)
                .or_default()
                .push((*line).to_string());
        }
        for (section, lines) in &sections {
            file.push_str(&format!("[{section}]\n"));
            for line in lines {
                file.push_str(line);
                file.push('\n');
            }
        }
        std::fs::write(&config, file)?;
        let output = run_weir(&["topics"], &env)?;
        assert!(output.status.success(), "topics: {:?}", text(&output));
        Ok(Ingest {
            readings: format!("{prefix}-readings"),
            dlq: format!("{prefix}-dlq"),
            env,
            config,
            http: format!("127.0.0.1:{http}"),
            grpc: format!("127.0.0.1:{grpc}"),
            mqtt_prefix,
            brokers,
            dir,
            child: None,
            runs: 0,
        })
    }

    /// Starts `weir ingest`; waits until the HTTP gateway answers.
    pub fn start(&mut self) -> Result<(), Error> {
        self.runs += 1;
        let log = std::fs::File::create(self.log())?;
        let child = weir()
            .args(["--config", &self.config.display().to_string(), "ingest"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&self.http).is_err() {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(format!("weir ingest exited ({status}):\n{}", self.log_tail()).into());
            }
            if Instant::now() > deadline {
                return Err(format!("weir ingest did not listen:\n{}", self.log_tail()).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Stops it with SIGINT (it sends what it buffered, up to 10 s).
    pub fn stop(&mut self) -> Result<(), Error> {
        if let Some(mut child) = self.child.take() {
            super::store::interrupt(&mut child)?;
        }
        Ok(())
    }

    /// Kills it (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it is still running (it must never crash).
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The current run's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("ingest-{}.log", self.runs))
    }

    /// Its tail.
    pub fn log_tail(&self) -> String {
        super::store::tail(&self.log())
    }

    /// The MQTT topic of a sensor.
    pub fn topic(&self, sensor: &str) -> String {
        format!("{}/{sensor}/readings", self.mqtt_prefix)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A v1 JSON reading.
pub fn reading(sensor: &str, ts: i64, value: f64) -> String {
    format!(r#"{{"sensorId":"{sensor}","timestamp":{ts},"value":{value}}}"#)
}

/// `curl` with `args`; (HTTP status, body, headers).
pub fn curl(args: &[&str]) -> Result<(u16, String, String), Error> {
    let headers = tempfile_path("curl-headers");
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-D",
            &headers.display().to_string(),
            "-w",
            "\n%{http_code}",
            "--max-time",
            "60",
        ])
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let head = std::fs::read_to_string(&headers).unwrap_or_default();
    let _ = std::fs::remove_file(&headers);
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_string(), head))
}

fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(unique(name))
}

/// One HTTP/1.1 POST with raw bytes (`Connection: close`): (status, body, raw head).
pub fn post(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String, String), Error> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // The server may answer (413) before taking the whole body: a failed write is fine then.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string(), head.to_string()))
}

/// A Mosquitto of the test's own (free port, in-memory sessions), configured
/// as weir's bridge needs it: unbounded queues for offline or busy
/// sessions, a wide in-flight window (the system broker's defaults, 1,000
/// queued and 20 in flight, drop QoS 1 messages under a burst).
pub struct OwnMosquitto {
    child: Option<std::process::Child>,
    dir: PathBuf,
    /// `127.0.0.1:port`.
    pub address: String,
}

impl OwnMosquitto {
    /// Starts it and waits until it accepts connections.
    pub fn start(name: &str) -> Result<OwnMosquitto, Error> {
        OwnMosquitto::start_with(name, None)
    }

    /// Starts it; with `user` (name, password) it accepts only that user,
    /// from a password file made with `mosquitto_passwd`.
    pub fn start_with(name: &str, user: Option<(&str, &str)>) -> Result<OwnMosquitto, Error> {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir)?;
        let access = match user {
            None => "allow_anonymous true\n".to_string(),
            Some((name, password)) => {
                let file = dir.join("passwords");
                let made = std::process::Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([name, password])
                    .output()?;
                if !made.status.success() {
                    return Err(format!(
                        "mosquitto_passwd: {}",
                        String::from_utf8_lossy(&made.stderr)
                    )
                    .into());
                }
                format!("allow_anonymous false\npassword_file {}\n", file.display())
            }
        };
        OwnMosquitto::launch(dir, &access)
    }

    /// Starts it with a TLS listener only: the certificate `certs/server.pem`
    /// (see `common::tls::certificates`), and clients must present a
    /// certificate signed by `certs/ca.pem`.
    pub fn start_tls(name: &str, certs: &Path) -> Result<OwnMosquitto, Error> {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir)?;
        // Mosquitto started as root runs as the user `mosquitto`: the
        // test key (made 0600 by openssl) must be readable to it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            certs.join("server.key"),
            std::fs::Permissions::from_mode(0o644),
        )?;
        let file = |f: &str| certs.join(f).display().to_string();
        let tls = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous true\n",
            file("ca.pem"),
            file("server.pem"),
            file("server.key"),
        );
        OwnMosquitto::launch(dir, &tls)
    }

    /// Writes `dir/mosquitto.conf` with one listener and `settings` (its
    /// access and TLS lines), starts Mosquitto and waits for its port.
    fn launch(dir: PathBuf, settings: &str) -> Result<OwnMosquitto, Error> {
        let port = free_port()?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{settings}persistence false\n\
                 max_queued_messages 0\nmax_inflight_messages 100\nlog_dest file {}\n",
                dir.join("mosquitto.log").display()
            ),
        )?;
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting mosquitto (Debian package mosquitto): {e}"))?;
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&address).is_err() {
            if Instant::now() > deadline {
                return Err("mosquitto did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(OwnMosquitto {
            child: Some(child),
            dir,
            address,
        })
    }

    /// Its port.
    pub fn port(&self) -> String {
        self.address
            .rsplit(':')
            .next()
            .unwrap_or("1883")
            .to_string()
    }
}

impl Drop for OwnMosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
