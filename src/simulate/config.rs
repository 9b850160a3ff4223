//! `[simulator]` in weir.toml (each key also a `weir simulate` flag).

use serde::{Deserialize, Serialize};
use weir_dataflow::Format;

/// Settings of the sensor simulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Number of simulated sensors (kinds assigned in turn: temperature, CO, airflow, voltage).
    pub sensors: u32,
    /// Number of zones the sensors are spread over (contiguous blocks).
    pub zones: u32,
    /// Event-time interval between two readings of one sensor.
    pub interval_ms: u64,
    /// Target readings per second: 0 = real time (sensors per interval), `inf` = as fast as the broker takes them.
    pub rate_per_sec: f64,
    /// Readings to produce before stopping; 0 = until interrupted.
    pub count: u64,
    /// Seed of every random choice: the same seed and start time give the same records.
    pub seed: u64,
    /// Event time of the first round (epoch ms); 0 = chosen at start (see README).
    pub start_ms: i64,
    /// Relative share of each encoding.
    pub mix: FormatMix,
    /// Probability that a reading is a spike above its critical threshold.
    pub spike_rate: f64,
    /// Number of sensors that get stuck high (constant above critical) from round `fault_after_rounds`.
    pub stuck_sensors: u32,
    /// A zone whose sensors all go abnormal from round `fault_after_rounds` ("" = none).
    pub abnormal_zone: String,
    /// Round from which stuck sensors and the abnormal zone misbehave.
    pub fault_after_rounds: u64,
    /// Rounds the stuck sensors misbehave in, as half-open ranges
    /// (`40-140,185-260`); empty = from `fault_after_rounds` on.
    pub stuck_windows: String,
    /// Rounds the abnormal zone misbehaves in (as `stuck_windows`).
    pub abnormal_windows: String,
    /// Probability that a record is garbage (malformed, out of range, NaN, wrong type).
    pub garbage_rate: f64,
    /// Probability that a reading arrives late (event time 2–90 min before its round).
    pub late_rate: f64,
    /// Publish the fleet to the registry topic before the first reading.
    pub publish_registry: bool,
    /// Sensors or zones that send nothing in some rounds, as `NAME@WINDOWS`
    /// entries separated by `;` (`tmp-00001@10-30;zone-02@40-55`): a name
    /// is a sensor id or a zone, windows as in `stuck_windows`.
    pub muted: String,
    /// The registry records state `expected_interval_ms` = `interval_ms`
    /// (so silent-sensor alerts apply with their default multiple).
    pub state_interval: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            sensors: 200,
            zones: 8,
            interval_ms: 1_000,
            rate_per_sec: 0.0,
            count: 0,
            seed: 42,
            start_ms: 0,
            mix: FormatMix::default(),
            spike_rate: 0.0,
            stuck_sensors: 0,
            abnormal_zone: String::new(),
            fault_after_rounds: 60,
            stuck_windows: String::new(),
            abnormal_windows: String::new(),
            garbage_rate: 0.0,
            late_rate: 0.0,
            publish_registry: true,
            muted: String::new(),
            state_interval: false,
        }
    }
}

/// Relative shares of v1 JSON, v2 JSON and protobuf records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormatMix {
    /// Share of original-firmware JSON.
    pub v1: f64,
    /// Share of updated-firmware JSON.
    pub v2: f64,
    /// Share of protobuf.
    pub protobuf: f64,
}

impl Default for FormatMix {
    fn default() -> Self {
        FormatMix {
            v1: 0.4,
            v2: 0.4,
            protobuf: 0.2,
        }
    }
}

impl FormatMix {
    /// Parses `v1=0.4,v2=0.4,protobuf=0.2` (any subset; missing shares are 0).
    pub fn parse(text: &str) -> Result<FormatMix, String> {
        let mut mix = FormatMix {
            v1: 0.0,
            v2: 0.0,
            protobuf: 0.0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected name=share"))?;
            let share: f64 = share
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: share is not a number"))?;
            match name.trim() {
                "v1" => mix.v1 = share,
                "v2" => mix.v2 = share,
                "protobuf" | "proto" => mix.protobuf = share,
                other => return Err(format!("unknown format `{other}` (v1, v2, protobuf)")),
            }
        }
        mix.validate()?;
        Ok(mix)
    }

    /// Shares must be finite, non-negative and not all zero.
    pub fn validate(&self) -> Result<(), String> {
        let shares = [self.v1, self.v2, self.protobuf];
        if shares.iter().any(|s| !s.is_finite() || *s < 0.0) {
            return Err("shares must be finite and >= 0".into());
        }
        if shares.iter().sum::<f64>() <= 0.0 {
            return Err("at least one share must be > 0".into());
        }
        Ok(())
    }

    /// Picks a format for a uniform draw `u` in [0, 1).
    pub fn pick(&self, u: f64) -> Format {
        let total = self.v1 + self.v2 + self.protobuf;
        let x = u * total;
        if x < self.v1 {
            Format::JsonV1
        } else if x < self.v1 + self.v2 {
            Format::JsonV2
        } else {
            Format::Protobuf
        }
    }
}

