//! `weir capacity`: the capacity plan, as a table or JSON.

use anyhow::Context;
use weir_dataflow::capacity::{
    CapacityInput, CapacityPlan, format_bytes, format_count, format_si, parse_duration_ms, plan,
};

use crate::cli::CapacityArgs;

/// Prints the plan for `args`.
pub fn run(args: &CapacityArgs) -> anyhow::Result<()> {
    let interval_ms = parse_duration_ms(&args.interval).context("--interval")?;
    let input = CapacityInput {
        sensors: args.sensors,
        interval_ms,
        event_bytes: args.event_bytes,
        peak_factor: args.peak_factor,
        retention_days: args.retention_days,
    };
    let plan = plan(&input)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render(&input, &plan));
    }
    Ok(())
}

fn render(input: &CapacityInput, plan: &CapacityPlan) -> String {
    let mut out = format!(
        "capacity plan: {} sensors, one reading each per {}, {} B per event\n",
        format_count(input.sensors),
        human_interval(input.interval_ms),
        input.event_bytes
    );
    let rows = [
        (
            "events/day".to_string(),
            format!(
                "{} ({})",
                format_count(plan.events_per_day),
                format_si(plan.events_per_day as f64)
            ),
        ),
        (
            "storage/day".to_string(),
            format!(
                "{} ({} bytes at {} B/event)",
                format_bytes(plan.bytes_per_day),
                format_count(plan.bytes_per_day),
                input.event_bytes
            ),
        ),
        (
            "average rate".to_string(),
            format!(
                "{:.0} events/s ({:.2})",
                plan.avg_events_per_sec, plan.avg_events_per_sec
            ),
        ),
        (
            format!("peak rate ({}x)", input.peak_factor),
            format!("{:.0} events/s", plan.peak_events_per_sec),
        ),
        (
            "kafka retained".to_string(),
            format!(
                "{} over {} days",
                format_bytes(plan.kafka_retained_bytes),
                input.retention_days
            ),
        ),
        ("partitions".to_string(), plan.partitions.to_string()),
        (
            "workers".to_string(),
            format!("{} on {} process(es)", plan.workers, plan.processes),
        ),
    ];
    for (label, value) in rows {
        out.push_str(&format!("  {label:<18} {value}\n"));
    }
    if !plan.notes.is_empty() {
        out.push_str("notes:\n");
        for note in &plan.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out
}

fn human_interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
