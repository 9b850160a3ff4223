//! The OpenAPI 3 description of every route (`GET /api/openapi.json`).
//! A test checks it against [`crate::api::ROUTES`] both ways.

use serde_json::{Value, json};

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

/// The document.
pub fn document() -> Value {
    let ms = json!({"type": "integer", "format": "int64", "description": "epoch milliseconds"});
    let limit = param(
        "limit",
        "query",
        "Rows to return (1–1000, default 100).",
        json!({"type": "integer"}),
        false,
    );
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "weir",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live sensor state, history, anomalies and dead letters of a weir pipeline. Errors are {\"error\", \"detail\"} with a 4xx/5xx status."
        },
        "paths": {
            "/": {"get": {"summary": "The live dashboard (HTML).", "responses": {"200": {"description": "HTML page"}}}},
            "/app.js": {"get": {"summary": "The dashboard's script.", "responses": {"200": {"description": "JavaScript"}}}},
            "/style.css": {"get": {"summary": "The dashboard's style sheet.", "responses": {"200": {"description": "CSS"}}}},
            "/ws": {"get": {
                "summary": "WebSocket push: a `snapshot`, then `update`s coalesced per sensor (every 250 ms by default). Send {\"type\":\"subscribe\",\"zones\":[…]} to change zones. Slow clients are closed with code 4001.",
                "parameters": [param("zone", "query", "Zone to follow (repeatable; none = all zones).", json!({"type": "string"}), false)],
                "responses": {"101": {"description": "Switching protocols"}}
            }},
            "/api/sensors": {"get": {"summary": "Every sensor's latest state.", "responses": {"200": json_response("Sensors", array_of("Sensor"))}}},
            "/api/sensors/{id}": {"get": {
                "summary": "One sensor's latest state.",
                "parameters": [param("id", "path", "Sensor id.", json!({"type": "string"}), true)],
                "responses": {"200": json_response("Sensor", reference("Sensor")), "404": error_response("Unknown sensor")}
            }},
            "/api/sensors/{id}/history": {"get": {
                "summary": "A sensor's history. The source follows the range: the hot tier for recent ranges up to 1 h, raw readings up to 7 days, 5-minute then 1-hour windows beyond (or when asked). The response names its source.",
                "parameters": [
                    param("id", "path", "Sensor id.", json!({"type": "string"}), true),
                    param("from", "query", "Range start (default: an hour before `to`).", ms.clone(), false),
                    param("to", "query", "Range end (default: now).", ms.clone(), false),
                    param("resolution", "query", "raw, 5m, 1h or auto (default).", json!({"type": "string", "enum": ["auto", "raw", "5m", "1h"]}), false)
                ],
                "responses": {"200": json_response("Points", reference("History")), "400": error_response("Bad parameter, or more points than the limit"), "404": error_response("Unknown sensor"), "503": error_response("Database unavailable")}
            }},
            "/api/zones": {"get": {"summary": "Zones with sensor counts, warnings, criticals and open incidents.", "responses": {"200": json_response("Zones", array_of("ZoneSummary"))}}},
            "/api/zones/{zone}": {"get": {
                "summary": "One zone: its sensors, recent anomalies and incidents.",
                "parameters": [param("zone", "path", "Zone.", json!({"type": "string"}), true)],
                "responses": {"200": json_response("Zone", reference("Zone")), "404": error_response("Unknown zone")}
            }},
            "/api/anomalies": {"get": {
                "summary": "Stored anomalies, newest first.",
                "parameters": [param("zone", "query", "Only this zone.", json!({"type": "string"}), false), param("since", "query", "Event time from.", ms.clone(), false), limit.clone()],
                "responses": {"200": json_response("Anomalies", array_of("Anomaly")), "400": error_response("Bad parameter"), "503": error_response("Database unavailable")}
            }},
            "/api/dead-letters": {"get": {
                "summary": "Dead letters (rejected records with their reason), newest first.",
                "parameters": [param("reason", "query", "Only this reason (malformed_json, out_of_range, too_late, …).", json!({"type": "string"}), false), param("since", "query", "Record time from.", ms, false), limit],
                "responses": {"200": json_response("Dead letters", array_of("DeadLetter")), "400": error_response("Bad parameter"), "503": error_response("Database unavailable")}
            }},
            "/api/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3 document"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format).", "responses": {"200": {"description": "Prometheus text exposition"}}}},
            "/health": {"get": {"summary": "Readiness: broker and database reachable.", "responses": {"200": json_response("Ready", reference("Health")), "503": json_response("Not ready", reference("Health"))}}}
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
            "History": {"type": "object", "properties": {"sensor_id": {"type": "string"}, "source": {"type": "string", "enum": ["hot", "readings", "sensor_5m", "sensor_1h"]},
                "resolution": {"type": "string", "enum": ["raw", "5m", "1h"]}, "from": {"type": "integer"}, "to": {"type": "integer"},
                "points": {"type": "array", "items": {"type": "object", "properties": {"t": {"type": "integer"}, "value": {"type": "number"}, "count": {"type": "integer"}, "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"}}}}}},
            "DeadLetter": {"type": "object", "properties": {"partition": {"type": "integer"}, "offset": {"type": "integer"}, "reason": {"type": "string"}, "key": {"type": "string"}, "detail": {"type": "string"}, "record_ts": {"type": "integer"}, "payload": {"type": "string"}, "payload_bytes": {"type": "integer"}}},
            "Health": {"type": "object", "properties": {"status": {"type": "string"}, "broker": {"type": "string"}, "database": {"type": "string"}, "websocket_clients": {"type": "integer"}}}
        }}
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), alert_paths()) {
        paths.extend(more);
    }
    if let (Some(schemas), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        alert_schemas(),
    ) {
        schemas.extend(more);
    }
    doc
}

