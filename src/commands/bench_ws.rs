//! `weir bench ws`: holds many WebSocket subscribers on a running server and
//! reports disconnects, messages and end-to-end latency (receipt minus the
//! reading's Kafka record timestamp), plus the server's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use super::bench_kit::now_ms;
use crate::cli::WsBenchArgs;

#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    failed: AtomicU64,
    closed: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
}

fn memory(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_else(|e| format!("unreadable: {e}"))
}

/// Runs the benchmark.
pub fn run(args: &WsBenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: &WsBenchArgs) -> anyhow::Result<()> {
    let tally = Arc::new(Tally::default());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let url = format!("ws://{}/ws", args.address);
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let url = match args.zones {
            0 => url.clone(),
            zones => format!("{url}?zone=zone-{:02}", i % zones as usize + 1),
        };
        let (tally, latencies) = (Arc::clone(&tally), Arc::clone(&latencies));
        tasks.push(tokio::spawn(async move {
            let Ok((mut socket, _)) = connect_async(&url).await else {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            tally.connected.fetch_add(1, Ordering::Relaxed);
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, socket.next()).await {
                    Err(_) => break, // held long enough
                    Ok(Some(Ok(Message::Text(text)))) => {
                        tally.messages.fetch_add(1, Ordering::Relaxed);
                        tally.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                        // Latency sampled on one client in fifty, from updates only.
                        if i % 50 == 0
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str())
                            && v["type"] == "update"
                        {
                            let now = now_ms();
                            let mut l = latencies.lock().unwrap_or_else(|p| p.into_inner());
                            for s in v["sensors"].as_array().into_iter().flatten() {
                                if let Some(ingest) = s["ingest_ts"].as_i64() {
                                    l.push(now - ingest);
                                }
                            }
                        }
                    }
                    Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                        tally.closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(Some(Ok(_))) => {}
                }
            }
        }));
    }
    let started = Instant::now();
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    while Instant::now() < until {
        report.tick().await;
        println!(
            "t={:>3}s connected={} closed={} failed={} messages={}{}",
            started.elapsed().as_secs(),
            tally.connected.load(Ordering::Relaxed),
            tally.closed.load(Ordering::Relaxed),
            tally.failed.load(Ordering::Relaxed),
            tally.messages.load(Ordering::Relaxed),
            args.server_pid
                .map(|p| format!(" server {}", memory(p)))
                .unwrap_or_default()
        );
    }
    for task in tasks {
        task.await.context("subscriber task")?;
    }
    let mut l = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    l.sort_unstable();
    let pct = |q: f64| {
        l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
            .copied()
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "clients {} held {:.0} s: connected {}, disconnected {}, failed {}; {} messages ({:.0}/s, {:.1} MB/s); \
         latency from Kafka p50 {:?} ms, p99 {:?} ms over {} samples{}",
        args.clients,
        secs,
        tally.connected.load(Ordering::Relaxed),
        tally.closed.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.messages.load(Ordering::Relaxed),
        tally.messages.load(Ordering::Relaxed) as f64 / secs,
        tally.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
        pct(0.5),
        pct(0.99),
        l.len(),
        args.server_pid
            .map(|p| format!("; server memory {}", memory(p)))
            .unwrap_or_default()
    );
    Ok(())
}
