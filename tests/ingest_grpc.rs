//! The gRPC gateway with a tonic client (issue #7, criterion 3): unary
//! `Send` and the `Stream` of readings with one ack each, in order; the
//! token in the `authorization` metadata (missing → UNAUTHENTICATED, a
//! sensor the token may not write → PERMISSION_DENIED); invalid readings
//! are acked as rejected with their reason; the accepted ones are in Kafka.

mod common;

use std::collections::BTreeMap;

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use weir_connectors::ingest::proto::ingest::ingest_client::IngestClient;
use weir_connectors::ingest::proto::reading::SensorReading;

use common::ingest::{Error, Ingest, NARROW_TOKEN, TOKEN};
use common::kafka::read_topic;

const T0: i64 = 1_764_000_000_000;

fn reading(sensor: &str, ts: i64, value: f64) -> SensorReading {
    SensorReading {
        sensor_id: sensor.into(),
        ts_ms: Some(ts),
        value: Some(value),
        flags: vec![],
        unit: None,
        battery: None,
    }
}

fn request<T>(message: T, token: Option<&str>) -> Result<tonic::Request<T>, Error> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse()?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_send_and_stream_with_auth_and_acks() -> Result<(), Error> {
    let mut ingest = Ingest::new("grpc", None, &[("ingest.mqtt", "enabled = false")])?;
    ingest.start()?;
    let channel = Channel::from_shared(format!("http://{}", ingest.grpc))?
        .connect()
        .await?;
    let mut client = IngestClient::new(channel);

    // Unary, with and without a token.
    let ack = client
        .send(request(reading("rpc-1", T0, 1.5), Some(TOKEN))?)
        .await?
        .into_inner();
    assert!(ack.accepted, "{ack:?}");
    let status = client
        .send(request(reading("rpc-1", T0 + 1, 1.5), None)?)
        .await
        .err()
        .ok_or("accepted without a token")?;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = client
        .send(request(reading("rpc-1", T0 + 2, 1.5), Some("nope"))?)
        .await
        .err()
        .ok_or("accepted with an unknown token")?;
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = client
        .send(request(reading("rpc-1", T0 + 3, 1.5), Some(NARROW_TOKEN))?)
        .await
        .err()
        .ok_or("accepted for a sensor the token may not write")?;
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    let ack = client
        .send(request(reading("rpc-1", T0 + 4, f64::NAN), Some(TOKEN))?)
        .await?
        .into_inner();
    assert!(!ack.accepted);
    assert_eq!(
        (ack.reason.as_str(), ack.field.as_str()),
        ("not_finite", "value")
    );

    // A stream of 1,000 with every 100th invalid: an ack each, in order.
    let readings: Vec<SensorReading> = (0..1_000)
        .map(|i| {
            let value = if i % 100 == 99 {
                f64::INFINITY
            } else {
                i as f64
            };
            reading(&format!("rpc-s{}", i % 7), T0 + i * 1_000, value)
        })
        .collect();
    let outgoing = futures_util::stream::iter(readings.clone());
    let mut acks = client
        .stream(request(outgoing, Some(TOKEN))?)
        .await?
        .into_inner();
    let mut got = Vec::new();
    while let Some(ack) = acks.message().await? {
        got.push(ack);
    }
    assert_eq!(got.len(), 1_000, "an ack per reading");
    for (i, ack) in got.iter().enumerate() {
        assert_eq!(ack.index, i as u64, "in order");
        assert_eq!(ack.accepted, i % 100 != 99, "{ack:?}");
    }
    let status = client
        .stream(request(futures_util::stream::iter(readings.clone()), None)?)
        .await
        .err()
        .ok_or("a stream without a token")?;
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    // In Kafka: the unary reading and the 990 valid streamed ones, once each.
    let records = read_topic(&ingest.brokers, &ingest.readings, 12, 991)?;
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        assert_eq!(
            r.header(weir_dataflow::CONTENT_TYPE_HEADER),
            Some("application/x-protobuf")
        );
        *per_key.entry(r.key.clone()).or_default() += 1;
    }
    assert_eq!(records.len(), 991, "{per_key:?}");
    assert_eq!(per_key.get("rpc-1"), Some(&1));
    assert!(ingest.alive(), "{}", ingest.log_tail());
    ingest.stop()?;
    Ok(())
}
