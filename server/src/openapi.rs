//! The OpenAPI 3 description of every route (`GET /api/openapi.json`).
//! A test checks it against [`crate::api::ROUTES`] both ways.

use serde_json::{Value, json};

use crate::alerts::MAX_TEXT_CHARS;
use crate::config::ServerConfig;
use crate::history;
use crate::params::{
    MAX_BODY_BYTES, MAX_NAME_CHARS, MAX_SENSOR_ID_CHARS, MAX_TIME_MS, MAX_ZONE_CHARS, MIN_TIME_MS,
    NO_CONTROL_PATTERN, SENSOR_ID_PATTERN,
};

/// Body text: no control character but tab and newline.
const BODY_TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn param(name: &str, location: &str, description: &str, schema: Value, required: bool) -> Value {
    json!({"name": name, "in": location, "description": description, "required": required, "schema": schema})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": reference(name)})
}

fn text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NO_CONTROL_PATTERN})
}

fn sensor_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_SENSOR_ID_CHARS, "pattern": SENSOR_ID_PATTERN})
}

fn time_ms(description: &str) -> Value {
    json!({"type": "integer", "format": "int64", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS,
           "description": format!("{description} Epoch milliseconds, years 1 to 9999.")})
}

fn limit() -> Value {
    param(
        "limit",
        "query",
        "Rows to return (default 100).",
        json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        false,
    )
}

fn text_response(description: &str, media: &str) -> Value {
    json!({"description": description, "content": {media: {"schema": {"type": "string"}}}})
}

