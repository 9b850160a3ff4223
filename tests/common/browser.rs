//! A headless Chromium driven over the DevTools protocol, for the tests
//! that look at the dashboard as an operator would.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use super::store::Error;

/// The body of `GET path` (by Content-Length when given: Chromium's DevTools
/// server keeps the connection open).
pub fn http_get(address: &str, path: &str) -> Result<String, Error> {
    http_get_as(address, path, None)
}

/// [`http_get`] with an API token.
pub fn http_get_as(address: &str, path: &str, token: Option<&str>) -> Result<String, Error> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    stream.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                return Ok(body.to_string());
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Ok(text
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_string())
                    .unwrap_or_default());
            }
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.into()),
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A CDP session on one page.
pub struct Page {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        self.next_id += 1;
        let id = self.next_id;
        self.socket
            .send(Message::text(
                json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .await?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .map_err(|_| format!("{method}: no answer in 30 s"))?
                .ok_or("devtools socket closed")??;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str())?;
                if value["id"] == id {
                    if value["error"].is_object() {
                        return Err(format!("{method}: {}", value["error"]).into());
                    }
                    return Ok(value["result"].clone());
                }
            }
        }
    }

    pub async fn eval(&mut self, expression: &str) -> Result<Value, Error> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await?;
        Ok(result["result"]["value"].clone())
    }

    pub async fn screenshot(&mut self, path: &PathBuf) -> Result<(), Error> {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let png = base64_decode(shot["data"].as_str().unwrap_or_default());
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(path, png)?;
        eprintln!("screenshot: {}", path.display());
        Ok(())
    }
}

pub struct Browser(Child, PathBuf);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

pub fn launch(url: &str) -> Result<(Browser, u16), Error> {
    let profile = std::env::temp_dir().join(super::unique("chromium"));
    std::fs::create_dir_all(&profile)?;
    let child = Command::new(std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into()))
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0"])
        .arg("--remote-debugging-address=127.0.0.1")
        .arg("--window-size=1600,1000")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting chromium (Debian package `chromium`, installed by scripts/services.sh): {e}"))?;
    let browser = Browser(child, profile.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort"))
            && let Some(port) = text.lines().next().and_then(|l| l.parse().ok())
        {
            return Ok((browser, port));
        }
        if Instant::now() > deadline {
            return Err("chromium did not open its DevTools port within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Opens `url` in a new headless Chromium and a DevTools session on its page.
pub async fn open(url: &str) -> Result<(Browser, Page), Error> {
    let (browser, port) = launch(url)?;
    let targets: Value =
        serde_json::from_str(&http_get(&format!("127.0.0.1:{port}"), "/json/list")?)?;
    let page_url = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .ok_or_else(|| format!("no page target in {targets}"))?
        .to_string();
    let (socket, _) = connect_async(page_url).await?;
    Ok((browser, Page { socket, next_id: 0 }))
}
