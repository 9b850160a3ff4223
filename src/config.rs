//! `weir.toml`: every component's settings gathered in one file.
//!
//! Precedence: built-in defaults (pointing at the loopback services that
//! `scripts/services.sh` starts), then the file, then `WEIR_<SECTION>__<KEY>`
//! environment variables, then command-line flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use weir_connectors::delivery::DeliveryConfig;
use weir_connectors::ingest::IngestConfig;
use weir_connectors::kafka::KafkaConfig;
use weir_connectors::postgres::PostgresConfig;
use weir_dataflow::DataflowConfig;
use weir_dataflow::config::AlertPolicy;
use weir_server::ServerConfig;

use crate::heartbeat::HeartbeatConfig;
use crate::simulate::SimulatorConfig;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "WEIR_CONFIG";
const ENV_PREFIX: &str = "WEIR_";

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Kafka brokers and topics.
    pub kafka: KafkaConfig,
    /// The PostgreSQL database.
    pub postgres: PostgresConfig,
    /// The rules of the dataflow graph.
    pub dataflow: DataflowConfig,
    /// The built-in sensor simulator (`weir simulate`).
    pub simulator: SimulatorConfig,
    /// The push server, REST API, dashboard and metrics (`weir run`).
    pub server: ServerConfig,
    /// When anomalies become alerts (dedup, cooldown, escalation, grouping).
    pub alerts: AlertPolicy,
    /// Where alert events are delivered (the alerts topic, webhooks).
    pub delivery: DeliveryConfig,
    /// The ingest gateways (HTTP, MQTT, gRPC) and their disk buffer.
    pub ingest: IngestConfig,
    /// `weir heartbeat`: end-to-end probes and the independent alert channel.
    pub heartbeat: HeartbeatConfig,
}

impl Config {
    /// Loads the configuration: `path` (from `--config` or `WEIR_CONFIG`) if
    /// given, then overrides from `env` (`WEIR_SECTION__KEY=value`).
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                let table: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?;
                // Report unknown keys against the file before env overrides muddy it.
                Config::deserialize(toml::Value::Table(table.clone()))
                    .with_context(|| format!("in config file {}", path.display()))?;
                table
            }
            None => toml::Table::new(),
        };
        let mut applied = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let Some((key, tables)) = path.split_last().filter(|(_, t)| !t.is_empty()) else {
                continue; // e.g. WEIR_CONFIG, WEIR_BIN: not a setting
            };
            // `WEIR_SERVER__AUTH__ENABLED` is `[server.auth] enabled`.
            let mut table_ref = &mut table;
            for (depth, part) in tables.iter().enumerate() {
                let entry = table_ref
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let Some(inner) = entry.as_table_mut() else {
                    bail!("{name}: `{}` is not a section", tables[..=depth].join("."));
                };
                table_ref = inner;
            }
            // `WEIR_…__KEY_FILE=/path`: the setting KEY is the file's text
            // (a secret kept out of the TOML file and the environment).
            match key.strip_suffix("_file") {
                Some(real) => {
                    let text = std::fs::read_to_string(&value)
                        .with_context(|| format!("{name}: reading {value}"))?;
                    table_ref.insert(
                        real.to_string(),
                        toml::Value::String(text.trim_end_matches(['\n', '\r']).to_string()),
                    );
                }
                None => {
                    table_ref.insert(key.clone(), env_value(&value));
                }
            }
            applied.push(name);
        }
        Config::deserialize(toml::Value::Table(table)).with_context(|| {
            format!(
                "after applying environment overrides {}",
                if applied.is_empty() {
                    "(none)".to_string()
                } else {
                    applied.join(", ")
                }
            )
        })
    }

    /// The config file path: the flag, else `WEIR_CONFIG`.
    pub fn path_from(flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
    }
}

