//! The capacity planner: pure arithmetic from fleet size and reporting interval to event rates, storage, and a recommended partition, worker and process count.
//!
//! # Design assumptions
//!
//! These figures are conservative planning numbers for this pipeline on a 2-core machine, not
//! measurements; re-derive them from `weir bench` before trusting a plan at scale.
//!
//! - One worker sustains [`WORKER_EVENTS_PER_SEC`] (20,000 events/s); one Kafka partition
//!   [`PARTITION_EVENTS_PER_SEC`] (5,000 events/s).
//! - Capacity is sized for [`HEADROOM`] (2×) the peak rate, so a catch-up after an outage drains.
//! - `workers = max(1, ceil(2 × peak / 20,000))`.
//! - `partitions = max(12, ceil(2 × peak / 5,000))`, rounded up to a multiple of `workers` so
//!   every worker owns the same number. Twelve is the floor so the topic can grow to 12
//!   workers without repartitioning (which would reshuffle keys and break per-sensor order).
//! - `processes = ceil(workers / 2)`: one worker per core, [`CORES_PER_PROCESS`] cores per node.
//! - Sizes are decimal (1 GB = 10⁹ bytes) and Kafka retention is per replica.

use serde::{Deserialize, Serialize};

pub use crate::error::CapacityError;

/// Sustained events per second one worker handles (planning assumption).
pub const WORKER_EVENTS_PER_SEC: f64 = 20_000.0;
/// Sustained events per second one Kafka partition carries (planning assumption).
pub const PARTITION_EVENTS_PER_SEC: f64 = 5_000.0;
/// Capacity is sized for this multiple of the peak rate.
pub const HEADROOM: f64 = 2.0;
/// The fewest partitions recommended.
pub const MIN_PARTITIONS: u32 = 12;
/// Cores per node; one worker runs per core.
pub const CORES_PER_PROCESS: u32 = 2;
/// Default ratio of peak to average event rate.
pub const DEFAULT_PEAK_FACTOR: f64 = 3.0;
/// Default Kafka retention, in days.
pub const DEFAULT_RETENTION_DAYS: u64 = 7;

const MS_PER_DAY: u64 = 86_400_000;

/// What the fleet looks like. `Default` has the default peak factor and retention and zeros
/// elsewhere, for `CapacityInput { sensors, interval_ms, event_bytes, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityInput {
    /// Number of sensors; at least 1.
    pub sensors: u64,
    /// Each sensor reports once per this many milliseconds; at least 1.
    pub interval_ms: u64,
    /// Bytes per event on the wire; at least 1.
    pub event_bytes: u64,
    /// Peak rate over average rate; finite and at least 1 (default 3.0).
    pub peak_factor: f64,
    /// Days Kafka keeps the raw topic (default 7).
    pub retention_days: u64,
}

impl CapacityInput {
    /// An input with the default peak factor and retention.
    pub fn new(sensors: u64, interval_ms: u64, event_bytes: u64) -> CapacityInput {
        CapacityInput {
            sensors,
            interval_ms,
            event_bytes,
            ..CapacityInput::default()
        }
    }
}

