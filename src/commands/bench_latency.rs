//! `weir bench latency`: end-to-end latency of a running pipeline, from the
//! producer's timestamp (the Kafka record timestamp) to a WebSocket
//! subscriber's receipt, in an HDR histogram; plus the broker's share
//! (record timestamp to weir's source) and the pipeline's share up to the
//! hub, from weir's own `/metrics` histograms over the same interval.
//!
//! Writes `latency.hgrm` (percentile table) and `latency.svg` (percentile
//! distribution and latency over time) to `--out`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use tokio_tungstenite::connect_async;

use super::bench_kit::{Scrape, histogram, label_suffix, next_text, now_ms, scrape};
use crate::cli::LatencyBenchArgs;

/// Runs the benchmark.
pub fn run(args: &LatencyBenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

/// Per-second summary for the plot over time.
#[derive(Clone, Copy, Debug, Default)]
struct Second {
    p50: u64,
    p99: u64,
    max: u64,
    count: u64,
}

async fn bench(args: &LatencyBenchArgs) -> anyhow::Result<()> {
    let zones: Vec<String> = (1..=args.zones)
        .map(|z| format!("zone={}", zone(z)))
        .collect();
    let url = match zones.is_empty() {
        true => format!("ws://{}/ws", args.address),
        false => format!("ws://{}/ws?{}", args.address, zones.join("&")),
    };
    let (mut socket, _) = connect_async(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let mut total = histogram()?;
    let mut second = histogram()?;
    let mut seconds: Vec<Second> = Vec::new();
    let mut last_ingest: HashMap<String, i64> = HashMap::new();
    let warmup_until = Instant::now() + Duration::from_secs(args.warmup_secs);
    let mut before: Option<Scrape> = None;
    let mut measuring_since = Instant::now();
    let mut second_started = Instant::now();
    let mut messages = 0u64;
    loop {
        let measuring = Instant::now() >= warmup_until;
        if measuring && before.is_none() {
            before = Some(scrape(&args.address).await?);
            measuring_since = Instant::now();
            second_started = Instant::now();
        }
        if measuring && measuring_since.elapsed() >= Duration::from_secs(args.seconds) {
            break;
        }
        let Some(text) = next_text(&mut socket).await? else {
            continue; // nothing for 200 ms: check the clock
        };
        let received = now_ms();
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            return Err(anyhow!("not JSON: {}", text.as_str()));
        };
        for sensor in message["sensors"].as_array().into_iter().flatten() {
            let (Some(id), Some(ingest)) =
                (sensor["sensor_id"].as_str(), sensor["ingest_ts"].as_i64())
            else {
                continue;
            };
            // Count each reading once: a window change re-sends an old one.
            if last_ingest.insert(id.to_string(), ingest) == Some(ingest) {
                continue;
            }
            if measuring && message["type"] == "update" {
                let latency = u64::try_from(received - ingest).unwrap_or(0).max(1);
                total.saturating_record(latency);
                second.saturating_record(latency);
            }
        }
        if measuring {
            messages += 1;
            if second_started.elapsed() >= Duration::from_secs(1) {
                seconds.push(Second {
                    p50: second.value_at_quantile(0.5),
                    p99: second.value_at_quantile(0.99),
                    max: second.max(),
                    count: second.len(),
                });
                second.reset();
                second_started = Instant::now();
            }
        }
    }
    let elapsed = measuring_since.elapsed().as_secs_f64();
    let after = scrape(&args.address).await?;
    let before = before.unwrap_or_default();
    if total.is_empty() {
        return Err(anyhow!(
            "no update with a new reading arrived in {elapsed:.0} s: is the simulator producing?"
        ));
    }
    let read_rate = (after.counter("weir_records_read_total")
        - before.counter("weir_records_read_total"))
        / elapsed;
    let broker = after.delta("weir_source_delay_seconds", &before);
    let to_hub = after.delta("weir_end_to_end_latency_seconds", &before);

    let label = label_suffix(&args.label);
    println!(
        "latency{label}: {} readings over {elapsed:.0} s ({messages} messages); pipeline read {read_rate:.0} readings/s",
        total.len()
    );
    println!(
        "  producer -> WebSocket receipt (HDR, ms): p50 {} p90 {} p99 {} p99.9 {} max {}",
        total.value_at_quantile(0.5),
        total.value_at_quantile(0.9),
        total.value_at_quantile(0.99),
        total.value_at_quantile(0.999),
        total.max()
    );
    for (what, buckets) in [
        ("producer -> weir source (broker's share)", &broker),
        ("producer -> hub (through the dataflow)", &to_hub),
    ] {
        println!(
            "  {what} (/metrics buckets, ms): p50 {} p99 {} p99.9 {}",
            quantile_ms(buckets, 0.5),
            quantile_ms(buckets, 0.99),
            quantile_ms(buckets, 0.999)
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let hgrm = args.out.join("latency.hgrm");
    std::fs::write(&hgrm, percentile_table(&total))
        .with_context(|| format!("writing {}", hgrm.display()))?;
    let svg = args.out.join("latency.svg");
    std::fs::write(&svg, plot(&total, &seconds, &args.label))
        .with_context(|| format!("writing {}", svg.display()))?;
    println!("  wrote {} and {}", hgrm.display(), svg.display());
    Ok(())
}

fn zone(z: u32) -> String {
    format!("zone-{z:02}")
}

/// A quantile from cumulative buckets, interpolated linearly within its
/// bucket (as Prometheus' `histogram_quantile` does), in ms.
fn quantile_ms(buckets: &[(f64, f64)], q: f64) -> String {
    let Some(&(_, total)) = buckets.last() else {
        return "-".into();
    };
    if total <= 0.0 {
        return "-".into();
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return format!(">{:.0}", lower.0 * 1e3);
            }
            let share = if count > lower.1 {
                (rank - lower.1) / (count - lower.1)
            } else {
                1.0
            };
            return format!("{:.1}", (lower.0 + (bound - lower.0) * share) * 1e3);
        }
        lower = (bound, count);
    }
    "-".into()
}

/// HdrHistogram's percentile distribution table.
fn percentile_table(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {:10} {:>14}",
            v.value_iterated_to() as f64,
            q,
            v.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        h.mean(),
        h.stdev(),
        h.max() as f64,
        h.len()
    );
    out
}