/// An environment value as TOML: numbers, booleans and `inf` keep their
/// type; anything else (addresses, names) is a string. Quote a value
/// (`'"12"'`) to force a string.
fn env_value(raw: &str) -> toml::Value {
    let document = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&document) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn example_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("weir.example.toml")
    }

    #[test]
    fn no_file_gives_loopback_defaults() -> anyhow::Result<()> {
        let config = Config::load(None, env(&[]))?;
        assert_eq!(config, Config::default());
        assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(config.postgres.address().as_deref(), Some("127.0.0.1:5432"));
        Ok(())
    }

    #[test]
    fn example_file_parses_and_states_every_default() -> anyhow::Result<()> {
        let config = Config::load(Some(&example_path()), env(&[]))?;
        assert_eq!(config, Config::default());
        // Every setting appears in the example: serialising the defaults
        // yields no key the example lacks.
        let example: toml::Table = toml::from_str(&std::fs::read_to_string(example_path())?)?;
        let defaults = toml::Table::try_from(Config::default())?;
        for (section, keys) in &defaults {
            for key in keys.as_table().into_iter().flat_map(|t| t.keys()) {
                assert!(
                    example.get(section).and_then(|s| s.get(key)).is_some(),
                    "weir.example.toml lacks {section}.{key}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn unknown_key_in_file_is_named() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("weir-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[kafka]\nbrokers = \"127.0.0.1:1\"\nbrokerz = 3\n")?;
        let error = Config::load(Some(&path), env(&[]))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        std::fs::remove_file(&path)?;
        assert!(error.contains("brokerz"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        Ok(())
    }

    #[test]
    fn environment_overrides_file_and_is_typed() -> anyhow::Result<()> {
        let config = Config::load(
            Some(&example_path()),
            env(&[
                ("WEIR_KAFKA__BROKERS", "127.0.0.1:19092"),
                ("WEIR_KAFKA__PARTITIONS", "6"),
                ("WEIR_SIMULATOR__RATE_PER_SEC", "inf"),
                ("WEIR_CONFIG", "ignored"),
                ("HOME", "/root"),
            ]),
        )?;
        assert_eq!(config.kafka.brokers, "127.0.0.1:19092");
        assert_eq!(config.kafka.partitions, 6);
        assert!(config.simulator.rate_per_sec.is_infinite());
        Ok(())
    }

    #[test]
    fn compression_is_a_codec_and_a_bad_one_is_named() -> anyhow::Result<()> {
        let config = Config::load(None, env(&[("WEIR_KAFKA__COMPRESSION", "zstd")]))?;
        assert_eq!(
            config.kafka.compression,
            weir_connectors::kafka::Compression::Zstd
        );
        assert_eq!(
            config.kafka.producer_config().get("compression.type"),
            Some("zstd")
        );
        let error = Config::load(None, env(&[("WEIR_KAFKA__COMPRESSION", "lz5")]))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("lz5"), "{error}");
        assert!(error.contains("compression"), "{error}");
        Ok(())
    }

    #[test]
    fn heartbeat_settings_come_from_the_environment_too() -> anyhow::Result<()> {
        let config = Config::load(
            None,
            env(&[
                ("WEIR_HEARTBEAT__INTERVAL_MS", "5000"),
                ("WEIR_HEARTBEAT__PATHS", r#"["kafka", "mqtt"]"#),
                ("WEIR_HEARTBEAT__SMTP_TO", r#"["oncall@example.invalid"]"#),
            ]),
        )?;
        assert_eq!(config.heartbeat.interval_ms, 5_000);
        assert_eq!(
            config.heartbeat.paths,
            [crate::heartbeat::Path::Kafka, crate::heartbeat::Path::Mqtt]
        );
        assert_eq!(config.heartbeat.smtp_to, ["oncall@example.invalid"]);
        Ok(())
    }

    #[test]
    fn nested_sections_take_one_more_separator() -> anyhow::Result<()> {
        let config = Config::load(
            None,
            env(&[
                ("WEIR_SERVER__AUTH__ENABLED", "false"),
                (
                    "WEIR_SERVER__AUTH__ALLOWED_HOSTS",
                    r#"["weir.example.net"]"#,
                ),
                ("WEIR_SERVER__LISTEN", "127.0.0.1:9999"),
            ]),
        )?;
        assert!(!config.server.auth.enabled);
        assert_eq!(config.server.auth.allowed_hosts, ["weir.example.net"]);
        assert_eq!(config.server.listen, "127.0.0.1:9999");
        let error = Config::load(None, env(&[("WEIR_SERVER__LISTEN__X", "1")]))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("server.listen"), "{error}");
        Ok(())
    }

    #[test]
    fn a_setting_can_come_from_a_file() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("weir-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("token");
        std::fs::write(&path, "weir_abc_secret\n")?;
        let config = Config::load(
            None,
            vec![(
                "WEIR_HEARTBEAT__API_TOKEN_FILE".to_string(),
                path.display().to_string(),
            )],
        )?;
        assert_eq!(config.heartbeat.api_token, "weir_abc_secret");
        let missing = Config::load(
            None,
            env(&[("WEIR_HEARTBEAT__API_TOKEN_FILE", "/nonexistent/weir-token")]),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(
            missing.contains("WEIR_HEARTBEAT__API_TOKEN_FILE"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn unknown_environment_key_is_named() {
        let error = Config::load(None, env(&[("WEIR_KAFKA__NOPE", "1")]))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("nope"), "{error}");
        assert!(error.contains("WEIR_KAFKA__NOPE"), "{error}");
    }
}
