//! The smallest HTTP/1.1 client webhooks need: one POST per connection,
//! `Connection: close`, success is a 2xx status line. `https://` goes over
//! rustls, the server's certificate verified against the system's CA
//! bundle or the webhook's own `ca_file`, and its name against the URL's host.

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// An `http://` or `https://` `host:port/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port` to connect to.
    pub authority: String,
    /// The host alone (the name the certificate must carry).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `https://`.
    pub tls: bool,
}

impl Url {
    /// Parses `http[s]://host[:port][/path]`; other schemes are refused.
    pub fn parse(url: &str) -> Result<Url, String> {
        let (rest, tls, port) = if let Some(rest) = url.strip_prefix("https://") {
            (rest, true, 443)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (rest, false, 80)
        } else {
            return Err(format!(
                "`{url}`: only http:// and https:// URLs are supported"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("`{url}`: no host"));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{port}")
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Url {
            authority,
            host,
            path: path.to_string(),
            tls,
        })
    }
}

/// A TLS client trusting `ca_file` (PEM), or the system's bundle when empty.
pub fn connector(ca_file: &str) -> Result<TlsConnector, String> {
    crate::tls::client_config(ca_file, "", "").map(TlsConnector::from)
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
    tls: Option<&TlsConnector>,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, PostError> {
    let unreachable = PostError::Unreachable;
    let attempt = async {
        let stream = TcpStream::connect(&url.authority)
            .await
            .map_err(|e| unreachable(format!("connect {}: {e}", url.authority)))?;
        match (url.tls, tls) {
            (false, _) => exchange(stream, url, headers, body).await,
            (true, Some(tls)) => {
                let name = ServerName::try_from(url.host.clone())
                    .map_err(|e| unreachable(format!("`{}`: {e}", url.host)))?;
                // A certificate that does not verify is the receiver's
                // setup, not this event's fault: retried, not refused.
                let stream = tls
                    .connect(name, stream)
                    .await
                    .map_err(|e| unreachable(format!("tls with {}: {e}", url.authority)))?;
                exchange(stream, url, headers, body).await
            }
            (true, None) => Err(unreachable("https:// without a TLS client".into())),
        }
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        PostError::Unreachable(format!("no answer within {} ms", timeout.as_millis()))
    })?
}

/// Writes the request, reads the status line.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<u16, PostError> {
    let unreachable = PostError::Unreachable;
    {
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
        // TLS holds written bytes until flushed.
        stream
            .flush()
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
    }
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
                host: "127.0.0.1".into(),
                path: "/hooks/weir?x=1".into(),
                tls: false,
            })
        );
        assert_eq!(
            Url::parse("http://example.invalid").map(|u| (u.authority, u.path)),
            Ok(("example.invalid:80".into(), "/".into()))
        );
        assert_eq!(
            Url::parse("https://hooks.example.net/weir").map(|u| (u.authority, u.host, u.tls)),
            Ok((
                "hooks.example.net:443".into(),
                "hooks.example.net".into(),
                true
            ))
        );
        assert!(Url::parse("ftp://a/b").is_err_and(|e| e.contains("https://")));
        assert!(Url::parse("http:///x").is_err());
    }
}
