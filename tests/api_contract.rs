//! The HTTP API keeps its own contract (issue #14, items 11 and 13), through
//! a real `weir run`: bad input is a 400 naming the parameter, never a 5xx
//! (a NUL byte in a query parameter, a time PostgreSQL cannot hold, a bad
//! id); a 405 says in `Allow` what the path serves; past
//! `server.max_ws_clients` a WebSocket upgrade is a 503, counted; a silence
//! longer than `server.max_silence_ms`, or ending in the past, is a 400.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::store::Error;
use common::{run_weir, text, topic_env, unique, weir};

/// A child killed when the test lets go of it, passed or failed.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One answer: status, raw head, and the body as JSON (`Null` if it is not).
struct Answer {
    status: u16,
    head: String,
    json: Value,
}

/// `method path` with an optional JSON body, over a plain std socket.
fn request(address: &str, method: &str, path: &str, body: Option<&str>) -> Result<Answer, Error> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    stream.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {text}"))?;
    let json = match (rest.find(['{', '[']), rest.rfind(['}', ']'])) {
        (Some(start), Some(end)) if end > start => {
            serde_json::from_str(&rest[start..=end]).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    Ok(Answer {
        status,
        head: head.to_ascii_lowercase(),
        json,
    })
}

fn metric(address: &str, name: &str) -> Result<Option<f64>, Error> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok()))
}

fn free_port() -> std::io::Result<u16> {
    common::free_port()
}

/// `weir run` on its own topics, schema and port, with two WebSocket places.
fn start() -> Result<(Killed, String, std::path::PathBuf), Error> {
    let prefix = unique("apicontract");
    let env = topic_env(&prefix);
    let output = run_weir(&["topics"], &env)?;
    assert!(output.status.success(), "topics: {:?}", text(&output));
    let address = format!("127.0.0.1:{}", free_port()?);
    let log = std::env::temp_dir().join(format!("{prefix}-run.log"));
    let child = weir()
        .arg("run")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("WEIR_SERVER__LISTEN", &address)
        .env("WEIR_SERVER__MAX_WS_CLIENTS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let run = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Ready once the migrations ran: the server listens before they do.
    while !request(&address, "GET", "/api/anomalies?limit=1", None).is_ok_and(|a| a.status == 200) {
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not answer within 60 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok((run, address, log))
}

fn assert_bad(answer: &Answer, what: &str, needle: &str) {
    assert_eq!(answer.status, 400, "{what}: {}", answer.json);
    assert!(
        answer.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains(needle)),
        "{what}: {}",
        answer.json
    );
}

#[test]
fn bad_input_is_a_400_and_every_405_says_what_is_allowed() -> Result<(), Error> {
    let (_run, address, _log) = start()?;
    // Each of these answered 503 (PostgreSQL refusing the value) before.
    for (path, needle) in [
        ("/api/anomalies?zone=a%00b", "`zone`"),
        ("/api/dead-letters?reason=%00", "`reason`"),
        ("/api/alerts?zone=%00", "`zone`"),
        (
            "/api/sensors/tmp-00001/history?from=-9223372036854775808",
            "`from`",
        ),
        (
            "/api/sensors/tmp-00001/history?from=1&to=9223372036854775807&resolution=1h",
            "`to`",
        ),
        ("/api/anomalies?since=-99999999999999999", "`since`"),
        ("/api/sensors/tmp%0001/history", "`id`"),
        ("/api/alerts/a%00b", "`id`"),
    ] {
        let answer = request(&address, "GET", path, None)?;
        assert_bad(&answer, path, needle);
    }
    let answer = request(&address, "DELETE", "/api/silences/%00", None)?;
    assert_bad(&answer, "DELETE /api/silences/%00", "`id`");
    // The same requests well formed are served.
    for path in [
        "/api/anomalies?zone=zone-01",
        "/api/sensors/tmp-00001/history?from=0&to=3600000&resolution=5m",
    ] {
        let answer = request(&address, "GET", path, None)?;
        assert!(
            answer.status == 200 || answer.status == 404,
            "{path}: {} {}",
            answer.status,
            answer.json
        );
    }
    for (method, path, allow) in [
        ("POST", "/api/zones", "allow: get"),
        ("DELETE", "/api/silences", "allow: get, post"),
        ("GET", "/api/alerts/x/ack", "allow: post"),
        ("PUT", "/ws", "allow: get"),
        ("POST", "/health", "allow: get"),
    ] {
        let answer = request(&address, method, path, None)?;
        assert_eq!(answer.status, 405, "{method} {path}");
        assert!(
            answer.head.contains(allow),
            "{method} {path}: {}",
            answer.head
        );
    }
    // The document states the limits the code enforces.
    let spec = request(&address, "GET", "/api/openapi.json", None)?.json;
    let from = &spec["paths"]["/api/sensors/{id}/history"]["get"]["parameters"][1]["schema"];
    assert_eq!(from["maximum"], 253_402_300_799_999_i64, "{from}");
    assert!(spec["paths"]["/ws"]["get"]["responses"]["503"].is_object());
    Ok(())
}

#[test]
fn websockets_past_the_cap_get_503_and_silences_have_a_maximum() -> Result<(), Error> {
    let (_run, address, log) = start()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let url = format!("ws://{address}/ws");
        let (first, _) = tokio_tungstenite::connect_async(&url).await?;
        let (second, _) = tokio_tungstenite::connect_async(&url).await?;
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 503);
                let body =
                    String::from_utf8_lossy(response.body().as_deref().unwrap_or(&[])).into_owned();
                assert!(body.contains("max_ws_clients"), "{body}");
            }
            Err(e) => return Err(format!("third socket: {e}").into()),
            Ok(_) => return Err("a third socket was let in past max_ws_clients = 2".into()),
        }
        assert_eq!(metric(&address, "weir_ws_refused_total")?, Some(1.0));
        // A place comes back when a client leaves.
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio_tungstenite::connect_async(&url).await {
                Ok(_) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(format!("no place after a client left: {e}").into()),
            }
        }
        drop(second);
        Ok::<(), Error>(())
    })?;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let day = 86_400_000_i64;
    let too_long = format!(r#"{{"zone":"zone-01","duration_ms":{}}}"#, 7 * day + 1);
    let answer = request(&address, "POST", "/api/silences", Some(&too_long))?;
    assert_bad(&answer, "8-day silence", "max_silence_ms");
    let past = format!(
        r#"{{"zone":"zone-01","starts":{},"ends":{}}}"#,
        now - 2 * day,
        now - day
    );
    let answer = request(&address, "POST", "/api/silences", Some(&past))?;
    assert_bad(&answer, "silence in the past", "in the past");
    let backwards = format!(
        r#"{{"zone":"zone-01","starts":{},"ends":{}}}"#,
        now + 2 * day,
        now + day
    );
    let answer = request(&address, "POST", "/api/silences", Some(&backwards))?;
    assert_bad(&answer, "silence ending before it starts", "not after");
    let huge = r#"{"zone":"zone-01","starts":9223372036854775000,"duration_ms":1}"#;
    let answer = request(&address, "POST", "/api/silences", Some(huge))?;
    assert_bad(&answer, "silence in year 292 million", "`starts`");
    let week = format!(r#"{{"zone":"zone-01","duration_ms":{}}}"#, 7 * day);
    let answer = request(&address, "POST", "/api/silences", Some(&week))?;
    assert_eq!(
        answer.status,
        201,
        "a 7-day silence: {}\n{}",
        answer.json,
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Ok(())
}