impl Default for CapacityInput {
    fn default() -> Self {
        CapacityInput {
            sensors: 0,
            interval_ms: 0,
            event_bytes: 0,
            peak_factor: DEFAULT_PEAK_FACTOR,
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

/// The computed load and the recommendation, with one note per figure explaining it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityPlan {
    /// Events per day across the fleet (rounded down).
    pub events_per_day: u64,
    /// Bytes per day across the fleet.
    pub bytes_per_day: u64,
    /// Average events per second.
    pub avg_events_per_sec: f64,
    /// Peak events per second (average × peak factor).
    pub peak_events_per_sec: f64,
    /// Bytes Kafka holds for the retention period, per replica.
    pub kafka_retained_bytes: u64,
    /// Recommended partitions of the raw topic.
    pub partitions: u32,
    /// Recommended timely workers in total.
    pub workers: u32,
    /// Recommended processes (nodes).
    pub processes: u32,
    /// One line per figure saying how it was derived.
    pub notes: Vec<String>,
}

/// Computes the plan; see the module docs for the rules. Errors name the bad field: zero
/// `sensors`, `interval_ms` or `event_bytes`, a `peak_factor` below 1 or not finite, or a load
/// so large a figure overflows.
pub fn plan(input: &CapacityInput) -> Result<CapacityPlan, CapacityError> {
    let &CapacityInput {
        sensors,
        interval_ms,
        event_bytes,
        peak_factor,
        retention_days,
    } = input;
    for (field, value) in [
        ("sensors", sensors),
        ("interval_ms", interval_ms),
        ("event_bytes", event_bytes),
    ] {
        if value == 0 {
            return Err(invalid(field, "must be at least 1"));
        }
    }
    if !(peak_factor.is_finite() && peak_factor >= 1.0) {
        return Err(invalid(
            "peak_factor",
            format!("{peak_factor} must be a finite number of at least 1"),
        ));
    }

    let events_per_day =
        u64::try_from(u128::from(sensors) * u128::from(MS_PER_DAY) / u128::from(interval_ms))
            .map_err(|_| invalid("sensors", "events per day overflow"))?;
    let bytes_per_day = events_per_day
        .checked_mul(event_bytes)
        .ok_or_else(|| invalid("event_bytes", "bytes per day overflow"))?;
    let kafka_retained_bytes = bytes_per_day
        .checked_mul(retention_days)
        .ok_or_else(|| invalid("retention_days", "retained bytes overflow"))?;

    let avg = sensors as f64 * 1000.0 / interval_ms as f64;
    let peak = avg * peak_factor;
    let sized = HEADROOM * peak;
    let too_many = || invalid("sensors", "load too large to plan");
    let workers = ceil_u32(sized / WORKER_EVENTS_PER_SEC)
        .ok_or_else(too_many)?
        .max(1);
    let needed_partitions = ceil_u32(sized / PARTITION_EVENTS_PER_SEC).ok_or_else(too_many)?;
    let floor_partitions = needed_partitions.max(MIN_PARTITIONS);
    let partitions = floor_partitions
        .div_ceil(workers)
        .checked_mul(workers)
        .ok_or_else(too_many)?;
    let processes = workers.div_ceil(CORES_PER_PROCESS);

    let mut notes = vec![
        format!(
            "{} events/day: {} sensors reporting every {}",
            format_count(events_per_day),
            format_count(sensors),
            format_interval(interval_ms),
        ),
        format!(
            "{}/day: {} B per event (decimal units)",
            format_bytes(bytes_per_day),
            format_count(event_bytes),
        ),
        format!(
            "peak {}/s: average {avg:.2}/s × peak factor {peak_factor}",
            format_rate(peak),
        ),
        format!(
            "{} retained in Kafka: {retention_days} days × {}/day, per replica (multiply by the replication factor)",
            format_bytes(kafka_retained_bytes),
            format_bytes(bytes_per_day),
        ),
        format!(
            "{workers} worker{}: 2× headroom over peak is {}/s, at {}/s per worker",
            plural(workers),
            format_rate(sized),
            format_rate(WORKER_EVENTS_PER_SEC),
        ),
    ];
    notes.push(if needed_partitions <= MIN_PARTITIONS && partitions == MIN_PARTITIONS {
        format!(
            "{MIN_PARTITIONS} partitions: the minimum, so the topic can grow to {MIN_PARTITIONS} workers without repartitioning (2× peak needs only {needed_partitions} at {}/s each)",
            format_rate(PARTITION_EVENTS_PER_SEC),
        )
    } else if partitions != floor_partitions {
        format!(
            "{partitions} partitions: {floor_partitions} needed ({} minimum, 2× peak at {}/s each), rounded up to a multiple of {workers} workers so each owns {}",
            MIN_PARTITIONS,
            format_rate(PARTITION_EVENTS_PER_SEC),
            partitions / workers,
        )
    } else {
        format!(
            "{partitions} partitions: 2× peak at {}/s each, {} per worker",
            format_rate(PARTITION_EVENTS_PER_SEC),
            partitions / workers,
        )
    });
    notes.push(format!(
        "{processes} process{}: one worker per core, {CORES_PER_PROCESS} cores per node",
        if processes == 1 { "" } else { "es" },
    ));

    Ok(CapacityPlan {
        events_per_day,
        bytes_per_day,
        avg_events_per_sec: avg,
        peak_events_per_sec: peak,
        kafka_retained_bytes,
        partitions,
        workers,
        processes,
        notes,
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CapacityError {
    CapacityError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// `ceil(x)` as u32, forgiving float noise just above an integer (1.0000000001 → 1).
fn ceil_u32(x: f64) -> Option<u32> {
    let c = (x - 1e-9).ceil().max(0.0);
    (c <= f64::from(u32::MAX)).then_some(c as u32)
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `60 s`, `1,500 ms`.
fn format_interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", format_count(ms / 1000))
    } else {
        format!("{} ms", format_count(ms))
    }
}

/// A rate with at most two decimals: `500`, `166.67`, `20,000`.
fn format_rate(rate: f64) -> String {
    let rounded = (rate * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 && rounded.abs() < 1e18 {
        format_count(rounded as u64)
    } else {
        format!("{rounded:.2}")
    }
}

/// Parses a duration into milliseconds: `"500ms"`, `"60s"`, `"2.5s"`, `"1m"`, `"1h"`, `"1d"`;
/// a bare number is seconds. Units ignore case and may follow a space. The result must be a
/// whole number of milliseconds. Errors name the input.
pub fn parse_duration_ms(s: &str) -> Result<u64, CapacityError> {
    let fail = |reason| CapacityError::InvalidDuration {
        input: s.to_owned(),
        reason,
    };
    let trimmed = s.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit_ms: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "" | "s" | "sec" | "secs" => 1_000,
        "m" | "min" | "mins" => 60_000,
        "h" | "hr" | "hrs" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return Err(fail("unknown unit (use ms, s, m, h or d)")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(fail("expected a number such as 60s, 2.5s or 500ms"));
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 18 {
        return Err(fail("too many decimal places"));
    }
    let too_large = || fail("too large");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction_units: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let fraction_ms = fraction_units * unit_ms;
    if !fraction_ms.is_multiple_of(scale) {
        return Err(fail("not a whole number of milliseconds"));
    }
    whole
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(fraction_ms / scale))
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(too_large)
}

/// Groups digits in threes: `14400000` → `"14,400,000"`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One decimal with a decimal SI prefix, trailing `.0` dropped: `14_400_000` → `"14.4M"`,
/// `7_200_000_000` → `"7.2G"`, `500` → `"500"`, `166.67` → `"166.7"`.
pub fn format_si(n: f64) -> String {
    const PREFIXES: [&str; 9] = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"];
    if !n.is_finite() {
        return n.to_string();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let mut mantissa = n.abs();
    let mut prefix = 0;
    while prefix + 1 < PREFIXES.len() && (mantissa * 10.0).round() / 10.0 >= 1000.0 {
        mantissa /= 1000.0;
        prefix += 1;
    }
    let text = format!("{:.1}", (mantissa * 10.0).round() / 10.0);
    let text = text.strip_suffix(".0").unwrap_or(&text);
    if text == "0" {
        return "0".to_owned();
    }
    format!("{sign}{text}{}", PREFIXES[prefix])
}

/// A byte count in decimal units: `7_200_000_000` → `"7.2 GB"`, `500` → `"500 B"`.
pub fn format_bytes(bytes: u64) -> String {
    let si = format_si(bytes as f64);
    match si.strip_suffix(|c: char| c.is_ascii_alphabetic()) {
        Some(number) => format!("{number} {}B", &si[number.len()..]),
        None => format!("{si} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(input: &CapacityInput) -> CapacityPlan {
        match plan(input) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn seed_example() {
        let p = planned(&CapacityInput::new(10_000, 60_000, 500));
        assert_eq!(p.events_per_day, 14_400_000);
        assert_eq!(p.bytes_per_day, 7_200_000_000);
        assert_eq!(format_count(p.events_per_day), "14,400,000");
        assert_eq!(format_si(p.bytes_per_day as f64), "7.2G");
        assert_eq!(format_bytes(p.bytes_per_day), "7.2 GB");
        assert!(
            (p.avg_events_per_sec - 166.67).abs() < 0.005,
            "{}",
            p.avg_events_per_sec
        );
        assert!(
            (p.peak_events_per_sec - 500.0).abs() < 1e-9,
            "{}",
            p.peak_events_per_sec
        );
        assert_eq!(p.kafka_retained_bytes, 50_400_000_000);
        assert_eq!((p.workers, p.partitions, p.processes), (1, 12, 1));
        assert!(p.notes.iter().any(|n| n.starts_with(
            "12 partitions: the minimum, so the topic can grow to 12 workers without repartitioning"
        )));
        assert!(
            p.notes.iter().any(
                |n| n.starts_with("14,400,000 events/day: 10,000 sensors reporting every 60 s")
            )
        );
        assert!(
            p.notes
                .iter()
                .any(|n| n.starts_with("peak 500/s: average 166.67/s"))
        );
        assert!(p.notes.iter().any(|n| n.starts_with("1 worker:")));
        assert!(p.notes.iter().any(|n| n.starts_with("1 process:")));
    }

    #[test]
    fn partitions_round_up_to_a_multiple_of_workers() {
        // avg 21,666.67/s, peak 65,000/s, 2× = 130,000/s: 6.5 → 7 workers, 26 → 28 partitions.
        let p = planned(&CapacityInput::new(65_000, 3_000, 200));
        assert_eq!((p.workers, p.partitions, p.processes), (7, 28, 4));
        assert_eq!(p.partitions % p.workers, 0);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("rounded up to a multiple of 7 workers so each owns 4"))
        );
    }

    #[test]
    fn large_fleet() {
        // 1M sensors at 1 s: peak 3M/s, 2× = 6M/s → 300 workers, 1,200 partitions, 150 processes.
        let p = planned(&CapacityInput::new(1_000_000, 1_000, 100));
        assert_eq!(p.events_per_day, 86_400_000_000);
        assert_eq!((p.workers, p.partitions, p.processes), (300, 1_200, 150));
    }

    #[test]
    fn exact_boundaries_do_not_round_up() {
        // 2× peak exactly 20,000/s: one worker, not two.
        let input = CapacityInput {
            peak_factor: 1.0,
            ..CapacityInput::new(10_000, 1_000, 1)
        };
        let p = planned(&input);
        assert_eq!((p.workers, p.partitions), (1, 12));
        // A fractional peak factor whose float product lands a hair above an integer.
        let input = CapacityInput {
            peak_factor: 3.3,
            ..CapacityInput::new(1_000, 330, 1)
        };
        assert_eq!(planned(&input).workers, 1);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let field = |input: CapacityInput| match plan(&input) {
            Err(CapacityError::InvalidInput { field, .. }) => field,
            other => panic!("expected an input error, got {other:?}"),
        };
        assert_eq!(field(CapacityInput::new(0, 60_000, 500)), "sensors");
        assert_eq!(field(CapacityInput::new(1, 0, 500)), "interval_ms");
        assert_eq!(field(CapacityInput::new(1, 60_000, 0)), "event_bytes");
        for peak_factor in [0.5, f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(
                field(CapacityInput {
                    peak_factor,
                    ..CapacityInput::new(1, 1, 1)
                }),
                "peak_factor"
            );
        }
        assert_eq!(field(CapacityInput::new(u64::MAX, 1, 1)), "sensors");
        assert_eq!(field(CapacityInput::new(1, 1, u64::MAX)), "event_bytes");
        let message = plan(&CapacityInput::new(0, 1, 1))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("invalid `sensors`: must be at least 1")
        );
    }

    #[test]
    fn plan_serializes() {
        let p = planned(&CapacityInput::new(10_000, 60_000, 500));
        let json = serde_json::to_value(&p).map_err(|e| e.to_string());
        assert_eq!(
            json.map(|v| v["events_per_day"].as_u64()),
            Ok(Some(14_400_000))
        );
    }

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration_ms(s).map_err(|e| e.to_string());
        assert_eq!(ok("60s"), Ok(60_000));
        assert_eq!(ok("1m"), Ok(60_000));
        assert_eq!(ok("500ms"), Ok(500));
        assert_eq!(ok("1h"), Ok(3_600_000));
        assert_eq!(ok("2.5s"), Ok(2_500));
        assert_eq!(ok("60"), Ok(60_000));
        assert_eq!(ok(" 1.5 M "), Ok(90_000));
        assert_eq!(ok("0.001s"), Ok(1));
        assert_eq!(ok(".5s"), Ok(500));
        assert_eq!(ok("1d"), Ok(86_400_000));
        assert_eq!(ok("2.50000000000000000000000s"), Ok(2_500));
        for bad in [
            "",
            "s",
            "1.5ms",
            "1x",
            "-1s",
            "1..2s",
            "1.2.3s",
            "inf",
            "1e3s",
            "99999999999999999999999999h",
        ] {
            match parse_duration_ms(bad) {
                Err(CapacityError::InvalidDuration { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} should fail, got {other:?}"),
            }
        }
        let message = parse_duration_ms("1x").err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("invalid duration `1x`: unknown unit (use ms, s, m, h or d)")
        );
    }

    #[test]
    fn counts_and_si() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(14_400_000), "14,400,000");
        assert_eq!(format_count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(format_si(14_400_000.0), "14.4M");
        assert_eq!(format_si(7_200_000_000.0), "7.2G");
        assert_eq!(format_si(500.0), "500");
        assert_eq!(format_si(166.666), "166.7");
        assert_eq!(format_si(1_000.0), "1k");
        assert_eq!(format_si(999_960.0), "1M");
        assert_eq!(format_si(-2_500.0), "-2.5k");
        assert_eq!(format_si(0.01), "0");
        assert_eq!(format_si(f64::NAN), "NaN");
        assert_eq!(format_bytes(500), "500 B");
        assert_eq!(format_bytes(50_400_000_000), "50.4 GB");
    }
}
