//! Access control on a real `weir run` with authentication on (issue #17):
//! tokens made with `weir token` and the API; every documented operation
//! without a token, with a wrong, an expired and a too-low token, and with
//! the right one; a zone-03 viewer over REST and the WebSocket; cross-site
//! requests; silence bounds (no control record for a refused one);
//! idempotent acknowledgements; revocation; the audit log of it all; and a
//! non-loopback bind without authentication refusing to start.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::kafka::Outside;
use common::store::{Error, Fixture, interrupt, tail};

/// An HTTP answer.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request: `token` as a bearer, `headers` as given, `body` as JSON
/// unless a Content-Type is among `headers`.
fn call(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, Error> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}

/// `weir token …` with the fixture's environment: stdout.
fn token_cli(fixture: &Fixture, args: &[&str]) -> Result<String, Error> {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    let output = common::run_weir(&all, &fixture.env)?;
    let (stdout, stderr) = common::text(&output);
    if !output.status.success() {
        return Err(format!("weir {all:?}: {stderr}").into());
    }
    Ok(stdout)
}

/// `weir token create --json …`: (id, token).
fn create(fixture: &Fixture, args: &[&str]) -> Result<(String, String), Error> {
    let mut all = vec!["create", "--json"];
    all.extend_from_slice(args);
    let created: Value = serde_json::from_str(token_cli(fixture, &all)?.trim())?;
    Ok((
        created["info"]["token_id"]
            .as_str()
            .unwrap_or_default()
            .into(),
        created["token"].as_str().unwrap_or_default().into(),
    ))
}

/// Records in the (one-partition) control topic.
fn control_records(outside: &Outside, topic: &str) -> Result<i64, Error> {
    Ok(outside
        .watermarks(topic, 1)?
        .iter()
        .map(|(_, high)| high)
        .sum())
}

fn wait_for<T>(
    what: &str,
    seconds: u64,
    mut probe: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(found) = probe()? {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {seconds} s").into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_asks_for_the_right_token_and_the_audit_log_shows_who() -> Result<(), Error> {
    let mut fixture = Fixture::new("auth")?;
    let address = format!("127.0.0.1:{}", common::free_port()?);
    for (key, value) in [
        ("WEIR_SERVER__LISTEN", address.as_str()),
        ("WEIR_SERVER__AUTH__ENABLED", "true"),
        ("WEIR_SERVER__AUTH__REFRESH_MS", "200"),
        ("WEIR_SERVER__AUTH__METRICS_OPEN", "false"),
    ] {
        fixture.env.push((key.into(), value.into()));
    }
    let (root_id, root) = create(&fixture, &["--name", "root", "--role", "admin"])?;
    let (_, ops) = create(&fixture, &["--name", "ops", "--role", "operator"])?;
    let (_, viewer) = create(
        &fixture,
        &["--name", "v3", "--role", "viewer", "--zone", "zone-03"],
    )?;
    let (_, reader) = create(&fixture, &["--name", "reader", "--role", "viewer"])?;
    let (_, expired) = create(
        &fixture,
        &["--name", "old", "--role", "admin", "--expires", "1s"],
    )?;
    let (ops2_id, ops2) = create(&fixture, &["--name", "ops2", "--role", "operator"])?;
    // The CLI refuses what cannot be, naming the flag.
    let refused = common::run_weir(
        &[
            "token", "create", "--name", "x", "--role", "admin", "--zone", "zone-01",
        ],
        &fixture.env,
    )?;
    assert!(!refused.status.success());
    assert!(common::text(&refused).1.contains("--zone"));
    // The list names tokens and never holds a secret or a hash.
    let listed = token_cli(&fixture, &["list", "--json"])?;
    for name in ["root", "ops", "v3", "reader", "old", "ops2"] {
        assert!(listed.contains(&format!("\"{name}\"")), "{listed}");
    }
    for secret in [&root, &ops, &viewer, &expired] {
        assert!(!listed.contains(secret.as_str()), "a secret in the list");
    }
    assert!(!listed.contains("sha256"), "{listed}");

    let mut simulator = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            "40",
            "--zones",
            "4",
            "--interval",
            "1s",
            "--rate",
            "realtime",
            "--count",
            "4800",
            "--stuck-sensors",
            "1",
            "--fault-after-rounds",
            "3",
        ],
    )?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let result = checks(
        &fixture,
        &address,
        &Tokens {
            root_id,
            root,
            ops,
            viewer,
            reader,
            expired,
            ops2_id,
            ops2,
        },
    )
    .await;
    interrupt(&mut run)?;
    let _ = simulator.kill();
    let _ = simulator.wait();
    result.map_err(|e| format!("{e}\nweir run:\n{}", tail(&fixture.log_path("run"))).into())
}

