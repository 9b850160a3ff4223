//! The OpenAPI 3 description of the HTTP gateway (`GET /openapi.json` on
//! `ingest.http.listen`). A test checks it against [`ROUTES`] both ways;
//! the reading's schema states what the dataflow's decoder accepts.

use serde_json::{Value, json};
use weir_dataflow::model::{
    MAX_FLAG_BYTES, MAX_FLAGS, MAX_SENSOR_ID_BYTES, MAX_TS_MS, MAX_UNIT_BYTES,
};

use super::config::HttpConfig;

/// Every route of the HTTP gateway: (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/ingest"),
    ("POST", "/ingest/batch"),
    ("GET", "/metrics"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
];

/// The methods served on `path`, for the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> String {
    let methods: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p)| *p == path)
        .map(|(m, _)| *m)
        .collect();
    methods.join(", ")
}

/// RFC 3339 times the decoder takes for any day of any year it accepts:
/// 1971 to 2099, days 01 to 28, with `Z` or an offset. (JSON Schema cannot
/// state "a real date within 1970..2100"; the decoder takes more than this.)
const RFC3339_PATTERN: &str = "^(197[1-9]|19[89][0-9]|20[0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-2]):[0-5][0-9])$";

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn with_retry(description: &str) -> Value {
    let mut response = error(description);
    response["headers"] =
        json!({"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}});
    response
}

/// The readings schemas: v1 and v2 JSON, as `decode_json` takes them
/// (unknown fields ignored; an optional field may be `null`).
fn reading_schemas() -> Value {
    let sensor_id = json!({"type": "string", "minLength": 1, "maxLength": MAX_SENSOR_ID_BYTES, "pattern": "^[A-Za-z0-9._:-]+$"});
    let mut nullable_id = sensor_id.clone();
    nullable_id["nullable"] = json!(true);
    let absent = json!({"nullable": true, "enum": [null]});
    let ts = json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_TS_MS - 1});
    let flags = json!({"type": "array", "nullable": true, "maxItems": MAX_FLAGS,
        "items": {"type": "string", "maxLength": MAX_FLAG_BYTES},
        "description": format!("At most {MAX_FLAGS} flags of at most {MAX_FLAG_BYTES} bytes of UTF-8 each.")});
    json!({
        "ReadingV1": {"type": "object", "required": ["sensorId", "timestamp", "value"],
            "description": "The original firmware's JSON.",
            "properties": {
                "schemaVersion": {"type": "integer", "enum": [1, null], "nullable": true},
                "sensorId": sensor_id.clone(),
                "timestamp": ts.clone(),
                "value": {"type": "number"},
                "flags": flags.clone()
            }},
        "ReadingV2": {"type": "object", "required": ["schemaVersion", "ts", "value"],
            "description": "`sensorId` or `sensor_id`, the other absent or null (the decoder also takes both when equal).",
            "oneOf": [
                {"required": ["sensorId"], "properties": {"sensorId": {"type": "string"}, "sensor_id": absent.clone()}},
                {"required": ["sensor_id"], "properties": {"sensor_id": {"type": "string"}, "sensorId": absent}}
            ],
            "properties": {
                "schemaVersion": {"type": "integer", "enum": [2]},
                "sensorId": nullable_id.clone(),
                "sensor_id": nullable_id,
                "ts": {"oneOf": [ts, {"type": "string", "pattern": RFC3339_PATTERN}],
                       "description": "Epoch milliseconds or RFC 3339, 1970 to 2100."},
                "value": {"type": "number"},
                "unit": {"type": "string", "nullable": true, "maxLength": MAX_UNIT_BYTES,
                         "description": format!("At most {MAX_UNIT_BYTES} bytes of UTF-8.")},
                "battery": {"type": "number", "nullable": true, "minimum": 0, "maximum": 100},
                "flags": flags
            }},
        "Reading": {"oneOf": [{"$ref": "#/components/schemas/ReadingV1"}, {"$ref": "#/components/schemas/ReadingV2"}]}
    })
}

