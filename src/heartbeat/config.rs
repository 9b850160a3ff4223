//! `[heartbeat]` in weir.toml: what `weir heartbeat` sends, where it looks,
//! and whom it tells. Kafka, PostgreSQL and the MQTT topic come from the
//! `[kafka]`, `[postgres]` and `[ingest.mqtt]` sections of the same file.

use super::http::Target;
use serde::{Deserialize, Serialize};
use weir_dataflow::SensorId;

/// How a heartbeat reading enters weir.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// `POST /ingest` on the HTTP gateway.
    Http,
    /// A QoS 1 publish to Mosquitto on the topic the bridge subscribes.
    Mqtt,
    /// A record produced straight to the readings topic.
    Kafka,
}

impl Path {
    /// Every path, in order.
    pub const ALL: [Path; 3] = [Path::Http, Path::Mqtt, Path::Kafka];

    /// Its name (`http`, `mqtt`, `kafka`).
    pub fn name(self) -> &'static str {
        match self {
            Path::Http => "http",
            Path::Mqtt => "mqtt",
            Path::Kafka => "kafka",
        }
    }
}

/// Where people look for a reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The dashboard's WebSocket, subscribed to the heartbeat zone.
    Ws,
    /// `GET /api/sensors/{id}/history` (raw).
    Rest,
    /// The `readings` table in PostgreSQL.
    Postgres,
}

impl Check {
    /// Every check, in order.
    pub const ALL: [Check; 3] = [Check::Ws, Check::Rest, Check::Postgres];

    /// Its name (`ws`, `rest`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            Check::Ws => "ws",
            Check::Rest => "rest",
            Check::Postgres => "postgres",
        }
    }
}

/// `[heartbeat]` in weir.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Names this heartbeat: its sensors are `hb-<name>-<path>`, its alerts
    /// say `weir heartbeat <name>`. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The zone its sensors are registered in (the WebSocket check follows it).
    pub zone: String,
    /// Where its own `/metrics` and `/health` listen.
    pub listen: String,
    /// One round (a reading per path, checked everywhere) this often.
    pub interval_ms: u64,
    /// A reading not seen by a check within this long after it was sent is a failure.
    pub deadline_ms: u64,
    /// The paths readings are sent through (`http`, `mqtt`, `kafka`).
    pub paths: Vec<Path>,
    /// Where each reading is looked for (`ws`, `rest`, `postgres`).
    pub checks: Vec<Check>,
    /// weir's server (`server.listen` of `weir run`): WebSocket and REST.
    /// `host:port` or `http://host:port`; `https://host:port` when weir's
    /// server has `[server.tls]` (the WebSocket is then `wss://`).
    pub server: String,
    /// A viewer token for weir's REST API and WebSocket (`weir token create
    /// --name heartbeat --role viewer --zone heartbeat`); empty: none sent
    /// (for a weir with `server.auth.enabled = false`). Set it from the
    /// environment (`WEIR_HEARTBEAT__API_TOKEN`) rather than the file.
    pub api_token: String,
    /// weir's HTTP ingest gateway (`ingest.http.listen`): `host:port`, or
    /// `https://host:port` when it has `[ingest.http.tls]`.
    pub ingest_http: String,
    /// PEM file of the CAs that `https://` targets' certificates (server,
    /// gateway, PagerDuty) must chain to; empty: the system's bundle.
    pub ca_file: String,
    /// The device token for the HTTP gateway (may write `hb-*`); empty: none sent.
    pub ingest_token: String,
    /// Mosquitto, `host:port` (the broker the MQTT bridge subscribes to).
    pub mqtt_broker: String,
    /// MQTT client id of the heartbeat's publisher.
    pub mqtt_client_id: String,
    /// MQTT username of the publisher (empty: none).
    pub mqtt_username: String,
    /// Its password (`WEIR_HEARTBEAT__MQTT_PASSWORD_FILE` keeps it out of the file).
    pub mqtt_password: String,
    /// MQTT over TLS (`[heartbeat.mqtt_tls]`: `enabled`, `ca_file`,
    /// `cert_path`, `key_path`), as `[ingest.mqtt.tls]`.
    pub mqtt_tls: weir_connectors::tls::ClientTls,
    /// A `watchdog` event on the alerts topic is expected at least this often;
    /// longer without one is a reason for an incident. 0 turns the check off.
    pub watchdog_after_ms: u64,
    /// While an incident lasts, a reminder this often (0: none).
    pub remind_every_ms: u64,
    /// SMTP server for alert mail, `host:port`; empty: no mail. Plain SMTP
    /// without TLS or authentication (a relay on loopback).
    pub smtp_server: String,
    /// The mail's sender.
    pub smtp_from: String,
    /// The mail's recipients.
    pub smtp_to: Vec<String>,
    /// A PagerDuty Events v2 endpoint (or anything that takes its shape),
    /// `https://events.pagerduty.com/v2/enqueue` or `http://…`; empty: none.
    pub pagerduty_url: String,
    /// The Events v2 `routing_key` (the integration key).
    pub pagerduty_routing_key: String,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            name: "weir".into(),
            zone: "heartbeat".into(),
            listen: "127.0.0.1:9300".into(),
            interval_ms: 60_000,
            deadline_ms: 30_000,
            paths: Path::ALL.to_vec(),
            checks: Check::ALL.to_vec(),
            server: "127.0.0.1:8080".into(),
            api_token: String::new(),
            ingest_http: "127.0.0.1:8081".into(),
            ingest_token: String::new(),
            ca_file: String::new(),
            mqtt_broker: "127.0.0.1:1883".into(),
            mqtt_client_id: "weir-heartbeat".into(),
            mqtt_username: String::new(),
            mqtt_password: String::new(),
            mqtt_tls: weir_connectors::tls::ClientTls::default(),
            watchdog_after_ms: 180_000,
            remind_every_ms: 1_800_000,
            smtp_server: String::new(),
            smtp_from: "weir-heartbeat@localhost".into(),
            smtp_to: Vec::new(),
            pagerduty_url: String::new(),
            pagerduty_routing_key: String::new(),
        }
    }
}

