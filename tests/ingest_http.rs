//! The HTTP gateway through `curl` (issue #7, criterion 2): single, batch
//! and NDJSON readings (and gzip, and protobuf); a batch with 3 bad readings
//! among 100 (97 accepted, 3 reported with index and reason); 401, 403,
//! 413 and 429 with Retry-After. Every accepted reading is then read back
//! from Kafka: each once, keyed by its sensor, with its content type.

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;
use weir_dataflow::{Format, Reading, SensorId, encode};

use common::ingest::{Error, Ingest, NARROW_TOKEN, TOKEN, curl, reading};
use common::kafka::read_topic;

const T0: i64 = 1_764_000_000_000;

fn auth(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

fn file(ingest: &Ingest, name: &str, bytes: &[u8]) -> Result<String, Error> {
    let path = ingest.dir.join(name);
    std::fs::File::create(&path)?.write_all(bytes)?;
    Ok(format!("@{}", path.display()))
}

#[test]
fn http_ingest_accepts_rejects_and_limits_as_documented() -> Result<(), Error> {
    // A tight per-device rate so the 429 is reachable.
    let mut ingest = Ingest::new(
        "http",
        None,
        &[
            ("ingest.rate", "device_burst = 400.0"),
            ("ingest.rate", "device_per_sec = 20.0"),
            ("ingest.mqtt", "enabled = false"),
            ("ingest.grpc", "enabled = false"),
        ],
    )?;
    ingest.start()?;
    let url = |path: &str| format!("http://{}{path}", ingest.http);
    let mut accepted_total = 0u64;
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();

    // One reading.
    let (status, body, _) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &reading("dev-1", T0, 21.5),
        &url("/ingest"),
    ])?;
    assert_eq!((status, body.as_str()), (202, r#"{"accepted":1}"#));
    accepted_total += 1;
    *expected.entry("dev-1".into()).or_default() += 1;

    // One protobuf reading.
    let proto = encode(&Reading {
        sensor_id: SensorId::new("dev-2")?,
        ts_ms: T0,
        value: 7.25,
        flags: vec![],
        unit: None,
        battery: None,
        format: Format::Protobuf,
    });
    let data = file(&ingest, "one.pb", &proto)?;
    let (status, body, _) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        "Content-Type: application/x-protobuf",
        "--data-binary",
        &data,
        &url("/ingest"),
    ])?;
    assert_eq!(status, 202, "{body}");
    accepted_total += 1;
    *expected.entry("dev-2".into()).or_default() += 1;

    // A batch of 100 with 3 bad readings: 97 accepted, the 3 reported.
    let bad = [17usize, 50, 99];
    let items: Vec<String> = (0..100)
        .map(|i| match i {
            17 => r#"{"sensorId":"dev-3","timestamp":1764000017000,"value":"hot"}"#.to_string(),
            50 => r#"{"sensorId":"dev-3","timestamp":1764000050000}"#.to_string(),
            99 => r#"{"sensorId":"dev 3","timestamp":1764000099000,"value":1}"#.to_string(),
            _ => reading("dev-3", T0 + i as i64 * 1_000, i as f64),
        })
        .collect();
    let batch = format!("[{}]", items.join(","));
    let data = file(&ingest, "batch.json", batch.as_bytes())?;
    let (status, body, _) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &data,
        &url("/ingest/batch"),
    ])?;
    assert_eq!(status, 400, "{body}");
    let answer: Value = serde_json::from_str(&body)?;
    assert_eq!(answer["accepted"], 97, "{answer}");
    let rejected: Vec<(u64, String, String)> = answer["rejected"]
        .as_array()
        .ok_or("no rejected list")?
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(u64::MAX),
                r["reason"].as_str().unwrap_or_default().to_string(),
                r["field"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (17, "wrong_type".into(), "value".into()),
            (50, "missing".into(), "value".into()),
            (99, "invalid_chars".into(), "sensorId".into()),
        ],
        "index, reason and field of each bad reading: {answer}"
    );
    assert!(
        bad.iter()
            .all(|i| rejected.iter().any(|r| r.0 == *i as u64))
    );
    accepted_total += 97;
    *expected.entry("dev-3".into()).or_default() += 97;

    // NDJSON, gzipped.
    let ndjson: String = (0..10)
        .map(|i| reading("dev-4", T0 + i * 1_000, 1.0) + "\n")
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson.as_bytes())?;
    let data = file(&ingest, "batch.ndjson.gz", &gz.finish()?)?;
    let (status, body, _) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        "Content-Type: application/x-ndjson",
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &data,
        &url("/ingest/batch"),
    ])?;
    assert_eq!((status, body.as_str()), (202, r#"{"accepted":10}"#));
    accepted_total += 10;
    *expected.entry("dev-4".into()).or_default() += 10;

    // Who may send.
    let one = reading("dev-5", T0, 1.0);
    let (status, body, _) = curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &one,
        &url("/ingest"),
    ])?;
    assert_eq!(status, 401, "no token: {body}");
    let json = "Content-Type: application/json";
    let (status, _, _) = curl(&[
        "-H",
        &auth("wrong"),
        "-H",
        json,
        "--data-binary",
        &one,
        &url("/ingest"),
    ])?;
    assert_eq!(status, 401, "unknown token");
    let (status, body, _) = curl(&[
        "-H",
        &auth(NARROW_TOKEN),
        "-H",
        json,
        "--data-binary",
        &one,
        &url("/ingest"),
    ])?;
    assert_eq!(status, 403, "a sensor the device may not write: {body}");
    assert!(body.contains("dev-5"), "{body}");

    // Too large: 2 MiB.
    let big = file(&ingest, "big.json", &vec![b' '; 2 << 20])?;
    let (status, body, _) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        json,
        "--data-binary",
        &big,
        &url("/ingest/batch"),
    ])?;
    assert_eq!(status, 413, "{body}");

    // Over the device's rate: 400 burst, 118 spent; 300 more is too many.
    let items: Vec<String> = (0..300)
        .map(|i| reading("dev-6", T0 + i * 1_000, 1.0))
        .collect();
    let data = file(
        &ingest,
        "rate.json",
        format!("[{}]", items.join(",")).as_bytes(),
    )?;
    let (status, body, head) = curl(&[
        "-H",
        &auth(TOKEN),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &data,
        &url("/ingest/batch"),
    ])?;
    assert_eq!(status, 429, "{body}");
    let retry_after = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After: {head}");

    // The metrics count what happened.
    let (status, metrics, _) = curl(&[&url("/metrics")])?;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!(
            "weir_ingest_accepted_total{{gateway=\"http\"}} {accepted_total}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_ingest_rejected_total{gateway=\"http\",reason=\"wrong_type\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_ingest_refused_total{gateway=\"http\",cause=\"rate_limited\"} 300"),
        "{metrics}"
    );

    // Everything accepted reached Kafka, once, keyed by sensor.
    let records = read_topic(
        &ingest.brokers,
        &ingest.readings,
        12,
        accepted_total as usize,
    )?;
    assert!(ingest.alive(), "{}", ingest.log_tail());
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *by_key.entry(r.key.clone()).or_default() += 1;
        let ct = r.header(weir_dataflow::CONTENT_TYPE_HEADER);
        let sniffed = if r.key == "dev-2" {
            "application/x-protobuf"
        } else {
            "application/json"
        };
        assert_eq!(ct, Some(sniffed), "{r:?}");
        let decoded = weir_dataflow::decode(&r.payload, ct)?;
        assert_eq!(decoded.sensor_id.as_str(), r.key);
    }
    assert_eq!(by_key, expected, "each accepted reading once");
    ingest.stop()?;
    Ok(())
}