struct Tokens {
    root_id: String,
    root: String,
    ops: String,
    viewer: String,
    reader: String,
    expired: String,
    ops2_id: String,
    ops2: String,
}

async fn checks(fixture: &Fixture, address: &str, t: &Tokens) -> Result<(), Error> {
    let get = |path: &str, token: &str| call(address, "GET", path, Some(token), &[], "");
    // Ready: four zones, an open alert (the stuck sensor), a zone-01 sensor.
    wait_for("four zones", 90, || {
        // Connection refused while weir starts: not yet.
        let Ok(zones) = get("/api/zones", &t.root) else {
            return Ok(None);
        };
        let zones = zones.json();
        Ok((zones.as_array().map_or(0, Vec::len) == 4).then_some(()))
    })?;
    let alert = wait_for("an open alert", 90, || {
        let open = get("/api/alerts?state=open", &t.root)?.json();
        Ok(open[0]["alert_id"].as_str().map(String::from))
    })?;
    let sensors = get("/api/sensors", &t.root)?.json();
    let of_zone = |zone: &str| {
        sensors
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["zone"] == zone)
            .and_then(|s| s["sensor_id"].as_str())
            .map(String::from)
            .unwrap_or_default()
    };
    let (s01, s03, s04) = (of_zone("zone-01"), of_zone("zone-03"), of_zone("zone-04"));
    assert!(!s04.is_empty(), "no sensor in zone-04: {sensors}");
    let silence = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[],
        r#"{"zone":"zone-04","duration_ms":60000,"comment":"maintenance"}"#,
    )?;
    assert_eq!(silence.status, 201, "{}", silence.body);
    let silence_id = silence.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        silence.json()["author"],
        "ops",
        "the author is the token's name"
    );

    // Every documented operation: the right token passes, the others don't.
    let spec = call(address, "GET", "/api/openapi.json", None, &[], "")?.json();
    let mut cases: BTreeMap<(String, String), (String, String, &str, u16)> = BTreeMap::new();
    let enc = |s: &str| s.replace(':', "%3A");
    let mut case =
        |method: &str, template: &str, path: String, body: &str, role: &'static str, ok: u16| {
            cases.insert(
                (method.into(), template.into()),
                (path, body.into(), role, ok),
            );
        };
    case("GET", "/api/me", "/api/me".into(), "", "viewer", 200);
    case(
        "GET",
        "/api/sensors",
        "/api/sensors".into(),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/sensors/{id}",
        format!("/api/sensors/{s01}"),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/sensors/{id}/history",
        format!("/api/sensors/{s01}/history"),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/sensors/{id}/versions",
        format!("/api/sensors/{s01}/versions"),
        "",
        "viewer",
        200,
    );
    case(
        "PUT",
        "/api/sensors/{id}",
        "/api/sensors/tmp-auth-made".into(),
        r#"{"kind":"temperature","zone":"zone-01"}"#,
        "admin",
        202,
    );
    case(
        "DELETE",
        "/api/sensors/{id}",
        format!("/api/sensors/{s04}"),
        "",
        "admin",
        202,
    );
    case("GET", "/api/zones", "/api/zones".into(), "", "viewer", 200);
    case(
        "GET",
        "/api/zones/{zone}",
        "/api/zones/zone-01".into(),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/anomalies",
        "/api/anomalies".into(),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/dead-letters",
        "/api/dead-letters".into(),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/alerts",
        "/api/alerts".into(),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/alerts/{id}",
        format!("/api/alerts/{}", enc(&alert)),
        "",
        "viewer",
        200,
    );
    case(
        "GET",
        "/api/silences",
        "/api/silences".into(),
        "",
        "viewer",
        200,
    );
    case(
        "POST",
        "/api/alerts/{id}/ack",
        format!("/api/alerts/{}/ack", enc(&alert)),
        r#"{"comment":"on it"}"#,
        "operator",
        202,
    );
    case(
        "POST",
        "/api/silences",
        "/api/silences".into(),
        r#"{"sensor_id":"x-1","duration_ms":1000}"#,
        "operator",
        201,
    );
    case(
        "DELETE",
        "/api/silences/{id}",
        format!("/api/silences/{silence_id}"),
        "",
        "operator",
        200,
    );
    case("GET", "/api/tokens", "/api/tokens".into(), "", "admin", 200);
    case(
        "POST",
        "/api/tokens",
        "/api/tokens".into(),
        r#"{"name":"api-made","role":"viewer","zones":["zone-02"]}"#,
        "admin",
        201,
    );
    case(
        "DELETE",
        "/api/tokens/{id}",
        format!("/api/tokens/{}", t.ops2_id),
        "",
        "admin",
        200,
    );
    case("GET", "/api/audit", "/api/audit".into(), "", "admin", 200);
    case(
        "POST",
        "/api/sensors/import",
        "/api/sensors/import".into(),
        "sensor_id,kind,zone\ntmp-auth-csv,temperature,zone-01\n",
        "admin",
        202,
    );
    case("GET", "/api/kinds", "/api/kinds".into(), "", "viewer", 200);
    case(
        "GET",
        "/api/kinds/{name}",
        "/api/kinds/temperature".into(),
        "",
        "viewer",
        200,
    );
    case(
        "PUT",
        "/api/kinds/{name}",
        "/api/kinds/auth_kind".into(),
        r#"{"valid_range":{"min":0,"max":1}}"#,
        "admin",
        201,
    );
    // (Before the PUT: operations run in the document's order.)
    case(
        "DELETE",
        "/api/kinds/{name}",
        "/api/kinds/auth_none".into(),
        "",
        "admin",
        404,
    );
    case("GET", "/metrics", "/metrics".into(), "", "viewer", 200);
    case("GET", "/ws", "/ws".into(), "", "viewer", 101);
    let holder = |role: &str| match role {
        "viewer" => &t.reader,
        "operator" => &t.ops,
        _ => &t.root,
    };
    let below = |role: &str| match role {
        "operator" => Some(&t.reader),
        "admin" => Some(&t.ops),
        _ => None,
    };
    let ws_headers = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let wrong = format!("weir_000000000000_{}", "0".repeat(64));
    let mut secured = 0;
    for (template, operations) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in operations.as_object().into_iter().flatten() {
            let method = method.to_uppercase();
            let Some(role) = op["x-weir-role"].as_str() else {
                continue;
            };
            secured += 1;
            let (path, body, documented, ok) = cases
                .get(&(method.clone(), template.clone()))
                .ok_or_else(|| format!("no case for {method} {template}"))?
                .clone();
            assert_eq!(role, documented, "{method} {template}");
            let csv = [("Content-Type", "text/csv")];
            let headers: &[(&str, &str)] = match template.as_str() {
                "/ws" => &ws_headers,
                "/api/sensors/import" => &csv,
                _ => &[],
            };
            for token in [None, Some(wrong.as_str()), Some(t.expired.as_str())] {
                let a = call(address, &method, &path, token, headers, &body)?;
                assert_eq!(a.status, 401, "{method} {path} with {token:?}: {}", a.body);
            }
            if let Some(low) = below(role) {
                let a = call(address, &method, &path, Some(low), headers, &body)?;
                assert_eq!(a.status, 403, "{method} {path} below {role}: {}", a.body);
            }
            if template == "/ws" {
                continue; // upgraded below with a real client
            }
            let a = call(address, &method, &path, Some(holder(role)), headers, &body)?;
            assert_eq!(a.status, ok, "{method} {path} as {role}: {}", a.body);
        }
    }
    assert_eq!(
        secured,
        cases.len(),
        "every case is a documented secured operation"
    );
    // The token made through the API works at once; a revoked one stops.
    let made = call(
        address,
        "POST",
        "/api/tokens",
        Some(&t.root),
        &[],
        r#"{"name":"api-made-2","role":"operator","expires_in_ms":60000}"#,
    )?;
    assert_eq!(made.status, 201, "{}", made.body);
    let made_token = made.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let me = get("/api/me", &made_token)?;
    assert_eq!(me.json()["name"], "api-made-2", "{}", me.body);
    assert_eq!(
        get("/api/me", &t.ops2)?.status,
        401,
        "revoked through the API"
    );
    let own = call(
        address,
        "DELETE",
        &format!("/api/tokens/{}", t.root_id),
        Some(&t.root),
        &[],
        "",
    )?;
    assert_eq!(own.status, 409, "a token revoking itself: {}", own.body);
    let (revoked_id, revoked) = create(fixture, &["--name", "short-lived", "--role", "viewer"])?;
    wait_for("a CLI-made token accepted", 10, || {
        Ok((get("/api/me", &revoked)?.status == 200).then_some(()))
    })?;
    token_cli(fixture, &["revoke", &revoked_id])?;
    wait_for("a CLI-revoked token refused", 10, || {
        Ok((get("/api/me", &revoked)?.status == 401).then_some(()))
    })?;
    assert!(get("/api/me", &t.expired)?.body.contains("expired"));

    zone_scope(address, t, &s01, &s03).await?;
    cross_site(address, t).await?;
    control_bounds(fixture, address, t, &alert).await?;

    // The audit log has each action, with its actor.
    let audit = get("/api/audit?limit=1000", &t.root)?.json();
    let has = |action: &str, actor: &str| {
        audit.as_array().into_iter().flatten().any(|r| {
            r["action"] == action && r["actor"].as_str().is_some_and(|a| a.starts_with(actor))
        })
    };
    for (action, actor) in [
        ("token.create", "cli:"),
        ("token.create", "root"),
        ("token.revoke", "root"),
        ("token.revoke", "cli:"),
        ("silence.create", "ops"),
        ("silence.end", "ops"),
        ("alert.ack", "ops"),
    ] {
        assert!(has(action, actor), "no {action} by {actor} in {audit}");
    }
    let by_ops = get("/api/audit?actor=ops&action=alert.ack", &t.root)?.json();
    assert!(by_ops.as_array().is_some_and(|a| a.len() == 1), "{by_ops}");
    Ok(())
}

