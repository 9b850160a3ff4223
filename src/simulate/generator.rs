//! Turns the fleet into a deterministic stream of encoded records, with faults.
//!
//! Round `r` holds one reading per sensor; sensor `i` of `n` reads at
//! `start + r·interval + i·interval/n`, so a real-time run is smooth rather
//! than bursty. Each record says which fault (if any) shaped it, so tests can
//! check what the pipeline makes of exactly those records.

use weir_dataflow::{Format, Reading, encode, encode_json_v2_rfc3339};

use super::{Fleet, Rng, SimulatorConfig};

const DAY_MS: f64 = 86_400_000.0;
/// How long before `start_ms` the registry records apply, so late readings
/// of the first rounds still find their sensor.
pub const REGISTRY_LEAD_MS: i64 = 24 * 3_600_000;

/// Why a record looks the way it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A normal reading.
    None,
    /// A one-off spike above the critical threshold.
    Spike,
    /// A stuck-high sensor: constant value above critical.
    Stuck,
    /// A sensor of the abnormal zone, above critical.
    Abnormal,
    /// A reading whose event time is 2–90 minutes behind its round.
    Late,
    /// Unparseable JSON.
    MalformedJson,
    /// A NaN literal as the value.
    NotFinite,
    /// The value as a string.
    WrongType,
    /// Decodes, but the value is outside the sensor's valid range.
    OutOfRange,
    /// Random bytes labelled as protobuf.
    BadProtobuf,
}

impl Fault {
    /// Whether the record decodes into a reading.
    pub fn decodes(self) -> bool {
        !matches!(
            self,
            Fault::MalformedJson | Fault::NotFinite | Fault::WrongType | Fault::BadProtobuf
        )
    }

    /// Short label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            Fault::None => "normal",
            Fault::Spike => "spike",
            Fault::Stuck => "stuck",
            Fault::Abnormal => "abnormal_zone",
            Fault::Late => "late",
            Fault::MalformedJson => "garbage_malformed_json",
            Fault::NotFinite => "garbage_not_finite",
            Fault::WrongType => "garbage_wrong_type",
            Fault::OutOfRange => "garbage_out_of_range",
            Fault::BadProtobuf => "garbage_bad_protobuf",
        }
    }
}

/// One record ready to produce.
#[derive(Clone, Debug)]
pub struct SimRecord {
    /// Record key: the sensor id.
    pub key: String,
    /// Encoded payload.
    pub payload: Vec<u8>,
    /// Value of the `content-type` header.
    pub content_type: &'static str,
    /// The encoding used.
    pub format: Format,
    /// The reading's event time (ms).
    pub event_ts_ms: i64,
    /// When the sensor would have sent it (ms): event time of its round plus transmission delay.
    pub sent_ms: i64,
    /// Its slot's time after the first round's (ms): when a real-time run sends it.
    pub due_ms: i64,
    /// What shaped the record.
    pub fault: Fault,
}

/// The record stream.
pub struct Generator {
    config: SimulatorConfig,
    fleet: Fleet,
    rng: Rng,
    start_ms: i64,
    round: u64,
    next_sensor: usize,
    produced: u64,
    stuck_windows: Vec<(u64, u64)>,
    abnormal_windows: Vec<(u64, u64)>,
    muted: super::config::Muted,
}

impl Generator {
    /// A generator for `config`; `now_ms` picks the start time when
    /// `config.start_ms` is 0: now for open-ended or real-time runs, and far
    /// enough back that a bounded fast run ends at now.
    pub fn new(config: &SimulatorConfig, now_ms: i64) -> Result<Generator, String> {
        config.validate()?;
        let mut rng = Rng::new(config.seed);
        let fleet = Fleet::new(config, &mut rng)?;
        let start_ms = if config.start_ms != 0 {
            config.start_ms
        } else if config.count > 0 && config.rate_per_sec != 0.0 {
            let rounds = config.count.div_ceil(u64::from(config.sensors));
            now_ms - i64::try_from(rounds * config.interval_ms).unwrap_or(i64::MAX / 2)
        } else {
            now_ms
        };
        let mut fleet = fleet;
        for sim in &mut fleet.sensors {
            sim.sensor.valid_from_ms = Some(start_ms - REGISTRY_LEAD_MS);
            if config.state_interval {
                sim.sensor.expected_interval_ms = i64::try_from(config.interval_ms).ok();
            }
        }
        Ok(Generator {
            config: config.clone(),
            fleet,
            rng,
            start_ms,
            round: 0,
            next_sensor: 0,
            produced: 0,
            stuck_windows: super::config::parse_windows(&config.stuck_windows)?,
            abnormal_windows: super::config::parse_windows(&config.abnormal_windows)?,
            muted: super::config::parse_muted(&config.muted)?,
        })
    }