impl HeartbeatConfig {
    /// The sensor that carries `path`'s readings: `hb-<name>-<path>`.
    pub fn sensor(&self, path: Path) -> String {
        format!("hb-{}-{}", self.name, path.name())
    }

    /// Refuses settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        for path in &self.paths {
            SensorId::new(self.sensor(*path)).map_err(|e| format!("heartbeat.name: {e}"))?;
        }
        if self.zone.is_empty() || self.zone.len() > 64 {
            return Err("heartbeat.zone: 1 to 64 bytes".into());
        }
        if self.interval_ms < 1_000 {
            return Err("heartbeat.interval_ms: at least 1000".into());
        }
        if self.deadline_ms == 0 {
            return Err("heartbeat.deadline_ms: more than 0".into());
        }
        if self.paths.is_empty() || self.checks.is_empty() {
            return Err("heartbeat.paths and heartbeat.checks: at least one each".into());
        }
        if !self.smtp_server.is_empty() && self.smtp_to.is_empty() {
            return Err("heartbeat.smtp_to: a recipient when smtp_server is set".into());
        }
        Target::parse("server", &self.server, &self.ca_file)?;
        Target::parse("ingest_http", &self.ingest_http, &self.ca_file)?;
        if !self.pagerduty_url.is_empty() {
            if !self.pagerduty_url.contains("://") {
                return Err("heartbeat.pagerduty_url: an http:// or https:// URL".into());
            }
            Target::parse("pagerduty_url", &self.pagerduty_url, &self.ca_file)?;
        }
        if self.mqtt_tls.enabled {
            self.mqtt_tls
                .client_config()
                .map_err(|e| format!("heartbeat.mqtt_tls: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_name_the_sensors() {
        let config = HeartbeatConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.sensor(Path::Mqtt), "hb-weir-mqtt");
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |f: fn(&mut HeartbeatConfig)| {
            let mut config = HeartbeatConfig::default();
            f(&mut config);
            config.validate().err().unwrap_or_default()
        };
        assert!(bad(|c| c.name = "a b".into()).contains("heartbeat.name"));
        assert!(bad(|c| c.interval_ms = 10).contains("interval_ms"));
        assert!(bad(|c| c.smtp_server = "127.0.0.1:25".into()).contains("smtp_to"));
        assert!(bad(|c| c.pagerduty_url = "ftp://x".into()).contains("pagerduty_url"));
        assert!(bad(|c| c.pagerduty_url = "x:80".into()).contains("pagerduty_url"));
        assert!(bad(|c| c.server = "ws://x:1".into()).contains("heartbeat.server"));
        assert!(
            bad(|c| {
                c.server = "https://127.0.0.1:1".into();
                c.ca_file = "/nonexistent/ca.pem".into();
            })
            .contains("heartbeat.ca_file: /nonexistent/ca.pem")
        );
        assert!(bad(|c| c.paths.clear()).contains("paths"));
    }

    #[test]
    fn paths_and_checks_parse_by_name() -> Result<(), toml::de::Error> {
        let config: HeartbeatConfig =
            toml::from_str("paths = [\"kafka\"]\nchecks = [\"postgres\", \"ws\"]\n")?;
        assert_eq!(config.paths, [Path::Kafka]);
        assert_eq!(config.checks, [Check::Postgres, Check::Ws]);
        Ok(())
    }
}