/// A zone-03 viewer never receives another zone's data, over REST or the WebSocket.
async fn zone_scope(address: &str, t: &Tokens, s01: &str, s03: &str) -> Result<(), Error> {
    let get = |path: &str| call(address, "GET", path, Some(&t.viewer), &[], "");
    let only_03 = |v: &Value, what: &str| {
        let items = v.as_array().cloned().unwrap_or_default();
        assert!(!items.is_empty(), "{what}: nothing");
        assert!(items.iter().all(|i| i["zone"] == "zone-03"), "{what}: {v}");
    };
    only_03(&get("/api/sensors")?.json(), "sensors");
    only_03(&get("/api/zones")?.json(), "zones");
    let anomalies = get("/api/anomalies")?.json();
    assert!(
        anomalies
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| a["zone"] == "zone-03"),
        "{anomalies}"
    );
    let alerts = get("/api/alerts")?.json();
    assert!(
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| a["zone"] == "zone-03"),
        "{alerts}"
    );
    assert_eq!(get(&format!("/api/sensors/{s03}"))?.status, 200);
    for (path, status) in [
        (format!("/api/sensors/{s01}"), 404),
        (format!("/api/sensors/{s01}/history"), 404),
        ("/api/zones/zone-01".into(), 403),
        ("/api/anomalies?zone=zone-01".into(), 403),
        ("/api/alerts?zone=zone-01".into(), 403),
        ("/api/dead-letters".into(), 403),
    ] {
        let a = get(&path)?;
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
    let refused = call(
        address,
        "GET",
        "/ws?zone=zone-01",
        Some(&t.viewer),
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        "",
    )?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("forbidden_zone"), "{}", refused.body);

    // Over the WebSocket, with the token as a browser sends it (a protocol).
    let mut request = format!("ws://{address}/ws").into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("weir, bearer.{}", t.viewer).parse()?,
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await?;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("weir")
    );
    let mut zones_seen = std::collections::BTreeSet::new();
    let mut refusal = None;
    let mut messages = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut asked = false;
    while Instant::now() < deadline {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), socket.next()).await
        else {
            continue;
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let body: Value = serde_json::from_str(text.as_str())?;
        messages += 1;
        for list in ["sensors", "anomalies", "incidents", "alerts"] {
            for item in body[list].as_array().into_iter().flatten() {
                zones_seen.insert(item["zone"].as_str().unwrap_or("?").to_string());
            }
        }
        if body["type"] == "error" {
            refusal = Some(body.clone());
        }
        if !asked {
            asked = true;
            socket
                .send(Message::text(
                    json!({"type": "subscribe", "zones": ["zone-01", "zone-03"]}).to_string(),
                ))
                .await?;
        }
    }
    assert!(messages > 2, "only {messages} messages");
    assert_eq!(zones_seen.into_iter().collect::<Vec<_>>(), ["zone-03"]);
    let refusal = refusal.ok_or("no error for a subscription outside the zones")?;
    assert_eq!(refusal["error"], "forbidden_zone", "{refusal}");
    Ok(())
}

