//! A webhook receiver for the alert tests: a real HTTP server on loopback
//! that records every POST's `Idempotency-Key` header and JSON body, and
//! answers 200. It can be started late, on a port chosen up front, to play
//! a receiver that is down. Given a secret, it checks each request as the
//! README tells receivers to (`X-Weir-Signature` over
//! `"<X-Weir-Timestamp>.<body>"`, the timestamp within 5 minutes, and a
//! required header) and answers 401 to one that fails, recording why.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `Idempotency-Key` header.
    pub key: String,
    /// The body.
    pub body: serde_json::Value,
    /// When it arrived (epoch ms).
    pub at_ms: i64,
    /// The body as sent.
    pub raw: Vec<u8>,
    /// `X-Weir-Timestamp`.
    pub timestamp: String,
    /// `X-Weir-Signature`.
    pub signature: String,
}

/// A receiver on a fixed loopback port.
pub struct Receiver {
    /// `127.0.0.1:port`.
    pub address: String,
    received: Arc<Mutex<Vec<Received>>>,
    rejected: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

/// A free loopback port (nothing listens on it once this returns): see
/// [`super::free_port`].
pub fn free_port() -> std::io::Result<u16> {
    super::free_port()
}

/// Wall time, epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// How a receiver answers.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer 400 to the first event key it sees, every time it sees it.
    pub refuse_first: bool,
    /// Wait this long before answering each request.
    pub delay: Duration,
    /// Verify every request's signature with this secret (401 otherwise).
    pub secret: Option<String>,
    /// A header every request must carry (name, value; 401 otherwise).
    pub require_header: Option<(String, String)>,
}

/// Why a request fails the checks a receiver should make (`None`: it passes).
pub fn check_signature(
    secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_ms: i64,
) -> Option<String> {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Some(format!("no timestamp: `{timestamp}`"));
    };
    if (now_ms - ts).abs() > 300_000 {
        return Some(format!(
            "timestamp {ts} is more than 5 minutes from now ({now_ms})"
        ));
    }
    if !weir_connectors::delivery::sign::verify(secret, ts, body, signature) {
        return Some(format!("bad signature `{signature}`"));
    }
    None
}

fn serve(
    mut stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    rejected: &Mutex<Vec<String>>,
    behaviour: &Behaviour,
    refused: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0usize;
    let mut key = String::new();
    let (mut timestamp, mut signature) = (String::new(), String::new());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "idempotency-key" => key = value.trim().to_string(),
                "x-weir-timestamp" => timestamp = value.trim().to_string(),
                "x-weir-signature" => signature = value.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw)?;
    let mut failed = behaviour
        .secret
        .as_deref()
        .and_then(|secret| check_signature(secret, &timestamp, &signature, &raw, now_ms()));
    if let Some((name, value)) = &behaviour.require_header
        && !headers
            .iter()
            .any(|(n, v)| *n == name.to_ascii_lowercase() && v == value)
    {
        failed = Some(format!("no `{name}: {value}`"));
    }
    if let Some(reason) = failed {
        if let Ok(mut all) = rejected.lock() {
            all.push(reason);
        }
        return stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    std::thread::sleep(behaviour.delay);
    let refuse = behaviour.refuse_first
        && refused.lock().is_ok_and(|mut first| {
            let first = first.get_or_insert_with(|| key.clone());
            *first == key
        });
    if let Ok(mut all) = received.lock() {
        all.push(Received {
            key,
            body,
            at_ms: now_ms(),
            raw,
            timestamp,
            signature,
        });
    }
    if refuse {
        return stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

impl Receiver {
    /// Starts listening on `port` (127.0.0.1).
    pub fn start(port: u16) -> std::io::Result<Receiver> {
        Receiver::start_with(port, Behaviour::default())
    }

    /// Starts listening on `port`, answering as `behaviour` says.
    pub fn start_with(port: u16, behaviour: Behaviour) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let rejected: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (all, halt) = (Arc::clone(&received), Arc::clone(&stop));
        let refusals = Arc::clone(&rejected);
        let refused: Mutex<Option<String>> = Mutex::new(None);
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = serve(stream, &all, &refusals, &behaviour, &refused);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Receiver {
            address: format!("127.0.0.1:{port}"),
            received,
            rejected,
            stop,
        })
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Why each refused request was refused.
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The delivery setting pointing weir at a receiver on `port`.
pub fn webhook_env(port: u16) -> (String, String) {
    (
        "WEIR_DELIVERY__WEBHOOKS".into(),
        format!(r#"[{{name = "test", url = "http://127.0.0.1:{port}/hook"}}]"#),
    )
}

/// The delivery setting pointing weir at a receiver on `port`, signing
/// with `secret` and sending `Authorization: Bearer hook-token`.
pub fn signed_webhook_env(port: u16, secret: &str) -> (String, String) {
    (
        "WEIR_DELIVERY__WEBHOOKS".into(),
        format!(
            r#"[{{name = "test", url = "http://127.0.0.1:{port}/hook", secret = "{secret}", headers = {{ Authorization = "Bearer hook-token" }}}}]"#
        ),
    )
}

/// One HTTP/1.1 request to `address` (`Connection: close`): (status, body).
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    request_as(address, method, path, "application/json", body)
}

/// Like [`request`], with another `Content-Type`.
pub fn request_as(
    address: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
