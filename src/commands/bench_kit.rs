//! What the `weir bench` clients share: wall-clock ms, latency histograms,
//! reading a WebSocket with a timeout, HTTP/1.1 response heads and
//! `/metrics` scrapes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
pub use weir_dataflow::clock::now_ms;

/// A latency histogram: 1 ms to 1 hour at 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000, 3).map_err(|e| anyhow!("histogram: {e}"))
}

/// ` [label]` for a report's first line, or nothing.
pub fn label_suffix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" [{label}]")
    }
}

/// The next text message, or `None` when none came within 200 ms (or a
/// non-text frame came), so the caller can check its clock; a closed
/// socket is an error.
pub async fn next_text<S>(socket: &mut S) -> anyhow::Result<Option<Utf8Bytes>>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
        Err(_) => Ok(None),
        Ok(Some(Ok(Message::Text(text)))) => Ok(Some(text)),
        Ok(Some(Ok(Message::Close(frame)))) => {
            Err(anyhow!("the server closed the socket: {frame:?}"))
        }
        Ok(None) => Err(anyhow!("the server closed the socket")),
        Ok(Some(Err(e))) => Err(e).context("reading the socket"),
        Ok(Some(Ok(_))) => Ok(None),
    }
}

/// Reads header lines up to the blank line; the `Content-Length` (0 when
/// absent), or `None` when the peer closed first.
pub async fn read_headers<R>(reader: &mut R) -> std::io::Result<Option<usize>>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = String::new();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(Some(length));
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
}

/// One `/metrics` scrape: counters and histogram buckets by name.
#[derive(Debug, Default)]
pub struct Scrape {
    values: BTreeMap<String, f64>,
}

impl Scrape {
    /// A counter's value (0 when absent).
    pub fn counter(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(0.0)
    }

    /// Bucket counts of histogram `name` since `before`, by upper bound (s).
    pub fn delta(&self, name: &str, before: &Scrape) -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = self
            .values
            .iter()
            .filter_map(|(key, value)| {
                let bound = key.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, value - before.counter(key)))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// Scrapes `/metrics` at `address` (HTTP/1.0, read to the end): every `weir_` sample.
pub async fn scrape(address: &str) -> anyhow::Result<Scrape> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address} for /metrics"))?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .context("requesting /metrics")?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .await
        .context("reading /metrics")?;
    let mut scrape = Scrape::default();
    for line in body.lines().filter(|l| l.starts_with("weir_")) {
        if let Some((key, value)) = line.rsplit_once(' ')
            && let Ok(value) = value.parse::<f64>()
        {
            scrape.values.insert(key.to_string(), value);
        }
    }
    Ok(scrape)
}