/// Cross-origin upgrades and `text/plain` POSTs are refused; so is a foreign Host.
async fn cross_site(address: &str, t: &Tokens) -> Result<(), Error> {
    let mut request = format!("ws://{address}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse()?);
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", t.reader).parse()?);
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => return Err(format!("a cross-origin upgrade was not refused: {other:?}").into()),
    }
    let mut request = format!("ws://{address}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("origin", format!("http://{address}").parse()?);
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", t.reader).parse()?);
    let (mut same, _) = tokio_tungstenite::connect_async(request).await?;
    same.close(None).await?;
    let plain = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[("Content-Type", "text/plain")],
        r#"{"zone":"zone-01","duration_ms":1000}"#,
    )?;
    assert_eq!(plain.status, 415, "{}", plain.body);
    let form = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        r#"{"zone":"zone-01","duration_ms":1000}"#,
    )?;
    assert_eq!(form.status, 403, "{}", form.body);
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET /api/me HTTP/1.1\r\nHost: rebound.evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n", t.reader).as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    Ok(())
}

/// A 100-year silence: 400 and no control record; an `author` is refused;
/// a second ack of an acknowledged alert writes nothing.
async fn control_bounds(
    fixture: &Fixture,
    address: &str,
    t: &Tokens,
    alert: &str,
) -> Result<(), Error> {
    let outside = Outside::new(&fixture.broker.address)?;
    let topic = fixture.topic("control");
    let before = control_records(&outside, &topic)?;
    let century = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[],
        &format!(
            r#"{{"zone":"zone-01","duration_ms":{}}}"#,
            100_i64 * 365 * 86_400_000
        ),
    )?;
    assert_eq!(century.status, 400, "{}", century.body);
    assert!(century.body.contains("max_silence_ms"), "{}", century.body);
    let typed = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[],
        r#"{"zone":"zone-01","duration_ms":1000,"author":"someone-else"}"#,
    )?;
    assert_eq!(typed.status, 400, "{}", typed.body);
    let nul = call(
        address,
        "POST",
        "/api/silences",
        Some(&t.ops),
        &[],
        r#"{"zone":"zone-01","duration_ms":1000,"comment":"a\u0000b"}"#,
    )?;
    assert_eq!(nul.status, 400, "{}", nul.body);
    assert_eq!(
        control_records(&outside, &topic)?,
        before,
        "a refused silence left a control record"
    );
    // The ack of the matrix above applies; a second one writes nothing.
    let path = format!("/api/alerts/{}", alert.replace(':', "%3A"));
    wait_for("the ack applied", 60, || {
        let a = call(address, "GET", &path, Some(&t.ops), &[], "")?.json();
        Ok((a["alert"]["acked_by"] == "ops").then_some(()))
    })?;
    let before = control_records(&outside, &topic)?;
    let again = call(
        address,
        "POST",
        &format!("{path}/ack"),
        Some(&t.ops),
        &[],
        "{}",
    )?;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["acked_by"], "ops", "{}", again.body);
    assert_eq!(
        control_records(&outside, &topic)?,
        before,
        "a second ack was written"
    );
    Ok(())
}

#[test]
fn a_non_loopback_bind_without_authentication_refuses_to_start() -> Result<(), Error> {
    let port = common::free_port()?;
    let output = common::run_weir(
        &["run", "-w", "1"],
        &[
            ("WEIR_SERVER__LISTEN".into(), format!("0.0.0.0:{port}")),
            ("WEIR_SERVER__AUTH__ENABLED".into(), "false".into()),
            ("WEIR_KAFKA__BROKERS".into(), common::brokers()),
        ],
    )?;
    let (_, stderr) = common::text(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("server.auth.enabled"), "{stderr}");
    Ok(())
}
