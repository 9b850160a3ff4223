//! Nasty input against the HTTP gateway (issue #7, criterion 5; the MQTT
//! half is in ingest_mqtt.rs): 300+ malformed, hostile and half-valid
//! payloads (tests/common/corpus.rs), a 10 MB body, a gzip bomb and slow
//! senders. The process never crashes, each bad payload gets a clear 4xx
//! with a reason, the valid readings of mixed batches are accepted, and
//! good traffic keeps flowing throughout.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::corpus::{Encoding, Target, cases, oversized_batch, zip_bomb_byte, zip_bomb_plain_len};
use common::ingest::{Error, Ingest, TOKEN, post, reading};
use common::kafka::read_topic;

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}

/// A good reading that must always get through.
fn good(ingest: &Ingest, n: i64) -> Result<(), Error> {
    let auth = format!("Bearer {TOKEN}");
    let (status, body, _) = post(
        &ingest.http,
        "/ingest",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        reading("dev-good", 1_764_000_000_000 + n * 1_000, 1.0).as_bytes(),
    )?;
    assert_eq!(
        status, 202,
        "good traffic refused after a nasty case: {body}"
    );
    Ok(())
}

#[test]
fn nasty_input_gets_clear_rejections_and_good_traffic_flows() -> Result<(), Error> {
    let mut ingest = Ingest::new(
        "corpus",
        None,
        &[
            ("ingest.mqtt", "enabled = false"),
            ("ingest.grpc", "enabled = false"),
            ("ingest.http", "body_timeout_ms = 2000"),
            ("ingest.rate", "device_burst = 1000000.0"),
            ("ingest.rate", "device_per_sec = 1000000.0"),
        ],
    )?;
    ingest.start()?;
    let auth = format!("Bearer {TOKEN}");
    let mut expected_readings = 0usize;
    let mut good_sent = 0i64;
    let all = cases();
    let http: Vec<_> = all.iter().filter(|c| c.target != Target::Mqtt).collect();
    assert!(http.len() >= 100, "{} HTTP cases", http.len());
    let mut failures = Vec::new();
    for (i, case) in http.iter().enumerate() {
        let body = match case.encoding {
            Encoding::Gzip => gzip(&case.body)?,
            Encoding::Identity | Encoding::GzipRaw => case.body.clone(),
        };
        let mut headers = vec![("Authorization", auth.as_str())];
        if !case.content_type.is_empty() {
            headers.push(("Content-Type", case.content_type));
        }
        if case.encoding != Encoding::Identity {
            headers.push(("Content-Encoding", "gzip"));
        }
        let path = if case.target == Target::Single {
            "/ingest"
        } else {
            "/ingest/batch"
        };
        let (status, text, _) = post(&ingest.http, path, &headers, &body)?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let clear = answer["error"].is_string() && answer["detail"].is_string();
        let ok = match (case.target, case.valid_readings) {
            (Target::Batch, Some(n)) => {
                let accepted = answer["accepted"].as_u64();
                expected_readings += n;
                (status == 202 || status == 400) && accepted == Some(n as u64)
            }
            _ => {
                (400..500).contains(&status)
                    && clear
                    && answer["accepted"].as_u64().unwrap_or(0) == 0
            }
        };
        if !ok {
            failures.push(format!(
                "{} -> {status} {}",
                case.name,
                &text[..text.len().min(300)]
            ));
        }
        if i % 10 == 9 {
            good(&ingest, good_sent)?;
            good_sent += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        failures.len(),
        http.len(),
        failures.join("\n")
    );

    // 10 MB: refused on its Content-Length.
    let (status, text, _) = post(
        &ingest.http,
        "/ingest/batch",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &oversized_batch(),
    )?;
    assert_eq!(status, 413, "{text}");
    good(&ingest, good_sent)?;
    good_sent += 1;

    // A gzip bomb: 256 MiB that packs into a few hundred KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![zip_bomb_byte(); 1 << 20];
    for _ in 0..zip_bomb_plain_len() / block.len() {
        gz.write_all(&block)?;
    }
    let bomb = gz.finish()?;
    assert!(
        bomb.len() < 1 << 20,
        "the bomb fits the body limit: {}",
        bomb.len()
    );
    let started = Instant::now();
    let (status, text, _) = post(
        &ingest.http,
        "/ingest/batch",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    )?;
    assert_eq!(status, 413, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "inflated it all?"
    );
    good(&ingest, good_sent)?;
    good_sent += 1;

    // Slow senders: a body that never completes, headers that never end.
    let mut slow_body = std::net::TcpStream::connect(&ingest.http)?;
    write!(
        slow_body,
        "POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"sensor"
    )?;
    let mut slow_head = std::net::TcpStream::connect(&ingest.http)?;
    write!(slow_head, "POST /ingest HTTP/1.1\r\nHost: x\r\nX-Slow: ")?;
    for _ in 0..3 {
        good(&ingest, good_sent)?;
        good_sent += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    slow_body.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut answer = String::new();
    let _ = slow_body.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body times out: {answer:?}"
    );
    drop(slow_head);

    // What was accepted is in Kafka, and nothing else.
    let want = expected_readings + good_sent as usize;
    let records = read_topic(&ingest.brokers, &ingest.readings, 12, want)?;
    assert_eq!(records.len(), want, "accepted readings in Kafka");
    assert!(
        ingest.alive(),
        "the gateway survived: {}",
        ingest.log_tail()
    );
    let (status, _, _) = common::ingest::curl(&[&format!("http://{}/health", ingest.http)])?;
    assert_eq!(status, 200);
    ingest.stop()?;
    Ok(())
}
