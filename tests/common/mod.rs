//! Helpers shared by the end-to-end tests: the binary, unique names, the broker.
#![allow(dead_code)] // each test binary uses a different subset

pub mod browser;
pub mod corpus;
pub mod heartbeat;
pub mod ingest;
pub mod kafka;
pub mod store;
pub mod tls;
pub mod webhook;

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// Serialises the heavy tests of one test binary (each runs a broker and
/// `weir` processes of its own; two at once on two cores make timing noise).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `weir` binary cargo built for this test run.
pub fn weir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    // Tests set every setting they depend on explicitly.
    command.env_remove("WEIR_CONFIG").env("RUST_LOG", "warn");
    // The Watchdog (an always-firing event a minute on every channel) would
    // add events to the tests that count deliveries; tests/alerts_watchdog.rs
    // turns it on (a fixture's env comes after this and wins).
    command.env("WEIR_DELIVERY__WATCHDOG_MS", "0");
    command
}

/// Runs `weir` with `args` and `env`, returning its output.
pub fn run_weir(args: &[&str], env: &[(String, String)]) -> std::io::Result<Output> {
    weir()
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
}

/// A suffix no other test run shares (topics are never deleted: see docs).
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("it-{name}-{}-{nanos}", std::process::id())
}

/// A loopback port nothing listens on, for a child to listen on later.
/// Taken below the kernel's ephemeral range (32768–60999): a port the kernel
/// handed out with `bind(:0)` is free again once the probe closes, and any
/// outgoing connection (a weir started meanwhile makes many) may take it as
/// its local port before the child binds it ("Address already in use").
/// Never the same port twice in one test binary.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for i in 0..12_000u32 {
        let port = 20_000 + ((seed.wrapping_add(i.wrapping_mul(7_919))) % 12_000) as u16;
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no free loopback port in 20000..32000",
    ))
}

/// The broker under test: `WEIR_KAFKA__BROKERS` or the local default.
pub fn brokers() -> String {
    std::env::var("WEIR_KAFKA__BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A PostgreSQL schema name for `prefix` (lowercase, digits, underscores).
pub fn schema_of(prefix: &str) -> String {
    prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Environment giving this test its own five topics and PostgreSQL schema.
pub fn topic_env(prefix: &str) -> Vec<(String, String)> {
    ["readings", "registry", "alerts", "dlq", "control"]
        .iter()
        .map(|t| {
            (
                format!("WEIR_KAFKA__{}_TOPIC", t.to_uppercase()),
                format!("{prefix}-{t}"),
            )
        })
        .chain([
            ("WEIR_KAFKA__BROKERS".into(), brokers()),
            ("WEIR_POSTGRES__SCHEMA".into(), schema_of(prefix)),
            // Tests of other things talk to the API without tokens (on
            // loopback); tests/serve_auth.rs turns authentication on.
            ("WEIR_SERVER__AUTH__ENABLED".into(), "false".into()),
        ])
        .chain(
            std::env::var("WEIR_POSTGRES__URL")
                .ok()
                .map(|url| ("WEIR_POSTGRES__URL".into(), url)),
        )
        .collect()
}

/// stdout and stderr as text, for assertion messages.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A Tansu broker of the test's own (sqlite engine, fresh data, free port):
/// isolates heavy tests from the shared broker and lets a test restart it.
pub struct OwnBroker {
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    storage: String,
    /// `127.0.0.1:port`.
    pub address: String,
    /// What the broker tells clients to connect to (`host:port`; default `address`).
    advertised: String,
    /// Further `tansu broker` arguments (e.g. `--authentication`).
    args: Vec<String>,
}

impl OwnBroker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start(name: &str) -> std::io::Result<OwnBroker> {
        OwnBroker::start_with(name, "sqlite://data/tansu.db")
    }

    /// Starts a broker on `storage` (e.g. with `?maintenance_interval=1s`:
    /// retention runs every second instead of every 10 minutes).
    pub fn start_with(name: &str, storage: &str) -> std::io::Result<OwnBroker> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(dir.join("data"))?;
        let mut broker = OwnBroker {
            child: None,
            dir,
            storage: storage.to_string(),
            address: format!("127.0.0.1:{port}"),
            advertised: format!("127.0.0.1:{port}"),
            args: Vec::new(),
        };
        broker.restart()?;
        Ok(broker)
    }

    /// (Re)starts the broker process on the same data and port.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let tansu = OwnBroker::tansu();
        let url = format!("tcp://{}", self.address);
        let advertised = format!("tcp://{}", self.advertised);
        let log = std::fs::File::create(self.dir.join("tansu.log"))?;
        let child = std::process::Command::new(&tansu)
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", &self.storage])
            .args(&self.args)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("starting {tansu}: {e}")))?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(&self.address).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(std::io::Error::other("tansu did not start within 60 s"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The index Tansu's sqlite schema lacks (scripts/tansu_index.py).
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tansu_index.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(self.dir.join("data/tansu.db"))
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("{script} failed: {status}")));
        }
        Ok(())
    }

    /// Restarts it on the same data with `args` added, telling clients to
    /// connect to `advertised` (`host:port`: e.g. a TLS proxy in front of it).
    pub fn reconfigure(&mut self, advertised: &str, args: &[&str]) -> std::io::Result<()> {
        self.advertised = advertised.to_string();
        self.args = args.iter().map(|a| a.to_string()).collect();
        self.restart()
    }

    /// The `tansu` binary (`TANSU_BIN`, else cargo's bin directory).
    pub fn tansu() -> String {
        std::env::var("TANSU_BIN").unwrap_or_else(|_| {
            let home = std::env::var("CARGO_HOME").unwrap_or_else(|_| {
                format!("{}/.cargo", std::env::var("HOME").unwrap_or_default())
            });
            format!("{home}/bin/tansu")
        })
    }

    /// Kills the broker process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