fn alert_paths() -> Value {
    let id = param(
        "id",
        "path",
        "Alert id (`sensor:kind:fired_ms` or `zone:<zone>:fired_ms`; percent-encode it).",
        json!({"type": "string"}),
        true,
    );
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": reference(schema)}}});
    json!({
        "/api/alerts": {"get": {
            "summary": "Alerts, newest first.",
            "parameters": [
                param("state", "query", "open or resolved.", json!({"type": "string", "enum": ["open", "resolved"]}), false),
                param("zone", "query", "Only this zone.", json!({"type": "string"}), false),
                param("limit", "query", "Rows to return (1–1000, default 100).", json!({"type": "integer"}), false)
            ],
            "responses": {"200": json_response("Alerts", array_of("Alert")), "400": error_response("Bad parameter"), "503": error_response("Database unavailable")}
        }},
        "/api/alerts/{id}": {"get": {
            "summary": "One alert, its lifecycle events and their deliveries per channel.",
            "parameters": [id.clone()],
            "responses": {"200": json_response("Alert and events", json!({"type": "object", "properties": {"alert": reference("Alert"), "events": {"type": "array", "items": {"type": "object"}}}})), "404": error_response("Unknown alert")}
        }},
        "/api/alerts/{id}/ack": {"post": {
            "summary": "Acknowledge an open alert: it escalates no further. Applied by the pipeline (through the alert-control topic) about a second later.",
            "parameters": [id],
            "requestBody": body("AckRequest"),
            "responses": {"202": json_response("Accepted", json!({"type": "object"})), "400": error_response("Bad body"), "404": error_response("Unknown alert"), "409": error_response("Alert not open"), "503": error_response("Kafka or database unavailable")}
        }},
        "/api/silences": {
            "get": {
                "summary": "Silences, latest start first.",
                "parameters": [
                    param("active", "query", "Only silences that have (not) ended.", json!({"type": "boolean"}), false),
                    param("limit", "query", "Rows to return (1–1000, default 100).", json!({"type": "integer"}), false)
                ],
                "responses": {"200": json_response("Silences", array_of("Silence")), "400": error_response("Bad parameter")}
            },
            "post": {
                "summary": "Create a silence: matching alerts (sensor, zone and/or kind; event time in [starts, ends)) are recorded, not delivered.",
                "requestBody": body("SilenceRequest"),
                "responses": {"201": json_response("Created", reference("Silence")), "400": error_response("Bad body"), "503": error_response("Kafka or database unavailable")}
            }
        },
        "/api/silences/{id}": {"delete": {
            "summary": "End a silence now.",
            "parameters": [param("id", "path", "Silence id.", json!({"type": "string"}), true)],
            "responses": {"200": json_response("The silence as ended", reference("Silence")), "404": error_response("Unknown silence")}
        }}
    })
}

fn alert_schemas() -> Value {
    let ms = json!({"type": "integer", "format": "int64"});
    json!({
        "Alert": {"type": "object", "properties": {
            "alert_id": {"type": "string"}, "scope": {"type": "string", "enum": ["sensor", "zone"]}, "sensor_id": {"type": "string", "nullable": true},
            "zone": {"type": "string"}, "kind": {"type": "string", "enum": ["zscore", "threshold_high", "threshold_low", "zone"]},
            "state": {"type": "string", "enum": ["open", "resolved"]}, "level": {"type": "string", "enum": ["notify", "page"]},
            "severity": {"type": "string", "enum": ["warning", "critical"]}, "status": {"type": "string", "enum": ["active", "silenced", "inhibited", "grouped"]},
            "fired_ms": ms.clone(), "updated_ms": ms.clone(), "resolved_ms": {"type": "integer", "nullable": true}, "occurrences": {"type": "integer"},
            "value": {"type": "number", "nullable": true}, "acked_by": {"type": "string", "nullable": true},
            "members": {"type": "array", "items": {"type": "string"}}, "group_id": {"type": "string", "nullable": true}, "silence_id": {"type": "string", "nullable": true}}},
        "AckRequest": {"type": "object", "required": ["author"], "properties": {"author": {"type": "string"}, "comment": {"type": "string"}}},
        "SilenceRequest": {"type": "object", "required": ["author"], "properties": {
            "sensor_id": {"type": "string"}, "zone": {"type": "string"}, "kind": {"type": "string"},
            "starts": {"description": "epoch ms or RFC 3339 (default now)"}, "ends": {"description": "epoch ms or RFC 3339"},
            "duration_ms": {"type": "integer"}, "author": {"type": "string"}, "comment": {"type": "string"}}},
        "Silence": {"type": "object", "properties": {
            "id": {"type": "string"}, "sensor_id": {"type": "string", "nullable": true}, "zone": {"type": "string", "nullable": true},
            "kind": {"type": "string", "nullable": true}, "starts_ms": ms.clone(), "ends_ms": ms, "author": {"type": "string"}, "comment": {"type": "string"}}}
    })
}
