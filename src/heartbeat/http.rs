//! The smallest HTTP/1.1 client the heartbeat needs: one request per
//! connection (`Connection: close`), the whole answer read to its end; a
//! chunked body is decoded. `https://` (and `wss://` for the WebSocket)
//! goes over weir's rustls client, trusting `heartbeat.ca_file` or the
//! system's bundle, the certificate's name checked against the host.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use weir_connectors::delivery::http::Url;

/// A byte stream to a target, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where requests go: a setting's `http://` or `https://` URL, or a bare
/// `host:port` (plain HTTP), with the TLS client an `https://` one needs.
/// Made from the settings at each use, so a replaced CA file is read again.
#[derive(Clone)]
pub struct Target {
    /// The URL, split (its path is used by settings that name one).
    pub url: Url,
    tls: Option<TlsConnector>,
}

impl Target {
    /// `setting` (the value of `key`) as a target trusting `ca_file`.
    pub fn parse(key: &str, setting: &str, ca_file: &str) -> Result<Target, String> {
        let full = if setting.contains("://") {
            setting.to_string()
        } else {
            format!("http://{setting}")
        };
        let url = Url::parse(&full).map_err(|e| format!("heartbeat.{key}: {e}"))?;
        let tls = if url.tls {
            let config = weir_connectors::tls::client_config(ca_file, "", "")
                .map_err(|e| format!("heartbeat.ca_file: {e}"))?;
            Some(TlsConnector::from(config))
        } else {
            None
        };
        Ok(Target { url, tls })
    }

    /// The WebSocket URL of `path` on this target (`ws://` or `wss://`).
    pub fn ws_url(&self, path: &str) -> String {
        let scheme = if self.url.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.url.authority)
    }

    /// A connection: TCP, then the TLS handshake for `https://`.
    pub async fn connect(&self) -> anyhow::Result<Box<dyn Io>> {
        let authority = &self.url.authority;
        let stream = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connect {authority}"))?;
        match &self.tls {
            None => Ok(Box::new(stream)),
            Some(tls) => {
                let name = ServerName::try_from(self.url.host.clone())
                    .with_context(|| format!("`{}` as a TLS name", self.url.host))?;
                let stream = tls
                    .connect(name, stream)
                    .await
                    .with_context(|| format!("tls with {authority}"))?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// One request for `path` on `target`; `(status, body)`.
pub async fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let authority = &target.url.authority;
    let exchange = async {
        let mut stream = target.connect().await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.context("send")?;
        stream.write_all(body).await.context("send")?;
        // TLS holds written bytes until flushed.
        stream.flush().await.context("send")?;
        let mut answer = Vec::new();
        read_answer(&mut stream, &mut answer).await?;
        parse(&answer)
    };
    let scheme = if target.url.tls { "https" } else { "http" };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| anyhow!("no answer within {} ms", timeout.as_millis()))?
        .with_context(|| format!("{method} {scheme}://{authority}{path}"))
}

/// Reads to the end of the answer. A TLS server that closes without
/// `close_notify` (common) ends the stream with an error after the whole
/// answer: what was read counts.
async fn read_answer(stream: &mut Box<dyn Io>, answer: &mut Vec<u8>) -> anyhow::Result<()> {
    match stream.read_to_end(answer).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(()),
        Err(e) => Err(e).context("read"),
    }
}

/// Splits a whole HTTP/1.1 answer into status and (de-chunked) body.
fn parse(answer: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("not an HTTP answer ({} bytes)", answer.len()))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let body = &answer[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("no status in {:?}", head.lines().next()))?;
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")
        })
    });
    Ok((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size"))?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_answers_parse() -> anyhow::Result<()> {
        let plain = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(parse(plain)?, (202, b"ok".to_vec()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(chunked)?, (200, b"abcde".to_vec()));
        assert!(parse(b"garbage").is_err());
        Ok(())
    }
}
