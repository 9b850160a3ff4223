//! The outside heartbeat's results, for weir's own `/health` and the
//! dashboard: `server.heartbeat_url` (a `weir heartbeat`'s `/health`) is
//! fetched every 5 s; the latest answer, or why there is none, is kept.
//! It never changes weir's own status: the heartbeat judges weir, not the
//! other way round, and alerts through its own channel.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How often the heartbeat's `/health` is fetched.
pub const EVERY: Duration = Duration::from_secs(5);

/// The latest view of the heartbeat (`None`: not configured).
#[derive(Debug, Default)]
pub struct HeartbeatView(Mutex<Option<Value>>);

impl HeartbeatView {
    /// What `/health` shows as `heartbeat`.
    pub fn get(&self) -> Option<Value> {
        self.0.lock().ok().and_then(|v| v.clone())
    }

    fn set(&self, value: Value) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(value);
        }
    }
}

/// Fetches `url` every [`EVERY`] for ever, keeping the answer in `view`:
/// the heartbeat's body with `fetched_ms`, or `{"status": "unreachable", "error"}`.
pub async fn follow(url: String, view: std::sync::Arc<HeartbeatView>) {
    loop {
        let now = crate::hub::now_ms();
        let value = match get_json(&url).await {
            Ok(Value::Object(mut body)) => {
                body.insert("fetched_ms".into(), json!(now));
                Value::Object(body)
            }
            Ok(other) => {
                json!({"status": "unreachable", "error": format!("not a JSON object: {other}"), "fetched_ms": now})
            }
            Err(error) => json!({"status": "unreachable", "error": error, "fetched_ms": now}),
        };
        view.set(value);
        tokio::time::sleep(EVERY).await;
    }
}

/// One `GET` of an `http://host:port/path` URL answering JSON (`Connection: close`).
async fn get_json(url: &str) -> Result<Value, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs"))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect {authority}: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .map_err(|_| "no answer within 3 s".to_string())??;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("not an HTTP answer")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    // The heartbeat answers with a Content-Length (warp, a JSON reply).
    serde_json::from_slice(&answer[split + 4..]).map_err(|e| format!("not JSON: {e}"))
}