    /// The fleet (for publishing the registry).
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Event time of the first round.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Whether the next slot's sensor is muted in the current round.
    fn muted(&self) -> bool {
        let sensor = &self.fleet.sensors[self.next_sensor].sensor;
        self.muted.iter().any(|(name, windows)| {
            (name == sensor.sensor_id.as_str() || *name == sensor.zone)
                && windows
                    .iter()
                    .any(|(from, to)| (*from..*to).contains(&self.round))
        })
    }

    /// Skips the next slot (a muted sensor sends nothing).
    fn skip(&mut self) {
        self.next_sensor += 1;
        if self.next_sensor == self.fleet.sensors.len() {
            self.next_sensor = 0;
            self.round += 1;
        }
    }

    fn next_record(&mut self) -> SimRecord {
        let n = self.fleet.sensors.len();
        let i = self.next_sensor;
        let interval = self.config.interval_ms as i64;
        let round_ts =
            self.start_ms + self.round as i64 * interval + (i as i64 * interval) / n as i64;
        let in_windows = |windows: &[(u64, u64)], round: u64, after: u64| {
            if windows.is_empty() {
                round >= after
            } else {
                windows
                    .iter()
                    .any(|(from, to)| (*from..*to).contains(&round))
            }
        };
        let stuck_phase = in_windows(
            &self.stuck_windows,
            self.round,
            self.config.fault_after_rounds,
        );
        let abnormal_phase = in_windows(
            &self.abnormal_windows,
            self.round,
            self.config.fault_after_rounds,
        );
        let rng = &mut self.rng;
        let sim = &mut self.fleet.sensors[i];

        // The signal: baseline + daily cycle + wandering drift + noise.
        let day_angle = std::f64::consts::TAU * (round_ts as f64 % DAY_MS) / DAY_MS + sim.phase;
        sim.drift = 0.98 * sim.drift + 0.2 * sim.noise * rng.normal();
        let mut value =
            sim.baseline + sim.amplitude * day_angle.sin() + sim.drift + sim.noise * rng.normal();
        if sim.sensor.valid_range.min >= 0.0 {
            value = value.max(0.0);
        }
        let critical = sim
            .sensor
            .thresholds
            .crit_high
            .unwrap_or(sim.baseline * 3.0);
        let mut fault = Fault::None;
        let mut event_ts = round_ts;
        if stuck_phase && sim.stuck {
            fault = Fault::Stuck;
            value = critical * 1.05;
        } else if abnormal_phase
            && !self.config.abnormal_zone.is_empty()
            && sim.sensor.zone == self.config.abnormal_zone
        {
            fault = Fault::Abnormal;
            value = critical * rng.range(1.0, 1.15);
        } else if rng.chance(self.config.spike_rate) {
            fault = Fault::Spike;
            value = critical * rng.range(1.05, 1.3);
        } else if rng.chance(self.config.late_rate) {
            fault = Fault::Late;
            event_ts = round_ts - rng.range(120_000.0, 5_400_000.0) as i64;
        }
        let value = (value * 1000.0).round() / 1000.0;
        let format = self.config.mix.pick(rng.unit());
        let sent_ms = round_ts + rng.range(5.0, 300.0) as i64;
        let reading = Reading {
            sensor_id: sim.sensor.sensor_id.clone(),
            ts_ms: event_ts,
            value,
            flags: Vec::new(),
            unit: (format != Format::JsonV1).then(|| sim.sensor.unit.clone()),
            battery: (format != Format::JsonV1).then_some(100.0 - (i % 50) as f32 * 0.5),
            format,
        };
        let mut payload = if format == Format::JsonV2 && rng.chance(0.5) {
            encode_json_v2_rfc3339(&reading)
        } else {
            encode(&reading)
        };
        let mut content_type = format.content_type();
        if rng.chance(self.config.garbage_rate) {
            let id = reading.sensor_id.as_str();
            let ts = reading.ts_ms;
            content_type = Format::JsonV1.content_type();
            (fault, payload) = match rng.below(5) {
                0 => (
                    Fault::MalformedJson,
                    format!(r#"{{"sensorId": "{id}", "timestamp": {ts}, "value": "#).into_bytes(),
                ),
                1 => (
                    Fault::NotFinite,
                    format!(r#"{{"sensorId": "{id}", "timestamp": {ts}, "value": NaN}}"#)
                        .into_bytes(),
                ),
                2 => (
                    Fault::WrongType,
                    format!(r#"{{"sensorId": "{id}", "timestamp": {ts}, "value": "{value}"}}"#)
                        .into_bytes(),
                ),
                3 => {
                    let wild = sim.sensor.valid_range.max * 10.0 + 1.0;
                    let out = Reading {
                        value: wild,
                        format: Format::JsonV1,
                        unit: None,
                        battery: None,
                        ..reading.clone()
                    };
                    (Fault::OutOfRange, encode(&out))
                }
                _ => {
                    content_type = Format::Protobuf.content_type();
                    let len = 8 + rng.below(24) as usize;
                    // 0xFF bytes make an invalid varint-encoded field key: never a valid message.
                    let mut bytes = vec![0xFF; 2];
                    bytes.extend((0..len).map(|_| rng.next_u64() as u8));
                    (Fault::BadProtobuf, bytes)
                }
            };
        }

        self.next_sensor += 1;
        if self.next_sensor == n {
            self.next_sensor = 0;
            self.round += 1;
        }
        self.produced += 1;
        SimRecord {
            key: reading.sensor_id.as_str().to_string(),
            payload,
            content_type,
            format,
            event_ts_ms: event_ts,
            sent_ms,
            due_ms: round_ts - self.start_ms,
            fault,
        }
    }
}

impl Iterator for Generator {
    type Item = SimRecord;

    fn next(&mut self) -> Option<SimRecord> {
        if self.config.count > 0 && self.produced >= self.config.count {
            return None;
        }
        // A fleet muted for ever would loop: a round with nobody to send
        // ends the stream after one full pass.
        let mut skipped = 0;
        while self.muted() {
            self.skip();
            skipped += 1;
            if skipped > self.fleet.sensors.len() * 1_000_000 {
                return None;
            }
        }
        Some(self.next_record())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use weir_dataflow::{CONTENT_TYPE_HEADER, decode};

    fn config() -> SimulatorConfig {
        SimulatorConfig {
            sensors: 20,
            zones: 4,
            count: 4_000,
            start_ms: 1_764_000_000_000,
            rate_per_sec: f64::INFINITY,
            ..SimulatorConfig::default()
        }
    }

    #[test]
    fn muted_sensors_and_zones_send_nothing_in_their_rounds() -> Result<(), String> {
        let muted = SimulatorConfig {
            muted: "tmp-00001@2-5;zone-02@10-12".into(),
            state_interval: true,
            ..config()
        };
        let generator = Generator::new(&muted, 0)?;
        let fleet = generator.fleet().clone();
        assert!(
            fleet
                .sensors
                .iter()
                .all(|s| s.sensor.expected_interval_ms == Some(1_000))
        );
        let zone_of = |id: &str| {
            fleet
                .sensors
                .iter()
                .find(|s| s.sensor.sensor_id.as_str() == id)
                .map(|s| s.sensor.zone.clone())
                .unwrap_or_default()
        };
        let records: Vec<SimRecord> = generator.collect();
        assert_eq!(records.len(), 4_000, "muted slots do not count");
        let round = |r: &SimRecord| (r.due_ms / 1_000) as u64;
        for r in &records {
            assert!(
                !(r.key == "tmp-00001" && (2..5).contains(&round(r))),
                "{r:?}"
            );
            assert!(
                !(zone_of(&r.key) == "zone-02" && (10..12).contains(&round(r))),
                "{r:?}"
            );
        }
        let sent = |id: &str, rounds: std::ops::Range<u64>| {
            records
                .iter()
                .filter(|r| r.key == id && rounds.contains(&round(r)))
                .count()
        };
        assert_eq!(sent("tmp-00001", 0..2), 2);
        assert_eq!(sent("tmp-00001", 5..10), 5, "it resumes");
        Ok(())
    }

    #[test]
    fn same_seed_gives_identical_records() -> Result<(), String> {
        let a: Vec<_> = Generator::new(&config(), 0)?.map(|r| r.payload).collect();
        let b: Vec<_> = Generator::new(&config(), 0)?.map(|r| r.payload).collect();
        assert_eq!(a.len(), 4_000);
        assert_eq!(a, b);
        let other = SimulatorConfig {
            seed: 43,
            ..config()
        };
        let c: Vec<_> = Generator::new(&other, 0)?.map(|r| r.payload).collect();
        assert_ne!(a, c);
        Ok(())
    }

    #[test]
    fn clean_records_decode_to_plausible_values_in_every_format() -> Result<(), String> {
        let generator = Generator::new(&config(), 0)?;
        let fleet = generator.fleet().clone();
        let mut formats = HashMap::new();
        for record in generator {
            let reading = decode(&record.payload, Some(record.content_type))
                .map_err(|e| format!("{e} in {:?}", String::from_utf8_lossy(&record.payload)))?;
            assert_eq!(reading.sensor_id.as_str(), record.key);
            assert_eq!(reading.format, record.format);
            assert_eq!(reading.ts_ms, record.event_ts_ms);
            let sim = fleet
                .sensors
                .iter()
                .find(|s| s.sensor.sensor_id == reading.sensor_id)
                .ok_or("unknown sensor")?;
            let thresholds = &sim.sensor.thresholds;
            assert!(sim.sensor.valid_range.contains(reading.value));
            assert!(reading.value < thresholds.crit_high.unwrap_or(f64::MAX));
            *formats.entry(reading.format).or_insert(0) += 1;
        }
        assert_eq!(formats.len(), 3, "{formats:?}");
        assert_eq!(CONTENT_TYPE_HEADER, "content-type");
        Ok(())
    }

    #[test]
    fn faults_appear_at_their_rates_and_garbage_never_decodes_cleanly() -> Result<(), String> {
        let faulty = SimulatorConfig {
            spike_rate: 0.02,
            garbage_rate: 0.05,
            late_rate: 0.03,
            stuck_sensors: 1,
            abnormal_zone: "zone-02".into(),
            fault_after_rounds: 100,
            ..config()
        };
        let generator = Generator::new(&faulty, 0)?;
        let fleet = generator.fleet().clone();
        let mut counts: HashMap<Fault, u32> = HashMap::new();
        let fault_phase_ms = faulty.start_ms + 100 * faulty.interval_ms as i64;
        for record in generator {
            *counts.entry(record.fault).or_default() += 1;
            let decoded = decode(&record.payload, Some(record.content_type));
            assert_eq!(
                decoded.is_ok(),
                record.fault.decodes(),
                "{:?}",
                record.fault
            );
            let sim = fleet
                .sensors
                .iter()
                .find(|s| s.sensor.sensor_id.as_str() == record.key)
                .ok_or("unknown sensor")?;
            let garbage = !record.fault.decodes() || record.fault == Fault::OutOfRange;
            // From round 100 the stuck sensor and zone-02 misbehave on every
            // reading that garbage did not replace.
            if record.event_ts_ms >= fault_phase_ms && !garbage {
                if sim.stuck {
                    assert_eq!(record.fault, Fault::Stuck);
                } else if sim.sensor.zone == "zone-02" {
                    assert_eq!(record.fault, Fault::Abnormal);
                }
            }
            if matches!(record.fault, Fault::Stuck | Fault::Abnormal) {
                assert!(record.event_ts_ms >= fault_phase_ms);
            }
            if record.fault == Fault::OutOfRange {
                let reading = decoded.map_err(|e| e.to_string())?;
                assert!(!sim.sensor.valid_range.contains(reading.value));
            }
            if record.fault == Fault::Late {
                assert!(record.sent_ms - record.event_ts_ms >= 120_000);
            }
        }
        assert!(
            counts.get(&Fault::Stuck).copied().unwrap_or(0) > 80,
            "{counts:?}"
        );
        assert!(
            counts.get(&Fault::Abnormal).copied().unwrap_or(0) > 300,
            "{counts:?}"
        );
        for fault in [
            Fault::Spike,
            Fault::Late,
            Fault::MalformedJson,
            Fault::BadProtobuf,
        ] {
            assert!(
                counts.get(&fault).copied().unwrap_or(0) > 5,
                "{fault:?}: {counts:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn bounded_fast_run_ends_at_now() -> Result<(), String> {
        let cfg = SimulatorConfig {
            start_ms: 0,
            ..config()
        };
        let now = 1_800_000_000_000;
        let generator = Generator::new(&cfg, now)?;
        assert_eq!(generator.start_ms(), now - 200 * 1_000);
        let last = generator.last().ok_or("no records")?;
        assert!(last.event_ts_ms <= now && last.event_ts_ms > now - 2_000);
        Ok(())
    }
}
