//! The gRPC gateway (tonic): unary `Send` and a bidirectional `Stream`
//! with one `Ack` per reading, in order. Auth is the `authorization`
//! metadata (`Bearer <token>`), as for HTTP.
//!
//! ```text
//!  Stream: readings ─► validate ─► (up to 256 appends in flight) ─► acks in order
//!  Send:   reading  ─► validate ─► append ─► ack
//! ```
//!
//! A reading refused for load (rate limit, full buffer) is acked with
//! `accepted = false`, its reason and `retry_after_secs`: the client sends
//! it again. A call without a valid token fails with `UNAUTHENTICATED`; a
//! reading for a sensor the token may not write, `PERMISSION_DENIED`.

use std::pin::Pin;

use futures_util::stream::FuturesOrdered;
use futures_util::{Stream, StreamExt};
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Auth, AuthError, Device, rate_key};
use super::gateway::{Gateway, Refusal, Rejection, Valid, validate};
use crate::ingest::proto::ingest::Ack;
use crate::ingest::proto::ingest::ingest_server::{Ingest, IngestServer};
use crate::ingest::proto::reading::SensorReading;

/// The service.
#[derive(Clone)]
pub struct Service {
    gateway: Gateway,
    auth: Auth,
}

fn device(auth: &Auth, metadata: &tonic::metadata::MetadataMap) -> Result<Option<Device>, Status> {
    let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
    auth.device(header).map_err(|e| match e {
        AuthError::Missing => {
            Status::unauthenticated("send `authorization: Bearer <device token>` metadata")
        }
        AuthError::Unknown => Status::unauthenticated("unknown token"),
    })
}

fn rejected(index: u64, r: &Rejection) -> Ack {
    Ack {
        index,
        accepted: false,
        reason: r.reason.clone(),
        field: r.field.clone(),
        detail: r.detail.clone(),
        retry_after_secs: 0,
    }
}

fn refused(index: u64, refusal: &Refusal) -> Ack {
    let detail = match refusal {
        Refusal::RateLimited(_) => "over the rate limit of this gateway or device".to_string(),
        Refusal::BufferFull(_) => "the ingest buffer is full; send it again later".to_string(),
        Refusal::Unavailable(e) => e.clone(),
    };
    Ack {
        index,
        accepted: false,
        reason: refusal.code().into(),
        field: String::new(),
        detail,
        retry_after_secs: u32::try_from(refusal.retry_after_secs()).unwrap_or(u32::MAX),
    }
}

/// Validates one message and checks the device may send it.
fn check(device: Option<&Device>, reading: &SensorReading, index: u64) -> Result<Valid, Ack> {
    let bytes = reading.encode_to_vec();
    let valid = validate(bytes, Some("application/x-protobuf"), index as usize)
        .map_err(|r| rejected(index, &r))?;
    if let Some(d) = device
        && !d.allows(&valid.sensor_id)
    {
        return Err(rejected(
            index,
            &Rejection {
                index: index as usize,
                field: "sensor_id".into(),
                reason: "forbidden".into(),
                detail: format!(
                    "device `{}` may not send readings of `{}`",
                    d.name, valid.sensor_id
                ),
            },
        ));
    }
    Ok(valid)
}

async fn take(gateway: Gateway, who: String, valid: Result<Valid, Ack>, index: u64) -> Ack {
    let valid = match valid {
        Ok(v) => v,
        Err(ack) => {
            gateway.rejected(&[Rejection {
                index: index as usize,
                field: ack.field.clone(),
                reason: ack.reason.clone(),
                detail: ack.detail.clone(),
            }]);
            return ack;
        }
    };
    match gateway.admit(&who, vec![valid]).await {
        Ok(_) => Ack {
            index,
            accepted: true,
            ..Ack::default()
        },
        Err(refusal) => refused(index, &refusal),
    }
}

#[tonic::async_trait]
impl Ingest for Service {
    async fn send(&self, request: Request<SensorReading>) -> Result<Response<Ack>, Status> {
        let device = device(&self.auth, request.metadata())?;
        let who = rate_key(device.as_ref(), request.remote_addr());
        let reading = request.into_inner();
        let checked = check(device.as_ref(), &reading, 0);
        if let Err(ack) = &checked
            && ack.reason == "forbidden"
        {
            return Err(Status::permission_denied(ack.detail.clone()));
        }
        Ok(Response::new(
            take(self.gateway.clone(), who, checked, 0).await,
        ))
    }

    type StreamStream = Pin<Box<dyn Stream<Item = Result<Ack, Status>> + Send>>;

    async fn stream(
        &self,
        request: Request<Streaming<SensorReading>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let device = device(&self.auth, request.metadata())?;
        let who = rate_key(device.as_ref(), request.remote_addr());
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel::<Result<Ack, Status>>(256);
        let gateway = self.gateway.clone();
        tokio::spawn(async move {
            let mut pending = FuturesOrdered::new();
            let mut index = 0u64;
            let mut open = true;
            while open || !pending.is_empty() {
                tokio::select! {
                    message = incoming.next(), if open && pending.len() < 256 => match message {
                        Some(Ok(reading)) => {
                            let checked = check(device.as_ref(), &reading, index);
                            pending.push_back(take(gateway.clone(), who.clone(), checked, index));
                            index += 1;
                        }
                        Some(Err(status)) => {
                            let _ = tx.send(Err(status)).await;
                            open = false;
                        }
                        None => open = false,
                    },
                    Some(ack) = pending.next(), if !pending.is_empty() => {
                        if tx.send(Ok(ack)).await.is_err() {
                            return; // the client went away
                        }
                    }
                }
            }
        });
        let stream = tokio_stream_from(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Serves the service on `listener` until the runtime stops.
pub fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    auth: Auth,
    tls: Option<crate::tls::Tls>,
) {
    let service = IngestServer::new(Service { gateway, auth });
    if let Some(tls) = tls {
        let mut connections = crate::tls::incoming(listener, tls);
        let incoming = futures_util::stream::poll_fn(move |cx| connections.poll_recv(cx));
        tokio::spawn(async move {
            if let Err(e) = tonic::transport::Server::builder()
                .serve_with_incoming(service, incoming)
                .await
            {
                tracing::error!(error = %e, "grpc gateway stopped");
            }
        });
        return;
    }
    let incoming = futures_util::stream::poll_fn(move |cx| {
        listener
            .poll_accept(cx)
            .map(|accepted| Some(accepted.map(|(stream, _)| stream)))
    });
    tokio::spawn(async move {
        if let Err(e) = tonic::transport::Server::builder()
            .serve_with_incoming(service, incoming)
            .await
        {
            tracing::error!(error = %e, "grpc gateway stopped");
        }
    });
}