/// Two panels: the percentile distribution (x: percentile on HdrHistogram's
/// log scale) and p50/p99/max per second over the run.
fn plot(h: &Histogram<u64>, seconds: &[Second], label: &str) -> String {
    const W: f64 = 820.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\">weir end-to-end latency, producer to WebSocket {}</text>\n",
        W + LEFT + 30.0,
        2.0 * H + 3.0 * TOP + 20.0,
        escape(label)
    );
    // Panel 1: percentile distribution up to 99.99%.
    let nines = 4.0;
    let max_y = (h.value_at_quantile(0.9999).max(1) as f64 * 1.1).ceil();
    let x_of = |q: f64| LEFT + W * ((-(1.0 - q).max(1e-4).log10()) / nines);
    let y1 = |v: f64| TOP + H - H * (v / max_y).min(1.0);
    axes(&mut svg, TOP, H, max_y, "ms");
    for (i, name) in ["0%", "90%", "99%", "99.9%", "99.99%"].iter().enumerate() {
        let x = LEFT + W * i as f64 / nines;
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" y1=\"{TOP}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{name}</text>",
            TOP + H,
            TOP + H + 16.0
        );
    }
    let mut path = String::new();
    for step in 0..=400 {
        let q = 1.0 - 10f64.powf(-nines * f64::from(step) / 400.0);
        let v = h.value_at_quantile(q.min(0.9999)) as f64;
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if step == 0 { "M" } else { "L" },
            x_of(q),
            y1(v)
        );
    }
    let _ = writeln!(
        svg,
        "<path d=\"{path}\" fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"2\"/>\n\
         <text x=\"{LEFT}\" y=\"{}\">percentile (p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms; {} readings)</text>",
        TOP + H + 32.0,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len()
    );
    // Panel 2: per second.
    let top2 = 2.0 * TOP + H + 20.0;
    let max2 = seconds.iter().map(|s| s.p99).max().unwrap_or(1).max(1) as f64 * 1.2;
    axes(&mut svg, top2, H, max2.ceil(), "ms");
    let n = seconds.len().max(2) as f64 - 1.0;
    for (pick, colour, name) in [
        (0usize, "#1f6fb2", "p50"),
        (1, "#d9822b", "p99"),
        (2, "#bbbbbb", "max"),
    ] {
        let mut path = String::new();
        for (i, s) in seconds.iter().enumerate() {
            let v = [s.p50, s.p99, s.max][pick] as f64;
            let _ = write!(
                path,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                LEFT + W * i as f64 / n,
                top2 + H - H * (v / max2).min(1.0)
            );
        }
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>",
            LEFT + W + 4.0,
            top2 + 14.0 * (pick as f64 + 1.0)
        );
    }
    let readings: u64 = seconds.iter().map(|s| s.count).sum();
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\">seconds of the run ({}; {readings} readings; max clipped at 1.2 × the largest p99)</text>\n</svg>",
        top2 + H + 18.0,
        seconds.len()
    );
    svg
}

fn axes(svg: &mut String, top: f64, height: f64, max: f64, unit: &str) {
    const LEFT: f64 = 60.0;
    const W: f64 = 820.0;
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>\
         <line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        top + height,
        top + height,
        LEFT + W,
        top + height
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + height - height * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eee\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.0} {unit}</text>",
            LEFT + W,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let buckets = [
            (0.01, 50.0),
            (0.02, 90.0),
            (0.05, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile_ms(&buckets, 0.5), "10.0");
        assert_eq!(quantile_ms(&buckets, 0.7), "15.0");
        assert_eq!(quantile_ms(&buckets, 0.95), "35.0");
        assert_eq!(quantile_ms(&[], 0.5), "-");
    }

    #[test]
    fn the_plot_and_table_hold_the_percentiles() -> anyhow::Result<()> {
        let mut h = histogram()?;
        for v in 1..=1_000u64 {
            h.record(v)?;
        }
        let table = percentile_table(&h);
        assert!(table.contains("Total count    =         1000"), "{table}");
        let svg = plot(&h, &[Second::default(); 3], "a<b");
        assert!(
            svg.contains("p50 500 ms") && svg.contains("a&lt;b"),
            "{svg}"
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        Ok(())
    }
}