impl SimulatorConfig {
    /// Checks ranges, naming the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("simulator.{name} = {p}: must be within 0..=1"))
            }
        };
        if self.sensors == 0 {
            return Err("simulator.sensors must be at least 1".into());
        }
        if self.zones == 0 || self.zones > self.sensors {
            return Err(format!(
                "simulator.zones = {}: must be within 1..=sensors ({})",
                self.zones, self.sensors
            ));
        }
        if self.interval_ms == 0 {
            return Err("simulator.interval_ms must be > 0".into());
        }
        if self.rate_per_sec.is_nan() || self.rate_per_sec < 0.0 {
            return Err(format!(
                "simulator.rate_per_sec = {}: must be >= 0 (0 = real time, inf = unlimited)",
                self.rate_per_sec
            ));
        }
        if self.stuck_sensors > self.sensors {
            return Err("simulator.stuck_sensors exceeds simulator.sensors".into());
        }
        parse_windows(&self.stuck_windows).map_err(|e| format!("simulator.stuck_windows: {e}"))?;
        parse_windows(&self.abnormal_windows)
            .map_err(|e| format!("simulator.abnormal_windows: {e}"))?;
        probability("spike_rate", self.spike_rate)?;
        probability("garbage_rate", self.garbage_rate)?;
        probability("late_rate", self.late_rate)?;
        parse_muted(&self.muted).map_err(|e| format!("simulator.muted: {e}"))?;
        self.mix
            .validate()
            .map_err(|e| format!("simulator.mix: {e}"))
    }
}

/// Round windows `a-b,c-d` (half-open, ascending, not overlapping).
pub fn parse_windows(text: &str) -> Result<Vec<(u64, u64)>, String> {
    let mut windows: Vec<(u64, u64)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part
            .split_once('-')
            .ok_or_else(|| format!("`{part}` is not FROM-TO"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{v}` in `{part}` is not a round number"))
        };
        let (from, to) = (parse(from)?, parse(to)?);
        if to <= from {
            return Err(format!("`{part}`: the end must be after the start"));
        }
        if windows.last().is_some_and(|(_, end)| from < *end) {
            return Err(format!(
                "`{part}` overlaps or precedes the window before it"
            ));
        }
        windows.push((from, to));
    }
    Ok(windows)
}

/// Muted sensors or zones, each with its round windows.
pub type Muted = Vec<(String, Vec<(u64, u64)>)>;

/// Muted names and their round windows: `NAME@WINDOWS;NAME@WINDOWS`.
pub fn parse_muted(text: &str) -> Result<Muted, String> {
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (name, windows) = part
                .split_once('@')
                .ok_or_else(|| format!("`{part}` is not NAME@WINDOWS"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("`{part}`: no sensor or zone before `@`"));
            }
            let windows = parse_windows(windows).map_err(|e| format!("`{part}`: {e}"))?;
            if windows.is_empty() {
                return Err(format!("`{part}`: no round window after `@`"));
            }
            Ok((name.to_string(), windows))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muted_parses_names_and_windows() {
        assert_eq!(parse_muted(""), Ok(vec![]));
        assert_eq!(
            parse_muted("tmp-00001@10-30; zone-02@40-55,60-70"),
            Ok(vec![
                ("tmp-00001".into(), vec![(10, 30)]),
                ("zone-02".into(), vec![(40, 55), (60, 70)])
            ])
        );
        assert!(parse_muted("tmp-00001").is_err_and(|e| e.contains("NAME@WINDOWS")));
        assert!(parse_muted("@1-2").is_err_and(|e| e.contains("no sensor")));
        assert!(parse_muted("z@").is_err_and(|e| e.contains("no round window")));
        assert!(parse_muted("z@5-1").is_err_and(|e| e.contains("after")));
    }

    #[test]
    fn windows_parse_in_order() {
        assert_eq!(parse_windows(""), Ok(vec![]));
        assert_eq!(
            parse_windows("40-140, 185-260"),
            Ok(vec![(40, 140), (185, 260)])
        );
        assert!(parse_windows("5").is_err_and(|e| e.contains("FROM-TO")));
        assert!(parse_windows("9-3").is_err_and(|e| e.contains("after")));
        assert!(parse_windows("1-10,5-20").is_err_and(|e| e.contains("overlaps")));
        assert!(parse_windows("1-x").is_err_and(|e| e.contains("round number")));
    }

    #[test]
    fn mix_parses_and_picks_by_share() -> Result<(), String> {
        let mix = FormatMix::parse("v1=1, protobuf=3")?;
        assert_eq!(mix.pick(0.0), Format::JsonV1);
        assert_eq!(mix.pick(0.3), Format::Protobuf);
        assert!(FormatMix::parse("v3=1").is_err());
        assert!(FormatMix::parse("v1=0").is_err());
        assert!(FormatMix::parse("v1=-1,v2=2").is_err());
        Ok(())
    }

    #[test]
    fn validation_names_the_setting() {
        let bad = SimulatorConfig {
            garbage_rate: 1.5,
            ..SimulatorConfig::default()
        };
        assert!(bad.validate().is_err_and(|e| e.contains("garbage_rate")));
        let bad = SimulatorConfig {
            zones: 0,
            ..SimulatorConfig::default()
        };
        assert!(bad.validate().is_err_and(|e| e.contains("zones")));
        assert!(SimulatorConfig::default().validate().is_ok());
    }
}
