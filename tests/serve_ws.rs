//! WebSocket push through the real pipeline (issue #5, criterion 1): a
//! client gets a snapshot, then updates for its zone only; it changes its
//! subscription without reconnecting; a client that stops reading is
//! closed with 4001 ("slow consumer") while another keeps receiving.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

use common::store::{Error, Fixture, interrupt};

type Socket<S> = WebSocketStream<S>;

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The next JSON text message (pings and pongs skipped).
async fn next_json<S>(socket: &mut Socket<S>, within: Duration) -> Result<Value, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .map_err(|_| format!("no message within {within:?}"))?
            .ok_or("socket closed")??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => return Err(format!("closed: {frame:?}").into()),
            _ => {}
        }
    }
}

fn zones_of(message: &Value) -> BTreeSet<String> {
    message["sensors"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(message["anomalies"].as_array().into_iter().flatten())
        .filter_map(|s| s["zone"].as_str().map(String::from))
        .collect()
}

async fn metric(address: &str, name: &str) -> Result<f64, Error> {
    let mut stream = TcpStream::connect(address).await?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_their_zones_and_slow_ones_are_cut_off() -> Result<(), Error> {
    let mut fixture = Fixture::new("servews")?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    fixture
        .env
        .push(("WEIR_SERVER__LISTEN".into(), address.clone()));
    fixture
        .env
        .push(("WEIR_SERVER__CLIENT_QUEUE".into(), "8".into()));
    // 60 sensors in 3 zones, one reading each per second, for 120 s.
    let mut simulator = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            "60",
            "--zones",
            "3",
            "--interval",
            "1s",
            "--rate",
            "realtime",
            "--count",
            "7200",
        ],
    )?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let result = scenario(&address).await;
    interrupt(&mut run)?;
    let _ = simulator.kill();
    let _ = simulator.wait();
    result
}

async fn scenario(address: &str) -> Result<(), Error> {
    // Wait until the server answers and every zone has sensors with values.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((mut probe, _)) = connect_async(format!("ws://{address}/ws")).await
            && let Ok(snapshot) = next_json(&mut probe, Duration::from_secs(5)).await
            && snapshot["sensors"]
                .as_array()
                .is_some_and(|s| s.len() == 60 && s.iter().all(|s| s["value"].is_number()))
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the server never had all 60 sensors with values".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    eprintln!("server ready with 60 sensors");
    // A zone subscriber: snapshot, then only its zone.
    let (mut one, _) = connect_async(format!("ws://{address}/ws?zone=zone-01")).await?;
    let snapshot = next_json(&mut one, Duration::from_secs(5)).await?;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], 1);
    assert_eq!(snapshot["zones"], serde_json::json!(["zone-01"]));
    assert_eq!(zones_of(&snapshot), BTreeSet::from(["zone-01".to_string()]));
    assert_eq!(snapshot["sensors"].as_array().map(Vec::len), Some(20));
    let mut seq = 1;
    let mut updated = BTreeSet::new();
    // Updates go out as changes arrive (a few sensors each): read until they
    // have covered half the zone.
    let until = Instant::now() + Duration::from_secs(20);
    while updated.len() < 10 && Instant::now() < until {
        let update = next_json(&mut one, Duration::from_secs(5)).await?;
        assert_eq!(update["type"], "update");
        seq += 1;
        assert_eq!(update["seq"], seq, "sequence numbers have no gaps");
        assert_eq!(
            zones_of(&update),
            BTreeSet::from(["zone-01".to_string()]),
            "{update}"
        );
        for s in update["sensors"].as_array().into_iter().flatten() {
            assert!(
                s["ingest_ts"].is_number(),
                "updates carry the ingest timestamp: {s}"
            );
            updated.insert(s["sensor_id"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(
        updated.len() >= 10,
        "updates cover the zone's sensors: {updated:?}"
    );

    eprintln!("zone-01 updates ok");
    // Changing the subscription without reconnecting: a new snapshot, then zone-02 only.
    one.send(Message::text(r#"{"type":"subscribe","zones":["zone-02"]}"#))
        .await?;
    let mut snapshot = next_json(&mut one, Duration::from_secs(5)).await?;
    while snapshot["type"] == "update" {
        snapshot = next_json(&mut one, Duration::from_secs(5)).await?;
    }
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["zones"], serde_json::json!(["zone-02"]));
    assert_eq!(zones_of(&snapshot), BTreeSet::from(["zone-02".to_string()]));
    for _ in 0..4 {
        let update = next_json(&mut one, Duration::from_secs(5)).await?;
        assert_eq!(
            zones_of(&update),
            BTreeSet::from(["zone-02".to_string()]),
            "{update}"
        );
    }

    eprintln!("subscription change ok");
    // A slow client (tiny receive buffer, never reads) next to a normal one.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(2_048)?;
    let stream = socket.connect(address.parse()?).await?;
    let (mut slow, _) =
        client_async(format!("ws://{address}/ws"), MaybeTlsStream::Plain(stream)).await?;
    let (mut all, _) = connect_async(format!("ws://{address}/ws")).await?;
    let first = next_json(&mut all, Duration::from_secs(5)).await?;
    assert_eq!(first["type"], "snapshot");
    let started = Instant::now();
    let mut received = 0;
    while metric(address, "weir_websocket_slow_disconnects_total").await? < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the slow client was never cut off"
        );
        next_json(&mut all, Duration::from_secs(5)).await?;
        received += 1;
    }
    // The other client keeps receiving afterwards.
    for _ in 0..4 {
        assert_eq!(
            next_json(&mut all, Duration::from_secs(5)).await?["type"],
            "update"
        );
    }
    eprintln!(
        "slow client cut off after {:?}; the other got {received} messages meanwhile",
        started.elapsed()
    );
    // The slow client, reading at last, finds the close frame behind what its socket held.
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, slow.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(format!("slow client: {e}").into()),
            Ok(None) => return Err("slow client: closed without a close frame".into()),
            Err(_) => return Err("slow client: no close frame within 30 s".into()),
        }
    };
    assert_eq!(code, Some(4001), "close code for a slow consumer");
    Ok(())
}