/// The document, with the limits `config` sets.
pub fn document(config: &HttpConfig) -> Value {
    let refusals = |accepted: &str| {
        json!({
            "202": {"description": accepted, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
            "400": {"description": "A reading the decoder refuses (`field`, `reason`), a bad gzip body; in a batch the valid readings are kept (`accepted`, `rejected`)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rejected"}}}},
            "401": error("No `Authorization: Bearer` token, or an unknown one (when `ingest.auth.required`)"),
            "403": error("A sensor the token may not write"),
            "408": error(&format!("The body took longer than {} ms", config.body_timeout_ms)),
            "411": error("No Content-Length"),
            "413": error(&format!("The body (or its gzip inflation) over {} bytes, or a batch over {} readings", config.max_body_bytes, config.max_batch)),
            "415": error("A Content-Type or Content-Encoding the gateway does not take"),
            "429": with_retry("Over the gateway's or the device's rate"),
            "503": with_retry("The disk buffer is full (Kafka slow or away); nothing was kept")
        })
    };
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "weir ingest (HTTP gateway)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Readings into weir: each is checked by the pipeline's own decoder and the device's token, then written to the disk buffer (synced) before 202. Bodies may be gzip (`Content-Encoding: gzip`). Errors are {\"error\", \"detail\"}. A method a path does not serve is a 405 whose `Allow` lists those it does."
        },
        "paths": {
            "/ingest": {"post": {
                "summary": "One reading: JSON v1 or v2 (below), or protobuf `SensorReading` with `Content-Type: application/x-protobuf` (connectors/proto; not describable in JSON Schema).",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reading"}}}},
                "responses": refusals("Accepted: in the disk buffer")
            }},
            "/ingest/batch": {"post": {
                "summary": "Readings: a JSON array, or NDJSON (one reading per line) with `Content-Type: application/x-ndjson`.",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "array", "minItems": 1, "maxItems": config.max_batch, "items": {"$ref": "#/components/schemas/Reading"}}}}},
                "responses": refusals("All accepted: in the disk buffer")
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format).",
                "responses": {"200": {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/health": {"get": {"summary": "Liveness: the gateway answers.",
                "responses": {"200": {"description": "Up", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}}}},
            "/openapi.json": {"get": {"summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A device token (`[ingest.auth] tokens` or the `ingest_tokens` table)."}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
                "Accepted": {"type": "object", "required": ["accepted"], "properties": {"accepted": {"type": "integer", "minimum": 0}}},
                "Rejected": {"type": "object", "required": ["error", "detail"], "properties": {
                    "error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string", "nullable": true},
                    "accepted": {"type": "integer"},
                    "rejected": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": "integer"}, "field": {"type": "string", "nullable": true}, "reason": {"type": "string"}, "detail": {"type": "string", "nullable": true}}}}}}
            }
        }
    });
    if let (Some(schemas), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        reading_schemas(),
    ) {
        schemas.extend(more);
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let spec = document(&HttpConfig::default());
        let documented: BTreeSet<(String, String)> = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(method, _)| (method.to_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, routed);
        for (method, path) in ROUTES {
            let op = &spec["paths"][*path][method.to_lowercase()];
            assert!(op["responses"].is_object(), "{method} {path}");
        }
    }

    #[test]
    fn allow_lists_the_paths_methods() {
        assert_eq!(allowed_methods("/ingest"), "POST");
        assert_eq!(allowed_methods("/openapi.json"), "GET");
        assert_eq!(allowed_methods("/nothing"), "");
    }

    #[test]
    fn the_reading_schema_states_the_decoders_limits() {
        let spec = document(&HttpConfig::default());
        let v1 = &spec["components"]["schemas"]["ReadingV1"]["properties"];
        assert_eq!(v1["sensorId"]["maxLength"], MAX_SENSOR_ID_BYTES);
        assert_eq!(v1["timestamp"]["maximum"], MAX_TS_MS - 1);
        let batch = &spec["paths"]["/ingest/batch"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(batch["maxItems"], HttpConfig::default().max_batch);
    }
}
