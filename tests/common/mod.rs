//! Helpers shared by the end-to-end tests: the binary, unique names, the broker.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `weir` binary cargo built for this test run.
pub fn weir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    // Tests set every setting they depend on explicitly.
    command.env_remove("WEIR_CONFIG").env("RUST_LOG", "warn");
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

/// Environment giving this test its own four topics and PostgreSQL schema.
pub fn topic_env(prefix: &str) -> Vec<(String, String)> {
    ["readings", "registry", "alerts", "dlq"]
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
