//! The smallest HTTP/1.1 client the heartbeat needs: one request per
//! connection (`Connection: close`), the whole answer read to its end.
//! Plain HTTP only; a chunked body is decoded.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request to `authority` (`host:port`); `(status, body)`.
pub async fn request(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connect {authority}"))?;
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
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.context("read")?;
        parse(&answer)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| anyhow!("no answer within {} ms", timeout.as_millis()))?
        .with_context(|| format!("{method} http://{authority}{path}"))
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
