//! The simulated fleet: which sensors exist, where, and how each behaves.

use weir_dataflow::{Sensor, SensorId, SensorKind, Thresholds, ValidRange};

use super::{Rng, SimulatorConfig};

/// One simulated sensor: its registry record plus its signal model.
#[derive(Clone, Debug)]
pub struct SimSensor {
    /// The registry record published to `sensor-registry`.
    pub sensor: Sensor,
    /// Mean level of the signal.
    pub baseline: f64,
    /// Amplitude of the daily cycle.
    pub amplitude: f64,
    /// Standard deviation of the measurement noise.
    pub noise: f64,
    /// Phase of the daily cycle (radians).
    pub phase: f64,
    /// Slowly wandering deviation (AR(1) state).
    pub drift: f64,
    /// Stuck high from `fault_after_rounds` on.
    pub stuck: bool,
}

/// Every simulated sensor, in id order.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// The sensors.
    pub sensors: Vec<SimSensor>,
}

/// The zone name of zone index `z` (0-based): `zone-01`, `zone-02`, ...
pub fn zone_name(z: u32) -> String {
    format!("zone-{:02}", z + 1)
}

impl Fleet {
    /// Builds the fleet described by `config`, drawing from `rng`.
    pub fn new(config: &SimulatorConfig, rng: &mut Rng) -> Result<Fleet, String> {
        let n = config.sensors;
        let mut sensors = Vec::with_capacity(n as usize);
        for i in 0..n {
            let kind = SensorKind::MEASURED[i as usize % SensorKind::MEASURED.len()];
            // Contiguous blocks: sensors 0..n/z in zone-01, and so on.
            let zone_index = (u64::from(i) * u64::from(config.zones) / u64::from(n)) as u32;
            let id = format!("{}-{:05}", kind.id_prefix(), i + 1);
            let sensor_id =
                SensorId::new(id.clone()).map_err(|e| format!("sensor id {id}: {e}"))?;
            let (baseline, amplitude, noise, thresholds, valid_range) = profile(kind, rng);
            let zone = zone_name(zone_index);
            sensors.push(SimSensor {
                sensor: Sensor {
                    sensor_id,
                    kind,
                    location: format!("{zone} bay {}", i % 16 + 1),
                    zone,
                    unit: kind.default_unit().to_string(),
                    thresholds,
                    valid_range,
                    valid_from_ms: None,
                    expected_interval_ms: None,
                },
                baseline,
                amplitude,
                noise,
                phase: rng.range(0.0, std::f64::consts::TAU),
                drift: 0.0,
                stuck: false,
            });
        }
        // The stuck sensors are a seeded choice, not always the first ones.
        let mut stuck = 0;
        while stuck < config.stuck_sensors {
            let pick = rng.below(u64::from(n)) as usize;
            if !sensors[pick].stuck {
                sensors[pick].stuck = true;
                stuck += 1;
            }
        }
        for sim in &sensors {
            sim.sensor
                .validate()
                .map_err(|e| format!("simulated sensor {}: {e}", sim.sensor.sensor_id))?;
        }
        Ok(Fleet { sensors })
    }

    /// Names of every zone that has sensors.
    pub fn zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self.sensors.iter().map(|s| s.sensor.zone.clone()).collect();
        zones.dedup();
        zones
    }
}

/// Baseline, daily amplitude, noise, thresholds and valid range per kind,
/// in the ranges a tunnel or substation really sees.
fn profile(kind: SensorKind, rng: &mut Rng) -> (f64, f64, f64, Thresholds, ValidRange) {
    let high = |warn, crit| Thresholds {
        warn_high: Some(warn),
        crit_high: Some(crit),
        ..Thresholds::default()
    };
    match kind {
        SensorKind::TEMPERATURE => (
            rng.range(17.0, 24.0),
            2.0,
            0.2,
            Thresholds {
                warn_low: Some(-5.0),
                crit_low: Some(-15.0),
                ..high(35.0, 45.0)
            },
            ValidRange {
                min: -40.0,
                max: 125.0,
            },
        ),
        SensorKind::CARBON_MONOXIDE => (
            rng.range(2.0, 9.0),
            2.5,
            0.6,
            high(30.0, 100.0),
            ValidRange {
                min: 0.0,
                max: 1000.0,
            },
        ),
        SensorKind::AIRFLOW => (
            rng.range(3.0, 7.0),
            1.0,
            0.3,
            Thresholds {
                warn_low: Some(1.0),
                crit_low: Some(0.3),
                ..high(15.0, 20.0)
            },
            ValidRange {
                min: 0.0,
                max: 50.0,
            },
        ),
        SensorKind::VOLTAGE => (
            230.0 + rng.range(-2.0, 2.0),
            2.0,
            0.8,
            Thresholds {
                warn_low: Some(207.0),
                crit_low: Some(195.0),
                ..high(253.0, 260.0)
            },
            ValidRange {
                min: 0.0,
                max: 500.0,
            },
        ),
        // Not in the fleet (`SensorKind::MEASURED`); a flat profile if ever asked.
        _ => (
            0.0,
            0.0,
            0.0,
            Thresholds::default(),
            kind.physical_range().unwrap_or(ValidRange::WIDEST),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_spreads_kinds_and_zones_and_picks_stuck_sensors() -> Result<(), String> {
        let config = SimulatorConfig {
            sensors: 40,
            zones: 4,
            stuck_sensors: 3,
            ..SimulatorConfig::default()
        };
        let fleet = Fleet::new(&config, &mut Rng::new(config.seed))?;
        assert_eq!(fleet.sensors.len(), 40);
        assert_eq!(fleet.zones(), ["zone-01", "zone-02", "zone-03", "zone-04"]);
        for kind in SensorKind::MEASURED {
            assert_eq!(
                fleet
                    .sensors
                    .iter()
                    .filter(|s| s.sensor.kind == kind)
                    .count(),
                10
            );
        }
        assert_eq!(fleet.sensors.iter().filter(|s| s.stuck).count(), 3);
        assert_eq!(fleet.sensors[0].sensor.sensor_id.as_str(), "tmp-00001");
        Ok(())
    }
}
