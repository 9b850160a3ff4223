//! `weir bench alerts`: alert latency on a running pipeline, from the
//! anomalous reading's production (its Kafka record timestamp, carried in
//! every alert event's `origin`) to a webhook receiver's receipt and to a
//! WebSocket subscriber's receipt, in HDR histograms.
//!
//! The receiver is a plain HTTP/1.1 server on `--webhook` that answers 200
//! to every POST (point `delivery.webhooks` at it); the subscriber follows
//! every zone on `--address`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::connect_async;

use super::bench_kit::{histogram, label_suffix, next_text, now_ms, read_headers};
use crate::cli::AlertsBenchArgs;

/// Runs the benchmark.
pub fn run(args: &AlertsBenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

/// Latency of one alert event's JSON: receipt minus its reading's record timestamp.
fn latency(event: &serde_json::Value, received: i64) -> Option<u64> {
    let produced = event["origin"]["record_ts_ms"].as_i64()?;
    // Events caused by no reading (a silence's end) carry no production time.
    (event["origin"]["partition"].as_i64()? >= 0)
        .then(|| u64::try_from(received - produced).unwrap_or(0).max(1))
}

async fn receive_hooks(
    listener: tokio::net::TcpListener,
    hist: Arc<Mutex<Histogram<u64>>>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (hist, measuring) = (Arc::clone(&hist), Arc::clone(&measuring));
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader = BufReader::new(read);
            let Ok(Some(length)) = read_headers(&mut reader).await else {
                return;
            };
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            let received = now_ms();
            let _ = write
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            if measuring.load(std::sync::atomic::Ordering::Relaxed)
                && let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(l) = latency(&event, received)
                && let Ok(mut h) = hist.lock()
            {
                h.saturating_record(l);
            }
        });
    }
}

async fn bench(args: &AlertsBenchArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.webhook)
        .await
        .with_context(|| format!("listening on {}", args.webhook))?;
    let hooks = Arc::new(Mutex::new(histogram()?));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(receive_hooks(
        listener,
        Arc::clone(&hooks),
        Arc::clone(&measuring),
    ));
    let url = format!("ws://{}/ws", args.address);
    let (mut socket, _) = connect_async(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let mut pushed = histogram()?;
    let warmup = Instant::now() + Duration::from_secs(args.warmup_secs);
    let mut until: Option<Instant> = None;
    loop {
        if until.is_none() && Instant::now() >= warmup {
            measuring.store(true, std::sync::atomic::Ordering::Relaxed);
            until = Some(Instant::now() + Duration::from_secs(args.seconds));
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let Some(text) = next_text(&mut socket).await? else {
            continue;
        };
        let received = now_ms();
        if until.is_none() {
            continue;
        }
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        for event in message["alerts"].as_array().into_iter().flatten() {
            // The events a webhook gets: the deliverable ones.
            if event["deliver"] == true
                && let Some(l) = latency(event, received)
            {
                pushed.saturating_record(l);
            }
        }
    }
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    // Deliveries of the last events may still be under way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hooks = hooks
        .lock()
        .map_err(|_| anyhow!("webhook histogram poisoned"))?
        .clone();
    let label = label_suffix(&args.label);
    println!("alert latency{label}, from the anomalous reading's production:");
    for (what, h) in [("WebSocket push", &pushed), ("webhook delivery", &hooks)] {
        if h.is_empty() {
            println!("  {what}: no alert event received");
            continue;
        }
        println!(
            "  {what}: {} events; p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_the_reading_and_skips_events_without_one() {
        let event = serde_json::json!({"origin": {"partition": 3, "record_ts_ms": 1_000}});
        assert_eq!(latency(&event, 1_250), Some(250));
        let ended = serde_json::json!({"origin": {"partition": -1, "record_ts_ms": 1_000}});
        assert_eq!(latency(&ended, 1_250), None);
    }
}
