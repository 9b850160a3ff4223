//! `weir bench ingest`: HTTP batch ingest throughput on a running gateway.
//! `--connections` keep-alive connections each POST batches of
//! `--batch` readings (a JSON array, `--sensors` sensors in turn) to
//! `/ingest/batch` for `--seconds`; the figure is readings acknowledged
//! (202) per second. Afterwards it waits until the gateway's drainer has
//! delivered them to Kafka (`weir_ingest_drained_total`) and reports that
//! rate too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::bench_kit::{read_headers, scrape};
use crate::cli::IngestBenchArgs;

/// Runs the benchmark.
pub fn run(args: &IngestBenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

/// One keep-alive connection.
struct Connection {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Connection {
    async fn open(address: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        Ok(Connection {
            reader: BufReader::new(read),
            writer,
        })
    }

    /// POSTs `body`; the status.
    async fn post(&mut self, head: &str, body: &[u8]) -> anyhow::Result<u16> {
        self.writer.write_all(head.as_bytes()).await?;
        self.writer.write_all(body).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("not an HTTP answer: {line:?}"))?;
        let length = read_headers(&mut self.reader)
            .await?
            .ok_or_else(|| anyhow!("the gateway closed the connection mid-answer"))?;
        let mut rest = vec![0; length];
        self.reader.read_exact(&mut rest).await?;
        Ok(status)
    }
}

async fn bench(args: &IngestBenchArgs) -> anyhow::Result<()> {
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let drained_before = scrape(&args.address)
        .await?
        .counter("weir_ingest_drained_total");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (accepted, refused, stop) = (
            Arc::clone(&accepted),
            Arc::clone(&refused),
            Arc::clone(&stop),
        );
        let address = args.address.clone();
        let token = args.token.clone();
        let (batch, sensors) = (args.batch, args.sensors.max(1));
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(&address).await?;
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Each connection its own sensors and time line: every reading unique.
                let mut body = String::with_capacity(batch * 80);
                body.push('[');
                for i in 0..batch {
                    if i > 0 {
                        body.push(',');
                    }
                    // The sensors in turn across rounds: with `--sensors N`
                    // every one of N ids is sent once N readings went out.
                    let sensor = (round as usize * batch + i) % sensors;
                    let ts = 1_764_000_000_000u64 + (round * batch as u64 + i as u64) * 10;
                    body.push_str(&format!(
                        r#"{{"sensorId":"load-{c}-{sensor}","timestamp":{ts},"value":{}.5}}"#,
                        i % 100
                    ));
                }
                body.push(']');
                let head = format!(
                    "POST /ingest/batch HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                // A refused batch (429, 503) is sent again, as a client
                // would: the ids go on in turn only once accepted.
                match connection.post(&head, body.as_bytes()).await? {
                    202 => {
                        accepted.fetch_add(batch as u64, Ordering::Relaxed);
                        round += 1;
                    }
                    _ => {
                        refused.fetch_add(batch as u64, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                };
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.context("load task")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    println!(
        "http batch ingest: {accepted} readings accepted in {elapsed:.1} s = {:.0} readings/s ({} connections, {} per batch); {} refused",
        accepted as f64 / elapsed,
        args.connections,
        args.batch,
        refused.load(Ordering::Relaxed)
    );
    // Until the drainer has delivered them all to Kafka.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let drained = scrape(&args.address)
            .await?
            .counter("weir_ingest_drained_total")
            - drained_before;
        if drained >= accepted as f64 || Instant::now() > deadline {
            let total = started.elapsed().as_secs_f64();
            println!(
                "into Kafka: {drained:.0} readings delivered {total:.1} s after the start = {:.0} readings/s end to end",
                drained / total
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
