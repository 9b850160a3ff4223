//! The smallest HTTP/1.1 client webhooks need: one POST per connection,
//! `Connection: close`, success is a 2xx status line. Plain HTTP only.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// An `http://host:port/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port` to connect to.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`; other schemes are refused.
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("`{url}`: no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Url {
            authority,
            path: path.to_string(),
        })
    }
}

/// Why a POST did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostError {
    /// No HTTP answer: connection refused, reset, timed out, not HTTP.
    Unreachable(String),
    /// An answer with a status that is not 2xx (the status line).
    Status(u16, String),
}

/// POSTs `body` as JSON with extra headers; `Ok(status)` for a 2xx answer.
pub async fn post(
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, PostError> {
    let unreachable = PostError::Unreachable;
    let attempt = async {
        let mut stream = TcpStream::connect(&url.authority)
            .await
            .map_err(|e| unreachable(format!("connect {}: {e}", url.authority)))?;
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            url.path,
            url.authority,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| unreachable(format!("send: {e}")))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| unreachable(format!("send: {e}")))?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader
            .read_line(&mut status)
            .await
            .map_err(|e| unreachable(format!("read status: {e}")))?;
        let code = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| unreachable(format!("not an HTTP answer: {:?}", status.trim_end())))?;
        if (200..300).contains(&code) {
            Ok(code)
        } else {
            Err(PostError::Status(
                code,
                format!("HTTP {}", status.trim_end()),
            ))
        }
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        PostError::Unreachable(format!("no answer within {} ms", timeout.as_millis()))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            Url::parse("http://127.0.0.1:9000/hooks/weir?x=1"),
            Ok(Url {
                authority: "127.0.0.1:9000".into(),
                path: "/hooks/weir?x=1".into()
            })
        );
        assert_eq!(
            Url::parse("http://example.invalid").map(|u| (u.authority, u.path)),
            Ok(("example.invalid:80".into(), "/".into()))
        );
        assert!(Url::parse("https://a/b").is_err_and(|e| e.contains("only http://")));
        assert!(Url::parse("http:///x").is_err());
    }
}