/// The document, with the limits `config` sets.
pub fn document(config: &ServerConfig) -> Value {
    let bad = "Bad parameter: unknown, malformed, out of range, or holding a control character (named in `detail`)";
    let unavailable = || error_response("PostgreSQL unavailable");
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "weir",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live sensor state, history, anomalies and dead letters of a weir pipeline. Errors are {\"error\", \"detail\"} with a 4xx/5xx status; on the routes that take parameters, an unknown one is refused by name (400). A method a path does not serve is a 405 whose `Allow` lists those it does."
        },
        "paths": {
            "/": {"get": {"summary": "The live dashboard (HTML).", "responses": {"200": text_response("HTML page", "text/html")}}},
            "/app.js": {"get": {"summary": "The dashboard's script.", "responses": {"200": text_response("JavaScript", "text/javascript")}}},
            "/style.css": {"get": {"summary": "The dashboard's style sheet.", "responses": {"200": text_response("CSS", "text/css")}}},
            "/ws": {"get": {
                "summary": format!("WebSocket push: a `snapshot`, then `update`s coalesced per sensor (every {} ms). Send {{\"type\":\"subscribe\",\"zones\":[…]}} to change zones. Slow clients are closed with code 4001, silent ones with 1001. At most {} clients at once (`server.max_ws_clients`): past it the upgrade is refused with 503.", config.coalesce_ms, config.max_ws_clients),
                "parameters": [
                    param("zone", "query", "Zone to follow (repeatable; none = all zones).", text(MAX_ZONE_CHARS), false)
                ],
                "responses": {
                    "101": {"description": "Switching protocols"},
                    "400": error_response("Not a WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key` of 16 bytes in base64 are required), or a bad `zone`"),
                    "503": error_response("`server.max_ws_clients` clients are connected (`too_many_clients`; counted in weir_ws_refused_total)")
                }
            }},
            "/api/sensors": {"get": {"summary": "Every sensor's latest state.", "responses": {"200": json_response("Sensors", array_of("Sensor"))}}},
            "/api/sensors/{id}": {"get": {
                "summary": "One sensor's latest state.",
                "parameters": [param("id", "path", "Sensor id (what the decoder accepts).", sensor_id(), true)],
                "responses": {"200": json_response("Sensor", reference("Sensor")), "400": error_response("Not a sensor id"), "404": error_response("Unknown sensor")}
            }},
            "/api/sensors/{id}/history": {"get": {
                "summary": format!("A sensor's history. The source follows the range: the hot tier for recent ranges up to {} ms, raw readings up to {} ms, 5-minute then 1-hour windows beyond (or when asked). The response names its source. `from` must not be after `to`, `resolution=raw` is refused beyond {} ms, and a response holding more than {} points (`server.max_points`) is refused with `too_many_points`: these are 400s the parameters' schemas cannot state.", config.hot_max_range_ms, config.raw_max_range_ms, config.raw_max_range_ms, config.max_points),
                "parameters": [
                    param("id", "path", "Sensor id.", sensor_id(), true),
                    param("from", "query", "Range start (default: an hour before `to`).", time_ms("Range start."), false),
                    param("to", "query", "Range end (default: now).", time_ms("Range end."), false),
                    param("resolution", "query", "auto (default), raw (every reading; from the hot tier, the latest of each `server.hot_resolution_ms`) or a window size.", json!({"type": "string", "enum": history::requested_resolutions()}), false)
                ],
                "responses": {"200": json_response("Points", reference("History")), "400": error_response(&format!("{bad}; `from` after `to`; raw beyond its range; more than `max_points` points")), "404": error_response("Unknown sensor"), "503": unavailable()}
            }},
            "/api/zones": {"get": {"summary": "Zones with sensor counts, warnings, criticals and open incidents.", "responses": {"200": json_response("Zones", array_of("ZoneSummary"))}}},
            "/api/zones/{zone}": {"get": {
                "summary": "One zone: its sensors, recent anomalies and incidents.",
                "parameters": [param("zone", "path", "Zone.", text(MAX_ZONE_CHARS), true)],
                "responses": {"200": json_response("Zone", reference("Zone")), "400": error_response("Not a zone name"), "404": error_response("Unknown zone")}
            }},
            "/api/anomalies": {"get": {
                "summary": "Stored anomalies, newest first.",
                "parameters": [param("zone", "query", "Only this zone.", text(MAX_ZONE_CHARS), false), param("since", "query", "Event time from.", time_ms("Event time from."), false), limit()],
                "responses": {"200": json_response("Anomalies", array_of("Anomaly")), "400": error_response(bad), "503": unavailable()}
            }},
            "/api/dead-letters": {"get": {
                "summary": "Dead letters (rejected records with their reason), newest first.",
                "parameters": [param("reason", "query", "Only this reason (malformed_json, out_of_range, too_late, …).", text(MAX_NAME_CHARS), false), param("since", "query", "Record time from.", time_ms("Record time from."), false), limit()],
                "responses": {"200": json_response("Dead letters", array_of("DeadLetter")), "400": error_response(bad), "503": unavailable()}
            }},
            "/api/openapi.json": {"get": {"summary": "This document.", "responses": {"200": json_response("OpenAPI 3 document", json!({"type": "object"}))}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format).", "responses": {"200": text_response("Prometheus text exposition", "text/plain")}}},
            "/health": {"get": {"summary": "Health: ok (200) when the broker and PostgreSQL answer, offsets become durable while records are read, and the outbox drains; degraded or unavailable (503) with the reasons otherwise.", "responses": {"200": json_response("Ok", reference("Health")), "503": json_response("Degraded or unavailable", reference("Health"))}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
            "Window": {"type": "object", "properties": {"start": {"type": "integer"}, "count": {"type": "integer"}, "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}}},
            "Sensor": {"type": "object", "required": ["sensor_id", "zone"], "properties": {
                "sensor_id": {"type": "string"}, "zone": {"type": "string"}, "kind": {"type": "string", "nullable": true}, "unit": {"type": "string", "nullable": true},
                "ts": {"type": "integer", "nullable": true}, "value": {"type": "number", "nullable": true}, "mean": {"type": "number", "nullable": true},
                "stddev": {"type": "number", "nullable": true}, "severity": {"type": "string", "enum": ["warning", "critical"], "nullable": true},
                "window_5m": {"allOf": [reference("Window")], "nullable": true}, "window_1h": {"allOf": [reference("Window")], "nullable": true},
                "ingest_ts": {"type": "integer", "nullable": true, "description": "When the latest reading entered Kafka (ms)"}}},
            "Anomaly": {"type": "object", "properties": {"sensor_id": {"type": "string"}, "zone": {"type": "string"}, "ts": {"type": "integer"}, "value": {"type": "number"},
                "z": {"type": "number", "nullable": true}, "severity": {"type": "string"}, "threshold_kind": {"type": "string", "nullable": true}, "threshold": {"type": "number", "nullable": true}}},
            "Incident": {"type": "object", "properties": {"zone": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}, "peak_sensors": {"type": "integer"}, "sensors": {"type": "array", "items": {"type": "string"}}, "open": {"type": "boolean"}}},
            "ZoneSummary": {"type": "object", "properties": {"zone": {"type": "string"}, "sensors": {"type": "integer"}, "warning": {"type": "integer"}, "critical": {"type": "integer"}, "open_incident": {"type": "boolean"}}},
            "Zone": {"type": "object", "properties": {"zone": {"type": "string"}, "sensors": array_of("Sensor"), "anomalies": array_of("Anomaly"), "incidents": array_of("Incident")}},
            "History": {"type": "object", "properties": {"sensor_id": {"type": "string"}, "source": {"type": "string", "enum": history::sources()},
                "resolution": {"type": "string", "enum": history::answered_resolutions()}, "from": {"type": "integer"}, "to": {"type": "integer"},
                "points": {"type": "array", "items": {"type": "object", "properties": {"t": {"type": "integer"}, "value": {"type": "number"}, "count": {"type": "integer"}, "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}}}}}},
            "DeadLetter": {"type": "object", "properties": {"partition": {"type": "integer"}, "offset": {"type": "integer"}, "reason": {"type": "string"}, "key": {"type": "string"}, "detail": {"type": "string"}, "record_ts": {"type": "integer"}, "payload": {"type": "string"}, "payload_bytes": {"type": "integer"}}},
            "Health": {"type": "object", "properties": {"status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]}, "broker": {"type": "string"}, "database": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}}, "last_commit_age_seconds": {"type": "number", "nullable": true}, "outbox": {"type": "object", "additionalProperties": {"type": "object", "properties": {"waiting": {"type": "integer"}, "oldest_seconds": {"type": "number"}}}}, "websocket_clients": {"type": "integer"}, "heartbeat": {"type": "object", "nullable": true, "description": "the outside weir heartbeat's latest /health (server.heartbeat_url), or {status: unreachable, error}"}}}
        }}
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), alert_paths(config))
    {
        paths.extend(more);
    }
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), admin_paths()) {
        paths.extend(more);
    }
    sensor_registry(&mut doc);
    sensor_kinds(&mut doc);
    if let (Some(schemas), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        alert_schemas(config),
    ) {
        schemas.extend(more);
    }
    secure(&mut doc, config);
    doc
}

/// Changing sensors (`PUT`/`DELETE /api/sensors/{id}`) and their versions.
fn sensor_registry(doc: &mut Value) {
    let id = param("id", "path", "Sensor id.", sensor_id(), true);
    let bad_body = "Bad body: not a JSON object, an unknown field, a field missing, mistyped, out of range or holding a control character; thresholds out of order (crit_low <= warn_low < warn_high <= crit_high), a valid range not min < max or outside the kind's physical range; zone over 64 or location over 256 bytes (named in `detail`: 400s the schema cannot all state)";
    let unavailable = error_response("Kafka or PostgreSQL unavailable");
    let path = &mut doc["paths"]["/api/sensors/{id}"];
    path["put"] = json!({
        "summary": "Create or change a sensor from `valid_from_ms` (default now) on: a record on the registry topic, which the pipeline applies as-of, mirrors into `sensors` and keeps in `sensor_versions`. Omitted fields take the kind's defaults (unit, physical range). Audited as sensor.put.",
        "parameters": [id.clone()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": reference("SensorRequest")}}},
        "responses": {"202": json_response("Written to the registry topic", json!({"type": "object", "properties": {"accepted": {"type": "boolean"}, "sensor": {"type": "object"}}})), "400": error_response(bad_body), "404": error_response("A sensor in a zone outside the token's zones"), "411": error_response("No Content-Length"), "413": error_response(&format!("Body over {MAX_BODY_BYTES} bytes")), "503": unavailable.clone()}
    });
    path["delete"] = json!({
        "summary": "Remove a sensor from now on (a tombstone on the registry topic); its stored readings stay. Audited as sensor.delete.",
        "parameters": [id.clone()],
        "responses": {"202": json_response("Written to the registry topic", json!({"type": "object"})), "400": error_response("Not a sensor id"), "404": error_response("Unknown sensor"), "503": unavailable.clone()}
    });
    doc["paths"]["/api/sensors/{id}/versions"] = json!({"get": {
        "summary": "Every version of a sensor the pipeline has read, by valid_from_ms (a removal has `removed` and no sensor).",
        "parameters": [id],
        "responses": {"200": json_response("Versions", array_of("SensorVersion")), "400": error_response("Not a sensor id"), "404": error_response("No versions (in the token's zones)"), "503": error_response("PostgreSQL unavailable")}
    }});
    let number = json!({"type": "number", "nullable": true});
    doc["components"]["schemas"]["SensorRequest"] = json!({"type": "object", "additionalProperties": false, "required": ["kind", "zone"], "properties": {
        "sensor_id": sensor_id(),
        "kind": kind_name(),
        "zone": text(64),
        "location": {"type": "string", "maxLength": 256, "pattern": NO_CONTROL_PATTERN, "nullable": true},
        "unit": {"type": "string", "maxLength": 32, "pattern": NO_CONTROL_PATTERN, "nullable": true},
        "thresholds": {"type": "object", "nullable": true, "additionalProperties": false, "properties": {"warn_high": number, "crit_high": number, "warn_low": number, "crit_low": number}},
        "valid_range": {"type": "object", "nullable": true, "additionalProperties": false, "required": ["min", "max"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
        "valid_from_ms": {"type": "integer", "format": "int64", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS, "nullable": true},
        "expected_interval_ms": {"type": "integer", "format": "int64", "minimum": 1, "maximum": weir_dataflow::model::MAX_EXPECTED_INTERVAL_MS, "nullable": true}
    }});
    doc["components"]["schemas"]["SensorVersion"] = json!({"type": "object", "properties": {
        "valid_from_ms": {"type": "integer"}, "record_ms": {"type": "integer"}, "removed": {"type": "boolean"},
        "sensor": {"type": "object", "nullable": true}, "stored_ms": {"type": "integer"}
    }});
}

/// A kind's name.
fn kind_name() -> Value {
    json!({"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "minLength": 1, "maxLength": weir_dataflow::model::MAX_KIND_BYTES})
}

/// `POST /api/sensors/import` and the kinds (`/api/kinds…`).
fn sensor_kinds(doc: &mut Value) {
    let unavailable = error_response("Kafka or PostgreSQL unavailable");
    let number = json!({"type": "number"});
    // The CSV's rows as objects: schemathesis writes them with a serializer
    // of its hooks (scripts/api_fuzz/hooks.py).
    let row = json!({"type": "object", "required": ["sensor_id", "kind", "zone"], "additionalProperties": false, "properties": {
        "sensor_id": sensor_id(), "kind": kind_name(), "zone": text(64),
        "location": json!({"type": "string", "maxLength": 256, "pattern": NO_CONTROL_PATTERN}),
        "unit": json!({"type": "string", "maxLength": 32, "pattern": NO_CONTROL_PATTERN}),
        "warn_low": number.clone(), "warn_high": number.clone(), "crit_low": number.clone(), "crit_high": number.clone(),
        "valid_min": number.clone(), "valid_max": number.clone(),
        "valid_from_ms": {"type": "integer", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS},
        "expected_interval_ms": {"type": "integer", "minimum": 1, "maximum": weir_dataflow::model::MAX_EXPECTED_INTERVAL_MS}
    }});
    let errors = json!({"type": "array", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "sensor_id": {"type": "string", "nullable": true}, "reason": {"type": "string"}}}});
    doc["paths"]["/api/sensors/import"] = json!({"post": {
        "summary": "Create or change many sensors from a CSV file (RFC 4180, a header row naming the columns; only sensor_id, kind and zone are needed; an empty cell takes the kind's default). Every row is checked as a PUT body is, and must be in the token's zones. With any bad row nothing is written (400 listing each by line and reason) unless `partial=true`, which writes the good rows and lists the bad. Audited as sensor.put per sensor.",
        "parameters": [param("partial", "query", "Write the good rows even when some are bad.", json!({"type": "boolean"}), false)],
        "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "array", "items": row}}}},
        "responses": {
            "202": json_response("Written to the registry topic", json!({"type": "object", "properties": {"imported": {"type": "integer"}, "sensors": {"type": "array", "items": {"type": "string"}}, "errors": errors}})),
            "400": json_response("A bad file (no header, an unknown column, an unclosed quote, not UTF-8), or bad rows without `partial` (each in `errors`: line and reason; nothing written)", json!({"type": "object"})),
            "411": error_response("No Content-Length"),
            "413": error_response(&format!("Body over {} bytes", crate::auth::web::MAX_CSV_BYTES)),
            "503": unavailable.clone()
        }
    }});
    let name = param("name", "path", "Kind name.", kind_name(), true);
    let bad_kind = "Bad body: not a JSON object, an unknown field, no valid_range, a range not min < max, thresholds out of order (crit_low <= warn_low < warn_high <= crit_high), a unit over 32 bytes or a description over 256 characters or with a control character";
    doc["paths"]["/api/kinds"] = json!({"get": {
        "summary": "Every sensor kind: the built-in ones (temperature, carbon_monoxide, airflow, voltage, heartbeat) and those defined with PUT /api/kinds/{name}.",
        "responses": {"200": json_response("Kinds", array_of("Kind")), "503": error_response("PostgreSQL unavailable")}
    }});
    doc["paths"]["/api/kinds/{name}"] = json!({
        "get": {
            "summary": "One sensor kind.",
            "parameters": [name.clone()],
            "responses": {"200": json_response("The kind", reference("Kind")), "400": error_response("Not a kind name"), "404": error_response("No such kind"), "503": error_response("PostgreSQL unavailable")}
        },
        "put": {
            "summary": "Define or change a sensor kind: the defaults (unit, valid range, thresholds, expected interval) a sensor of it takes for the fields its own record leaves out, when it is put. Existing sensors keep theirs; the pipeline needs no restart for a new kind. Built-in kinds cannot be changed (409). Audited as kind.put.",
            "parameters": [name.clone()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference("KindRequest")}}},
            "responses": {"200": json_response("Changed", reference("Kind")), "201": json_response("Created", reference("Kind")), "400": error_response(bad_kind), "409": error_response("A built-in kind"), "411": error_response("No Content-Length"), "413": error_response(&format!("Body over {MAX_BODY_BYTES} bytes")), "503": error_response("PostgreSQL unavailable")}
        },
        "delete": {
            "summary": "Remove a kind no current sensor has. Audited as kind.delete.",
            "parameters": [name],
            "responses": {"200": json_response("Removed", json!({"type": "object"})), "400": error_response("Not a kind name"), "404": error_response("No such kind"), "409": error_response("A built-in kind, or one that sensors have (named)"), "503": error_response("PostgreSQL unavailable")}
        }
    });
    let optional = json!({"type": "number", "nullable": true});
    doc["components"]["schemas"]["KindRequest"] = json!({"type": "object", "additionalProperties": false, "required": ["valid_range"], "properties": {
        "unit": {"type": "string", "maxLength": 32, "pattern": NO_CONTROL_PATTERN, "nullable": true},
        "valid_range": {"type": "object", "additionalProperties": false, "required": ["min", "max"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
        "thresholds": {"type": "object", "nullable": true, "additionalProperties": false, "properties": {"warn_high": optional, "crit_high": optional, "warn_low": optional, "crit_low": optional}},
        "expected_interval_ms": {"type": "integer", "format": "int64", "minimum": 1, "maximum": weir_dataflow::model::MAX_EXPECTED_INTERVAL_MS, "nullable": true},
        "description": {"type": "string", "maxLength": crate::sensors::kinds::MAX_DESCRIPTION_CHARS, "pattern": NO_CONTROL_PATTERN, "nullable": true}
    }});
    doc["components"]["schemas"]["Kind"] = json!({"type": "object", "required": ["kind", "unit", "valid_range", "built_in"], "properties": {
        "kind": {"type": "string"}, "unit": {"type": "string"},
        "valid_range": {"type": "object", "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
        "thresholds": {"type": "object"}, "expected_interval_ms": {"type": "integer", "nullable": true},
        "description": {"type": "string"}, "built_in": {"type": "boolean"}
    }});
}

/// Who may call what: the bearer scheme, each operation's role, and the
/// answers every route may give before its handler runs (421 for a foreign
/// `Host`; with authentication, 401 and 403; 403 for a foreign `Origin`
/// and 415 for a body that is not JSON on state changes).
fn secure(doc: &mut Value, config: &ServerConfig) {
    let auth = &config.auth;
    if auth.enabled {
        doc["components"]["securitySchemes"] = json!({"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "An API token (`weir token create`, or POST /api/tokens as an admin). Browsers' WebSocket: the protocols `weir` and `bearer.<token>`."
        }});
    }
    for (method, path) in crate::api::ROUTES {
        let op = &mut doc["paths"][*path][method.to_lowercase()];
        let Some(op) = op.as_object_mut() else {
            continue;
        };
        let role = crate::api::role_of(method, path);
        let open = match *path {
            "/metrics" => auth.metrics_open,
            "/health" => auth.health_open,
            _ => role.is_none(),
        };
        let mut extra = vec![(
            "421",
            error_response("`Host` names a host not in server.auth.allowed_hosts"),
        )];
        if auth.enabled && !open {
            let role = role.unwrap_or(crate::auth::Role::Viewer);
            op.insert("security".into(), json!([{"bearer": []}]));
            op.insert("x-weir-role".into(), json!(role.name()));
            extra.push((
                "401",
                error_response("No token, or one that is unknown, revoked or expired"),
            ));
            extra.push(("403", error_response(&format!(
                "The token's role is below {} (`forbidden`), a zone outside the token's zones (`forbidden_zone`), or a page of another origin (`cross_origin`)",
                role.name()
            ))));
        } else if *method != "GET" || *path == "/ws" {
            extra.push((
                "403",
                error_response("A page of another origin (`cross_origin`)"),
            ));
        }
        if matches!(*method, "POST" | "PUT") {
            let wanted = if *path == "/api/sensors/import" {
                "text/csv"
            } else {
                "application/json"
            };
            extra.push((
                "415",
                error_response(&format!("`Content-Type` is not {wanted}")),
            ));
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (code, response) in extra {
                responses.entry(code).or_insert(response);
            }
        }
    }
}

fn admin_paths() -> Value {
    let unavailable = || error_response("PostgreSQL unavailable");
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": reference(schema)}}});
    json!({
        "/api/me": {"get": {
            "summary": "The token's name, role and zones (what the dashboard shows and allows).",
            "responses": {"200": json_response("Principal", reference("Principal"))}
        }},
        "/api/tokens": {
            "get": {
                "summary": "API tokens, newest first (never their secrets).",
                "parameters": [param("all", "query", "Revoked tokens too.", json!({"type": "boolean"}), false)],
                "responses": {"200": json_response("Tokens", array_of("TokenInfo")), "400": error_response("Bad parameter"), "503": unavailable()}
            },
            "post": {
                "summary": "Create a token. The answer holds it this once; only its hash is stored. An expiry that is not in the future is a 400 the schema cannot state.",
                "requestBody": body("TokenRequest"),
                "responses": {"201": json_response("Created", json!({"type": "object", "properties": {"token": {"type": "string"}, "info": reference("TokenInfo")}})),
                    "400": error_response("Bad body (named in `detail`)"), "409": error_response("An active token has this name"),
                    "411": error_response("No Content-Length"), "413": error_response("Body too large"), "503": unavailable()}
            }
        },
        "/api/tokens/{id}": {"delete": {
            "summary": "Revoke a token: it stops working at once on this server (within server.auth.refresh_ms on others).",
            "parameters": [param("id", "path", "Token id.", text(MAX_NAME_CHARS), true)],
            "responses": {"200": json_response("The revoked token", reference("TokenInfo")), "400": error_response("Not a token id"), "404": error_response("No active token with this id"), "409": error_response("The token revoking is this one (`own_token`)"), "503": unavailable()}
        }},
        "/api/audit": {"get": {
            "summary": "The audit log, newest first: acknowledgements, silences, token and sensor changes.",
            "parameters": [
                param("since", "query", "From this time.", time_ms("From."), false),
                param("actor", "query", "Only this actor (a token name, or cli:<user>).", text(MAX_NAME_CHARS), false),
                param("action", "query", "Only this action (alert.ack, silence.create, silence.end, silence.rollback, token.create, token.revoke, sensor.put, sensor.delete).", text(MAX_NAME_CHARS), false),
                limit()
            ],
            "responses": {"200": json_response("Audit records", array_of("AuditRecord")), "400": error_response("Bad parameter"), "503": unavailable()}
        }}
    })
}

fn alert_paths(config: &ServerConfig) -> Value {
    let id = param(
        "id",
        "path",
        "Alert id (`sensor:kind:fired_ms` or `zone:<zone>:fired_ms`; percent-encode it).",
        text(MAX_NAME_CHARS),
        true,
    );
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": reference(schema)}}});
    let bad = "Bad parameter: unknown, malformed, out of range, or holding a control character (named in `detail`)";
    let bad_body = "Bad body: not a JSON object, a field missing, mistyped, out of range or holding a control character (named in `detail`)";
    let too_large = error_response(&format!("Body over {MAX_BODY_BYTES} bytes"));
    let length_required = error_response("No Content-Length");
    let unavailable = || error_response("PostgreSQL unavailable");
    json!({
        "/api/alerts": {"get": {
            "summary": "Alerts, newest first.",
            "parameters": [
                param("state", "query", "open or resolved.", json!({"type": "string", "enum": ["open", "resolved"]}), false),
                param("zone", "query", "Only this zone.", text(MAX_ZONE_CHARS), false),
                limit()
            ],
            "responses": {"200": json_response("Alerts", array_of("Alert")), "400": error_response(bad), "503": unavailable()}
        }},
        "/api/alerts/{id}": {"get": {
            "summary": "One alert, its lifecycle events and their deliveries per channel.",
            "parameters": [id.clone()],
            "responses": {"200": json_response("Alert and events", json!({"type": "object", "properties": {"alert": reference("Alert"), "events": {"type": "array", "items": {"type": "object"}}}})), "400": error_response("Not an alert id"), "404": error_response("Unknown alert"), "503": unavailable()}
        }},
        "/api/alerts/{id}/ack": {"post": {
            "summary": "Acknowledge an open alert: it escalates no further. Applied by the pipeline (through the alert-control topic) about a second later.",
            "parameters": [id],
            "requestBody": body("AckRequest"),
            "responses": {"202": json_response("Accepted", json!({"type": "object"})), "200": json_response("Acknowledged already: nothing written", json!({"type": "object"})), "400": error_response(bad_body), "404": error_response("Unknown alert"), "409": error_response("Alert not open"), "411": length_required.clone(), "413": too_large.clone(), "503": error_response("Kafka or PostgreSQL unavailable")}
        }},
        "/api/silences": {
            "get": {
                "summary": "Silences, latest start first.",
                "parameters": [
                    param("active", "query", "Only silences that have (not) ended.", json!({"type": "boolean"}), false),
                    limit()
                ],
                "responses": {"200": json_response("Silences", array_of("Silence")), "400": error_response(bad), "503": unavailable()}
            },
            "post": {
                "summary": format!("Create a silence: matching alerts (sensor, zone and/or kind; event time in [starts, ends)) are recorded, not delivered. Its end must be after its start and in the future, and it may last at most {} ms (`server.max_silence_ms`): 400s the body's schema cannot state.", config.max_silence_ms),
                "requestBody": body("SilenceRequest"),
                "responses": {"201": json_response("Created", reference("Silence")), "400": error_response(&format!("{bad_body}; the end not after the start, in the past, or more than max_silence_ms after it")), "411": length_required, "413": too_large, "503": error_response("Kafka or PostgreSQL unavailable")}
            }
        },
        "/api/silences/{id}": {"delete": {
            "summary": "End a silence now.",
            "parameters": [param("id", "path", "Silence id.", text(MAX_NAME_CHARS), true)],
            "responses": {"200": json_response("The silence as ended", reference("Silence")), "400": error_response("Not a silence id"), "404": error_response("Unknown silence"), "503": error_response("Kafka or PostgreSQL unavailable")}
        }}
    })
}

fn alert_schemas(config: &ServerConfig) -> Value {
    let ms = json!({"type": "integer", "format": "int64"});
    let body_text = |nullable: bool| json!({"type": "string", "maxLength": MAX_TEXT_CHARS, "pattern": BODY_TEXT_PATTERN, "nullable": nullable});
    let time = json!({"nullable": true, "oneOf": [
        {"type": "integer", "format": "int64", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS},
        {"type": "string", "format": "date-time"}
    ], "description": "epoch milliseconds (years 1 to 9999) or RFC 3339"});
    json!({
        "Alert": {"type": "object", "properties": {
            "alert_id": {"type": "string"}, "scope": {"type": "string", "enum": ["sensor", "zone"]}, "sensor_id": {"type": "string", "nullable": true},
            "zone": {"type": "string"}, "kind": {"type": "string", "enum": ["zscore", "threshold_high", "threshold_low", "zone", "silent"]},
            "state": {"type": "string", "enum": ["open", "resolved"]}, "level": {"type": "string", "enum": ["notify", "page"]},
            "severity": {"type": "string", "enum": ["warning", "critical"]}, "status": {"type": "string", "enum": ["active", "silenced", "inhibited", "grouped"]},
            "fired_ms": ms.clone(), "updated_ms": ms.clone(), "resolved_ms": {"type": "integer", "nullable": true}, "occurrences": {"type": "integer"},
            "value": {"type": "number", "nullable": true}, "acked_by": {"type": "string", "nullable": true},
            "members": {"type": "array", "items": {"type": "string"}}, "group_id": {"type": "string", "nullable": true}, "silence_id": {"type": "string", "nullable": true}}},
        "AckRequest": {"type": "object", "additionalProperties": false,
            "description": "The author is the token's name.",
            "properties": {"comment": body_text(true)}},
        "SilenceRequest": {"type": "object", "additionalProperties": false,
            "description": "At least one matcher (sensor_id, zone, kind); `ends` or `duration_ms`, not both.",
            "allOf": [
                {"anyOf": [{"required": ["sensor_id"]}, {"required": ["zone"]}, {"required": ["kind"]}]},
                {"oneOf": [{"required": ["ends"]}, {"required": ["duration_ms"]}]}
            ],
            "properties": {
                "sensor_id": body_text(true), "zone": body_text(true),
                "kind": {"type": "string", "enum": ["zscore", "threshold_high", "threshold_low", "zone", "silent", null], "nullable": true},
                "starts": time.clone(), "ends": time,
                "duration_ms": {"type": "integer", "format": "int64", "minimum": 1, "maximum": config.max_silence_ms},
                "comment": body_text(true)}},
        "Principal": {"type": "object", "properties": {
            "token_id": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
            "zones": {"type": "array", "items": {"type": "string"}, "nullable": true}}},
        "TokenInfo": {"type": "object", "properties": {
            "token_id": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
            "zones": {"type": "array", "items": {"type": "string"}, "nullable": true}, "created_ms": ms.clone(), "created_by": {"type": "string"},
            "expires_ms": {"type": "integer", "nullable": true}, "revoked_ms": {"type": "integer", "nullable": true}}},
        "TokenRequest": {"type": "object", "required": ["name", "role"], "additionalProperties": false,
            "not": {"required": ["expires", "expires_in_ms"]},
            "description": "Expires in 90 days unless `expires` (null: never) or `expires_in_ms` says otherwise; an admin token has no zones.",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": crate::auth::store::MAX_TOKEN_NAME, "pattern": "^[A-Za-z0-9._@-]+$"},
                "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
                "zones": {"type": "array", "minItems": 1, "items": text(MAX_ZONE_CHARS), "nullable": true},
                "expires": {"nullable": true, "oneOf": [{"type": "integer", "format": "int64"}, {"type": "string", "format": "date-time"}]},
                "expires_in_ms": {"type": "integer", "format": "int64", "minimum": 1}}},
        "AuditRecord": {"type": "object", "properties": {
            "id": {"type": "integer"}, "ts": ms.clone(), "actor": {"type": "string"}, "token_id": {"type": "string"}, "role": {"type": "string"},
            "action": {"type": "string"}, "target": {"type": "string"}, "detail": {"type": "object"}}},
        "Silence": {"type": "object", "properties": {
            "id": {"type": "string"}, "sensor_id": {"type": "string", "nullable": true}, "zone": {"type": "string", "nullable": true},
            "kind": {"type": "string", "nullable": true}, "starts_ms": ms.clone(), "ends_ms": ms, "author": {"type": "string"}, "comment": {"type": "string"}}}
    })
}
