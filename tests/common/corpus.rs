//! A corpus of nasty ingest payloads for the end-to-end robustness test of the HTTP and MQTT
//! ingest gateways.
//!
//! [`cases`] returns some 340 requests and MQTT messages: malformed JSON, near misses
//! of a valid reading, hostile strings, broken protobuf, wrong content types, broken gzip, and
//! batches in which only some readings are valid. [`oversized_batch`], [`zip_bomb_plain_len`]
//! and [`zip_bomb_byte`] describe the payloads too large to keep in that list.
//!
//! Case names start with their family:
//!
//! | prefix | family |
//! |---|---|
//! | `json-` | malformed JSON sent to `/ingest` |
//! | `nesting-`, `flags-10k-`, `size-` | deep nesting, huge arrays, payloads over 64 KiB |
//! | `num-`, `ts-` | non-finite and mistyped values, bad timestamps |
//! | `id-`, `schema-`, `battery-`, `unit-`, `flags-` | wrong types and out-of-range fields |
//! | `utf8-`, `escape-` | invalid UTF-8 and lone surrogate escapes |
//! | `pb-` | protobuf garbage and invalid protobuf readings |
//! | `ct-` | a body under the wrong content type |
//! | `batch-`, `ndjson-` | `/ingest/batch`: mixed, empty, malformed, over the count limit |
//! | `gzip-`, `gzipraw-` | gzip bodies with bad content, and broken gzip |
//! | `mqtt-` | MQTT payloads |
//!
//! # Conventions
//!
//! - Every [`Target::Single`] and [`Target::Mqtt`] case is invalid: the gateway must reject it
//!   (HTTP 4xx; over MQTT, store nothing) and stay up.
//! - A [`Target::Batch`] case with `valid_readings: Some(n)` must be accepted with exactly those
//!   `n` readings stored (`n` is at least 1). `None` means the request as a whole is rejected and
//!   nothing from it is stored. A batch without a single valid reading counts as rejected: this
//!   includes the empty array `[]`, an empty NDJSON body and NDJSON of blank lines only. Blank
//!   NDJSON lines are not readings; a non-blank line that is not a valid reading is a bad reading.
//! - Every reading, valid or not, whose sensor id is not itself the broken part uses the id
//!   `corpus-<n>` and the timestamp `1764000000000 + n * 1000` ms, with `n` unique across the
//!   whole corpus. So no two readings share (sensor id, time), and a reading stored from a case
//!   that should have been rejected is found by its `corpus-` prefix.
//! - `content_type` is the `Content-Type` header; `""` means send none. For MQTT it names what
//!   the payload claims to be (for an MQTT 5 content-type property; over MQTT 3.1.1 it is
//!   ignored and the gateway sniffs the payload).
//! - Payloads over a limit are otherwise valid where that matters, so that the limit alone is
//!   what rejects them.
//!
//! # Deviations from the brief this file was written to
//!
//! - Protobuf field numbers follow `dataflow/proto/reading.proto` as it is in the repository:
//!   1 `sensor_id` string, 2 `ts_ms` int64, 3 `value` double, 4 `flags` repeated string,
//!   5 `unit` string, 6 `battery` float. (The brief had 4 unit, 5 battery uint32, 6 flags.)
//! - The gzip bomb is not materialised: [`zip_bomb_plain_len`] and [`zip_bomb_byte`] tell the
//!   caller what to stream into a gzip encoder.
//! - `content_type: ""` stands for "no `Content-Type` header", since the field is a
//!   `&'static str` rather than an `Option`.
//! - Broken gzip ([`Encoding::GzipRaw`]) is built by hand from stored (uncompressed) deflate
//!   blocks and a hand-written CRC-32, since no compression crate is available here.
//!
//! To use it, `tests/common/mod.rs` needs `pub mod corpus;` (whose `#![allow(dead_code)]` then
//! covers the helpers a given test binary does not use).

use std::collections::HashSet;
use std::iter;

/// Where a case is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `POST /ingest`: one reading, as a JSON object or protobuf.
    Single,
    /// `POST /ingest/batch`: a JSON array (`application/json`) or NDJSON
    /// (`application/x-ndjson`) of readings.
    Batch,
    /// An MQTT publish on `sensors/<sensor id>/readings`, the payload being one reading.
    Mqtt,
}

/// How the body is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Sent as is, without `Content-Encoding`.
    Identity,
    /// The caller gzips `body` and sends it with `Content-Encoding: gzip`.
    Gzip,
    /// `body` is already gzip bytes (usually broken ones), sent as is with
    /// `Content-Encoding: gzip`.
    GzipRaw,
}

/// One nasty payload.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique, kebab-case, e.g. `"num-nan-literal"`.
    pub name: String,
    /// Where it is sent.
    pub target: Target,
    /// The `Content-Type` header (`""`: send none), e.g. `"application/json"`,
    /// `"application/x-ndjson"`, `"application/x-protobuf"`, `"text/plain"`.
    pub content_type: &'static str,
    /// How `body` is encoded on the wire.
    pub encoding: Encoding,
    /// The HTTP body or MQTT payload (before the caller gzips it, for [`Encoding::Gzip`]).
    pub body: Vec<u8>,
    /// For Batch cases that mix good and bad readings: how many readings are valid
    /// (they must still be accepted); `None` when the whole request must be rejected.
    pub valid_readings: Option<usize>,
}

/// Every case. Sensor ids in valid readings start with "corpus-" so a test can find them.
pub fn cases() -> Vec<Case> {
    let mut ids = Ids(0);
    let mut out = Vec::new();
    malformed_json_cases(&mut out, &mut ids);
    nesting_and_size_cases(&mut out, &mut ids);
    number_and_timestamp_cases(&mut out, &mut ids);
    wrong_type_cases(&mut out, &mut ids);
    unicode_cases(&mut out, &mut ids);
    protobuf_cases(&mut out, &mut ids);
    content_type_cases(&mut out, &mut ids);
    batch_cases(&mut out, &mut ids);
    gzip_cases(&mut out, &mut ids);
    mqtt_cases(&mut out, &mut ids);
    debug_assert!(
        names_are_unique_kebab_case(&out),
        "corpus case names must be unique and kebab-case"
    );
    out
}

/// A body larger than the 1 MiB limit (10 MiB of a repeated valid-looking JSON array), for the
/// 413 case. Send it to `/ingest/batch` as `application/json`.
pub fn oversized_batch() -> Vec<u8> {
    const TARGET: usize = 10 * 1024 * 1024;
    let reading = br#"{"sensorId":"corpus-oversized","timestamp":1764000000000,"value":21.5}"#;
    let mut body = Vec::with_capacity(TARGET + reading.len() + 2);
    body.push(b'[');
    while body.len() < TARGET {
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(reading);
    }
    body.push(b']');
    body
}

/// How many bytes the gzip bomb decompresses to: 256 MiB of [`zip_bomb_byte`].
///
/// The caller streams that many bytes into a gzip encoder (default or best level) and sends the
/// result to `/ingest/batch` as `application/json` with `Content-Encoding: gzip`. Deflate packs a
/// run of one byte about 1000:1, so the compressed body (some 250 KiB) is under the 1 MiB body
/// limit: only a limit on the *decompressed* size stops it. The request must be rejected (413 or
/// 400) without the gateway materialising 256 MiB.
pub fn zip_bomb_plain_len() -> usize {
    256 * 1024 * 1024
}

/// The byte the gzip bomb repeats: a space. It is JSON whitespace, so a gateway that streams the
/// decompressed body into a JSON parser without a size limit reads all of it before it finds
/// anything wrong.
pub fn zip_bomb_byte() -> u8 {
    b' '
}

// ---------------------------------------------------------------------------------------------
// Content types, targets and case constructors
// ---------------------------------------------------------------------------------------------

const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";
const PROTOBUF: &str = "application/x-protobuf";

/// The largest reading the decoder accepts, in bytes.
const MAX_PAYLOAD: usize = 64 * 1024;
/// The most readings one batch may hold.
const MAX_BATCH: usize = 10_000;

fn case(
    name: &str,
    target: Target,
    content_type: &'static str,
    encoding: Encoding,
    body: impl Into<Vec<u8>>,
    valid_readings: Option<usize>,
) -> Case {
    Case {
        name: name.to_owned(),
        target,
        content_type,
        encoding,
        body: body.into(),
        valid_readings,
    }
}

/// `POST /ingest` as `application/json`.
fn single(name: &str, body: impl Into<Vec<u8>>) -> Case {
    single_as(name, JSON, body)
}

/// `POST /ingest` with the given content type.
fn single_as(name: &str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
    case(
        name,
        Target::Single,
        content_type,
        Encoding::Identity,
        body,
        None,
    )
}

/// `POST /ingest` as `application/x-protobuf`.
fn proto(name: &str, body: impl Into<Vec<u8>>) -> Case {
    single_as(name, PROTOBUF, body)
}

/// `POST /ingest/batch` as a JSON array.
fn batch_json(name: &str, body: impl Into<Vec<u8>>, valid_readings: Option<usize>) -> Case {
    batch_as(name, JSON, body, valid_readings)
}

/// `POST /ingest/batch` as NDJSON.
fn batch_ndjson(name: &str, body: impl Into<Vec<u8>>, valid_readings: Option<usize>) -> Case {
    batch_as(name, NDJSON, body, valid_readings)
}

/// `POST /ingest/batch` with the given content type.
fn batch_as(
    name: &str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    valid_readings: Option<usize>,
) -> Case {
    case(
        name,
        Target::Batch,
        content_type,
        Encoding::Identity,
        body,
        valid_readings,
    )
}

/// An MQTT payload claiming to be JSON.
fn mqtt_json(name: &str, body: impl Into<Vec<u8>>) -> Case {
    case(name, Target::Mqtt, JSON, Encoding::Identity, body, None)
}

/// An MQTT payload claiming to be protobuf.
fn mqtt_proto(name: &str, body: impl Into<Vec<u8>>) -> Case {
    case(name, Target::Mqtt, PROTOBUF, Encoding::Identity, body, None)
}

/// The case with its body gzipped by the caller.
fn gzipped(c: Case) -> Case {
    Case {
        encoding: Encoding::Gzip,
        ..c
    }
}

/// The case with its body sent as is under `Content-Encoding: gzip`.
fn gzip_raw(c: Case) -> Case {
    Case {
        encoding: Encoding::GzipRaw,
        ..c
    }
}

fn names_are_unique_kebab_case(cases: &[Case]) -> bool {
    let mut seen = HashSet::new();
    cases.iter().all(|c| {
        let kebab = !c.name.is_empty()
            && !c.name.starts_with('-')
            && !c.name.ends_with('-')
            && !c.name.contains("--")
            && c.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        kebab && seen.insert(c.name.as_str())
    })
}

// ---------------------------------------------------------------------------------------------
// Valid readings, and near misses of them
// ---------------------------------------------------------------------------------------------

/// 2025-11-24T16:00:00Z, the timestamp of reading `n = 0`.
const BASE_TS_MS: i64 = 1_764_000_000_000;
/// 2100-01-01T00:00:00Z: the first timestamp out of range.
const YEAR_2100_MS: i64 = 4_102_444_800_000;
/// 2200-01-01T00:00:00Z.
const YEAR_2200_MS: i64 = 7_258_118_400_000;

/// Hands out the counter `n` behind the sensor id `corpus-<n>` and the timestamp
/// `BASE_TS_MS + n * 1000`, so no two readings in the corpus share (sensor id, time).
struct Ids(i64);

impl Ids {
    fn take(&mut self) -> i64 {
        self.0 += 1;
        self.0
    }
}

fn sensor(n: i64) -> String {
    format!("corpus-{n}")
}

fn ts_ms(n: i64) -> i64 {
    BASE_TS_MS + n * 1000
}

/// A finite measurement such as `23.7`.
fn value(n: i64) -> String {
    format!("{}.{}", 10 + n % 30, n % 10)
}

/// `s` in double quotes (no escaping: only for text that needs none).
fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// `template` with `$ID` replaced by `corpus-<n>` and `$TS` by its timestamp.
fn fill(template: &str, n: i64) -> String {
    template
        .replace("$ID", &sensor(n))
        .replace("$TS", &ts_ms(n).to_string())
}

/// One change to a reading's fields: set a key to raw JSON text, or remove it.
enum Edit {
    Set(&'static str, String),
    Unset(&'static str),
}

/// Sets `key` to the raw JSON text `raw` (added at the end if absent).
fn set(key: &'static str, raw: impl Into<String>) -> Edit {
    Edit::Set(key, raw.into())
}

/// Removes `key`.
fn unset(key: &'static str) -> Edit {
    Edit::Unset(key)
}

/// A valid v1 reading's fields, as (key, raw JSON text).
fn v1_fields(n: i64) -> Vec<(&'static str, String)> {
    vec![
        ("sensorId", quoted(&sensor(n))),
        ("timestamp", ts_ms(n).to_string()),
        ("value", value(n)),
        ("flags", r#"["corpus"]"#.to_owned()),
    ]
}

/// A valid v2 reading's fields, as (key, raw JSON text), with `ts` in epoch milliseconds.
fn v2_fields(n: i64) -> Vec<(&'static str, String)> {
    vec![
        ("schemaVersion", "2".to_owned()),
        ("sensor_id", quoted(&sensor(n))),
        ("ts", ts_ms(n).to_string()),
        ("value", value(n)),
        ("unit", quoted("°C")),
        ("battery", (n % 101).to_string()),
    ]
}

/// Applies `edits` to `fields` and writes the object on one line.
fn render(
    mut fields: Vec<(&'static str, String)>,
    edits: impl IntoIterator<Item = Edit>,
) -> String {
    for edit in edits {
        match edit {
            Edit::Set(key, raw) => match fields.iter().position(|field| field.0 == key) {
                Some(at) => fields[at].1 = raw,
                None => fields.push((key, raw)),
            },
            Edit::Unset(key) => fields.retain(|field| field.0 != key),
        }
    }
    let members: Vec<String> = fields
        .iter()
        .map(|(key, raw)| format!("\"{key}\": {raw}"))
        .collect();
    format!("{{{}}}", members.join(", "))
}

/// A valid v1 reading.
fn v1(n: i64) -> String {
    render(v1_fields(n), Vec::new())
}

/// A valid v2 reading with `ts` in epoch milliseconds.
fn v2(n: i64) -> String {
    render(v2_fields(n), Vec::new())
}

/// A valid v2 reading with `ts` as an RFC 3339 string.
fn v2_rfc3339(n: i64) -> String {
    v2_set(n, "ts", quoted(&rfc3339(ts_ms(n))))
}

/// A v1 reading with `edits` applied.
fn v1_with(n: i64, edits: impl IntoIterator<Item = Edit>) -> String {
    render(v1_fields(n), edits)
}

/// A v2 reading with `edits` applied.
fn v2_with(n: i64, edits: impl IntoIterator<Item = Edit>) -> String {
    render(v2_fields(n), edits)
}

/// A v1 reading with `key` set to the raw JSON text `raw`.
fn v1_set(n: i64, key: &'static str, raw: impl Into<String>) -> String {
    v1_with(n, [set(key, raw)])
}

/// A v2 reading with `key` set to the raw JSON text `raw`.
fn v2_set(n: i64, key: &'static str, raw: impl Into<String>) -> String {
    v2_with(n, [set(key, raw)])
}

/// A valid reading, cycling through v1, v2 with epoch-ms `ts`, and v2 with RFC 3339 `ts`.
fn good_reading(n: i64) -> String {
    match n % 3 {
        0 => v1(n),
        1 => v2(n),
        _ => v2_rfc3339(n),
    }
}

/// The smallest valid reading, for the batch count limit.
fn tiny(n: i64) -> String {
    format!(
        r#"{{"sensorId":"{}","timestamp":{},"value":1.5}}"#,
        sensor(n),
        ts_ms(n)
    )
}

/// `count` tiny readings as a compact JSON array.
fn tiny_array(ids: &mut Ids, count: usize) -> String {
    let items: Vec<String> = (0..count).map(|_| tiny(ids.take())).collect();
    format!("[{}]", items.join(","))
}

/// `count` tiny readings as NDJSON.
fn tiny_ndjson(ids: &mut Ids, count: usize) -> String {
    (0..count).map(|_| tiny(ids.take()) + "\n").collect()
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds, e.g. `2025-11-24T16:00:00.000Z`.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let second_of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `text` up to and including the first `marker` (all of it if there is none).
fn cut_after(text: &str, marker: &str) -> String {
    let end = text.find(marker).map_or(text.len(), |at| at + marker.len());
    text.get(..end).unwrap_or(text).to_owned()
}

/// `text` with its first `@@` replaced by raw `bytes`, which need not be UTF-8.
fn splice(text: &str, bytes: &[u8]) -> Vec<u8> {
    match text.split_once("@@") {
        Some((before, after)) => [before.as_bytes(), bytes, after.as_bytes()].concat(),
        None => text.as_bytes().to_vec(),
    }
}

/// `[[[…]]]`, `depth` arrays deep.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `{"a":{"a":…1…}}`, `depth` objects deep.
fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// A JSON array of `count` copies of the string `item`.
fn string_array(item: &str, count: usize) -> String {
    format!("[{}]", vec![quoted(item); count].join(","))
}

/// Deterministic pseudo-random bytes (xorshift64).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A batch under construction: its readings (or NDJSON lines) and how many of them are valid.
#[derive(Default)]
struct Mix {
    items: Vec<String>,
    valid: usize,
}

impl Mix {
    /// Adds a valid reading.
    fn good(&mut self, ids: &mut Ids) -> &mut Mix {
        self.items.push(good_reading(ids.take()));
        self.valid += 1;
        self
    }

    /// Adds `count` valid readings.
    fn goods(&mut self, ids: &mut Ids, count: usize) -> &mut Mix {
        for _ in 0..count {
            self.good(ids);
        }
        self
    }

    /// Adds an item that is not a valid reading (for NDJSON, `""` adds a blank line).
    fn bad(&mut self, item: impl Into<String>) -> &mut Mix {
        self.items.push(item.into());
        self
    }

    /// The items as a JSON array.
    fn array(&self) -> String {
        format!("[{}]", self.items.join(", "))
    }

    /// The items as NDJSON, each line ended by `eol`.
    fn ndjson(&self, eol: &str) -> String {
        self.items
            .iter()
            .map(|item| format!("{item}{eol}"))
            .collect()
    }

    /// What the whole batch expects: the valid count, or `None` if there is no valid reading.
    fn valid_readings(&self) -> Option<usize> {
        (self.valid > 0).then_some(self.valid)
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf and gzip by hand
// ---------------------------------------------------------------------------------------------

/// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

fn tag(field: u32, wire_type: u8) -> Vec<u8> {
    varint((u64::from(field) << 3) | u64::from(wire_type))
}

/// A length-delimited field (string, bytes, or an unknown field's payload).
fn pb_bytes(field: u32, data: &[u8]) -> Vec<u8> {
    [tag(field, LEN), varint(data.len() as u64), data.to_vec()].concat()
}

/// An `int64` field (negative numbers take ten bytes, as protobuf encodes them).
fn pb_int64(field: u32, v: i64) -> Vec<u8> {
    [tag(field, VARINT), varint(v as u64)].concat()
}

fn pb_double(field: u32, v: f64) -> Vec<u8> {
    [tag(field, I64), v.to_le_bytes().to_vec()].concat()
}

fn pb_float(field: u32, v: f32) -> Vec<u8> {
    [tag(field, I32), v.to_le_bytes().to_vec()].concat()
}

/// `sensor_id`, then `ts_ms` and `value` where given.
fn pb_reading(sensor_id: &[u8], ts: Option<i64>, value: Option<f64>) -> Vec<u8> {
    let mut out = pb_bytes(1, sensor_id);
    if let Some(ts) = ts {
        out.extend(pb_int64(2, ts));
    }
    if let Some(value) = value {
        out.extend(pb_double(3, value));
    }
    out
}

/// A valid protobuf reading with only the required fields.
fn pb_core(n: i64) -> Vec<u8> {
    pb_reading(sensor(n).as_bytes(), Some(ts_ms(n)), Some(21.5))
}

/// A valid protobuf reading with every field.
fn pb_valid(n: i64) -> Vec<u8> {
    [
        pb_core(n),
        pb_bytes(4, b"corpus"),
        pb_bytes(5, "°C".as_bytes()),
        pb_float(6, 87.0),
    ]
    .concat()
}

/// CRC-32 (IEEE, as gzip and PNG use it).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Adler-32, as zlib uses it.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1_u32, 0_u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A raw deflate stream of stored (uncompressed) blocks holding `data`.
fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 0xffff + 1));
    if data.is_empty() {
        // One final stored block of length 0.
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    let mut chunks = data.chunks(0xffff).peekable();
    while let Some(chunk) = chunks.next() {
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        // BFINAL on the last block, BTYPE 00 (stored); the rest of the byte is padding.
        out.push(u8::from(chunks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// gzip header flags (RFC 1952).
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FRESERVED: u8 = 0x20;

/// A gzip member header: magic, compression `method` (8 is deflate), `flags`, no mtime, unknown OS.
fn gzip_header(method: u8, flags: u8) -> Vec<u8> {
    vec![0x1f, 0x8b, method, flags, 0, 0, 0, 0, 0, 0xff]
}

/// A gzip member from its parts, each of which a case may get wrong.
fn gzip_member(method: u8, flags: u8, deflate: &[u8], crc: u32, size: u32) -> Vec<u8> {
    let mut out = gzip_header(method, flags);
    out.extend_from_slice(deflate);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out
}

/// The gzip trailer's ISIZE: the length modulo 2^32.
fn gzip_size(data: &[u8]) -> u32 {
    (data.len() & 0xffff_ffff) as u32
}

/// A valid gzip stream of `data`.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    gzip_member(8, 0, &deflate_stored(data), crc32(data), gzip_size(data))
}

/// The bytes of a tiny PNG header: magic and an IHDR chunk.
fn png_bytes() -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png
}

/// `text` as UTF-16LE with a byte-order mark.
fn utf16le_with_bom(text: &str) -> Vec<u8> {
    iter::once(0xfeff_u16)
        .chain(text.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The families
// ---------------------------------------------------------------------------------------------

/// Syntax errors and non-objects sent to `/ingest` as `application/json`.
fn malformed_json_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    out.push(single("json-empty-body", ""));
    out.push(single("json-whitespace-only", " \t\r\n \n"));
    out.push(single("json-null", "null"));
    out.push(single("json-empty-array", "[]"));
    // A batch sent to the single endpoint.
    out.push(single(
        "json-array-of-one-reading",
        format!("[{}]", v1(ids.take())),
    ));
    out.push(single("json-bare-number", "21.5"));
    out.push(single("json-bare-string", r#""corpus-reading""#));
    out.push(single("json-bare-true", "true"));
    out.push(single("json-lone-open-brace", "{"));
    out.push(single("json-lone-close-brace", "}"));
    out.push(single("json-empty-object", "{}"));
    out.push(single(
        "json-truncated-mid-key",
        cut_after(&v1(ids.take()), "\"timest"),
    ));
    out.push(single(
        "json-truncated-mid-string",
        cut_after(&v1(ids.take()), "\"corp"),
    ));
    out.push(single(
        "json-truncated-after-colon",
        cut_after(&v1(ids.take()), "\"value\":"),
    ));
    out.push(single(
        "json-missing-closing-brace",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-trailing-garbage",
        format!("{} xyz", v1(ids.take())),
    ));
    out.push(single(
        "json-two-objects",
        format!("{}{}", v1(ids.take()), v1(ids.take())),
    ));
    out.push(single(
        "json-trailing-comma",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5,}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-single-quotes",
        fill(
            "{'sensorId': '$ID', 'timestamp': $TS, 'value': 21.5}",
            ids.take(),
        ),
    ));
    out.push(single(
        "json-unquoted-keys",
        fill(
            r#"{sensorId: "$ID", timestamp: $TS, value: 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-line-comment",
        fill(
            concat!(
                r#"{"sensorId": "$ID", // tunnel 3"#,
                "\n",
                r#""timestamp": $TS, "value": 21.5}"#
            ),
            ids.take(),
        ),
    ));
    out.push(single(
        "json-block-comment",
        fill(
            r#"/* reading */ {"sensorId": "$ID", "timestamp": $TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    // The decoder strips one UTF-8 byte-order mark; what follows must still be JSON.
    out.push(single("json-bom-then-garbage", "\u{feff}garbage {"));
    out.push(single("json-bom-only", "\u{feff}"));
    out.push(single(
        "json-double-bom",
        format!("{bom}{bom}{}", v1(ids.take()), bom = '\u{feff}'),
    ));
    out.push(single(
        "json-duplicated-braces",
        fill(
            r#"{{"sensorId": "$ID", "timestamp": $TS, "value": 21.5}}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-missing-colon",
        fill(
            r#"{"sensorId" "$ID", "timestamp": $TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-missing-comma",
        fill(
            r#"{"sensorId": "$ID" "timestamp": $TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-hex-number",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 0x15}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-leading-zero",
        fill(
            r#"{"sensorId": "$ID", "timestamp": 0$TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-leading-plus",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": +21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-trailing-dot",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-leading-dot",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": .5}"#,
            ids.take(),
        ),
    ));
    // Control characters must be escaped inside JSON strings.
    out.push(single(
        "json-raw-control-char",
        fill(
            "{\"sensorId\": \"$ID\u{1}\", \"timestamp\": $TS, \"value\": 21.5}",
            ids.take(),
        ),
    ));
    out.push(single(
        "json-raw-newline-in-string",
        fill(
            "{\"sensorId\": \"$ID\n\", \"timestamp\": $TS, \"value\": 21.5}",
            ids.take(),
        ),
    ));
    out.push(single(
        "json-invalid-escape",
        fill(
            r#"{"sensorId": "$ID\x41", "timestamp": $TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-unterminated-string",
        fill(
            r#"{"sensorId": "$ID, "timestamp": $TS, "value": 21.5}"#,
            ids.take(),
        ),
    ));
    out.push(single(
        "json-nul-after-object",
        format!("{}\0", v1(ids.take())),
    ));
    out.push(single(
        "json-fields-as-array",
        fill(
            r#"["sensorId", "$ID", "timestamp", $TS, "value", 21.5]"#,
            ids.take(),
        ),
    ));
    // The reading JSON-encoded a second time: a string, not an object.
    out.push(single(
        "json-double-encoded",
        serde_json::Value::String(v1(ids.take())).to_string(),
    ));
}

/// Deep nesting, huge arrays, and single readings over the 64 KiB limit.
fn nesting_and_size_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    // Over 64 KiB as well as deep: whichever check comes first must reject it.
    out.push(single("nesting-100k-open-brackets", "[".repeat(100_000)));
    // The rest stay under 64 KiB, so only the depth (or type) rejects them.
    out.push(single(
        "nesting-deep-array-in-value",
        v1_set(ids.take(), "value", nested_arrays(20_000)),
    ));
    out.push(single(
        "nesting-deep-object-in-value",
        v1_set(ids.take(), "value", nested_objects(8_000)),
    ));
    // Unknown fields are ignored, but not at any depth: 20,000 is far past any sane limit.
    out.push(single(
        "nesting-deep-array-in-unknown-field",
        v1_set(ids.take(), "extra", nested_arrays(20_000)),
    ));
    out.push(single(
        "nesting-deep-object-top-level",
        nested_objects(10_000),
    ));
    out.push(single(
        "nesting-deep-array-in-flags",
        v1_set(ids.take(), "flags", nested_arrays(1_000)),
    ));
    // At most 16 flags.
    out.push(single(
        "flags-10k-items",
        v1_set(ids.take(), "flags", string_array("f", 10_000)),
    ));
    // A valid reading padded with an unknown field to exactly one byte over 64 KiB.
    let n = ids.take();
    let base_len = v1_set(n, "padding", "\"\"").len();
    let pad = (MAX_PAYLOAD + 1).saturating_sub(base_len);
    out.push(single(
        "size-single-64kib-plus-one",
        v1_set(n, "padding", quoted(&"x".repeat(pad))),
    ));
    // Trailing whitespace is valid JSON; 100 KiB of it is not a valid 64 KiB payload.
    out.push(single(
        "size-single-trailing-whitespace",
        format!("{}{}", v1(ids.take()), " ".repeat(100 * 1024)),
    ));
    // Over the 1 MiB body limit as well.
    out.push(single(
        "size-single-2mib",
        v1_set(ids.take(), "padding", quoted(&"x".repeat(2 * 1024 * 1024))),
    ));
}

/// Non-finite and mistyped values; timestamps mistyped or outside [1970, 2100).
fn number_and_timestamp_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    let values: [(&str, String); 18] = [
        ("num-nan-literal", "NaN".to_owned()),
        ("num-nan-lowercase", "nan".to_owned()),
        ("num-negative-nan", "-NaN".to_owned()),
        ("num-infinity-literal", "Infinity".to_owned()),
        ("num-negative-infinity-literal", "-Infinity".to_owned()),
        ("num-inf-short", "inf".to_owned()),
        ("num-1e400", "1e400".to_owned()),
        ("num-negative-1e400", "-1e400".to_owned()),
        ("num-just-over-f64-max", "1.8e308".to_owned()),
        ("num-400-digit-integer", "9".repeat(400)),
        ("num-value-as-string", r#""21.5""#.to_owned()),
        ("num-value-empty-string", r#""""#.to_owned()),
        ("num-value-nan-string", r#""NaN""#.to_owned()),
        ("num-value-as-bool", "true".to_owned()),
        ("num-value-as-object", r#"{"celsius": 21.5}"#.to_owned()),
        ("num-value-as-array", "[21.5]".to_owned()),
        // `null` means absent, and `value` is required.
        ("num-value-null", "null".to_owned()),
        ("num-value-hex-string", r#""0x15""#.to_owned()),
    ];
    for (name, raw) in values {
        out.push(single(name, v1_set(ids.take(), "value", raw)));
    }
    out.push(single(
        "num-value-missing",
        v1_with(ids.take(), [unset("value")]),
    ));
    out.push(single(
        "num-v2-value-nan",
        v2_set(ids.take(), "value", "NaN"),
    ));

    // v1 `timestamp`: integer epoch milliseconds in [0, 2100-01-01).
    let n = ids.take();
    out.push(single(
        "ts-float",
        v1_set(n, "timestamp", format!("{}.5", ts_ms(n))),
    ));
    let n = ids.take();
    out.push(single(
        "ts-float-integral",
        v1_set(n, "timestamp", format!("{}.0", ts_ms(n))),
    ));
    out.push(single(
        "ts-exponent",
        v1_set(ids.take(), "timestamp", "1.764e12"),
    ));
    let timestamps: [(&str, String); 11] = [
        ("ts-negative", "-1".to_owned()),
        ("ts-negative-large", format!("-{}", BASE_TS_MS)),
        ("ts-year-2200", YEAR_2200_MS.to_string()),
        ("ts-year-2100-exactly", YEAR_2100_MS.to_string()),
        ("ts-u64-max", u64::MAX.to_string()),
        ("ts-30-digit-integer", "9".repeat(30)),
        ("ts-digits-as-string", quoted(&BASE_TS_MS.to_string())),
        ("ts-garbage-string", r#""yesterday""#.to_owned()),
        (
            "ts-rfc3339-in-v1",
            r#""2025-11-24T16:00:00.000Z""#.to_owned(),
        ),
        ("ts-as-bool", "true".to_owned()),
        ("ts-null", "null".to_owned()),
    ];
    for (name, raw) in timestamps {
        out.push(single(name, v1_set(ids.take(), "timestamp", raw)));
    }
    out.push(single(
        "ts-missing",
        v1_with(ids.take(), [unset("timestamp")]),
    ));

    // v2 `ts`: RFC 3339 (with an offset) or integer epoch milliseconds.
    let v2_timestamps: [(&str, &str); 15] = [
        ("ts-v2-bad-month", r#""2025-13-24T16:00:00.000Z""#),
        ("ts-v2-month-zero", r#""2025-00-24T16:00:00Z""#),
        ("ts-v2-february-30", r#""2025-02-30T16:00:00Z""#),
        ("ts-v2-day-32", r#""2025-11-32T16:00:00Z""#),
        ("ts-v2-hour-24", r#""2025-11-24T24:00:00Z""#),
        ("ts-v2-no-offset", r#""2025-11-24T16:00:00""#),
        ("ts-v2-date-only", r#""2025-11-24""#),
        ("ts-v2-offset-25-hours", r#""2025-11-24T16:00:00+25:00""#),
        ("ts-v2-garbage-string", r#""not a time""#),
        ("ts-v2-empty-string", r#""""#),
        ("ts-v2-epoch-digits-as-string", r#""1764000000000""#),
        ("ts-v2-year-2200", r#""2200-01-01T00:00:00Z""#),
        ("ts-v2-year-1969", r#""1969-12-31T23:59:59.999Z""#),
        ("ts-v2-negative", "-1"),
        ("ts-v2-as-object", r#"{"ms": 1764000000000}"#),
    ];
    for (name, raw) in v2_timestamps {
        out.push(single(name, v2_set(ids.take(), "ts", raw)));
    }
    let n = ids.take();
    out.push(single(
        "ts-v2-float",
        v2_set(n, "ts", format!("{}.5", ts_ms(n))),
    ));
    out.push(single("ts-v2-missing", v2_with(ids.take(), [unset("ts")])));
}

/// Wrong types and out-of-range values of the other fields.
fn wrong_type_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    // Sensor ids: 1 to 128 bytes of [A-Za-z0-9._:-].
    let n = ids.take();
    out.push(single("id-as-number", v1_set(n, "sensorId", "42")));
    let n = ids.take();
    out.push(single(
        "id-as-array",
        v1_set(n, "sensorId", format!("[{}]", quoted(&sensor(n)))),
    ));
    let n = ids.take();
    out.push(single(
        "id-as-object",
        v1_set(n, "sensorId", format!("{{\"id\": {}}}", quoted(&sensor(n)))),
    ));
    out.push(single("id-as-bool", v1_set(ids.take(), "sensorId", "true")));
    out.push(single("id-null", v1_set(ids.take(), "sensorId", "null")));
    out.push(single(
        "id-missing",
        v1_with(ids.take(), [unset("sensorId")]),
    ));
    out.push(single("id-empty", v1_set(ids.take(), "sensorId", r#""""#)));
    out.push(single(
        "id-129-bytes",
        v1_set(
            ids.take(),
            "sensorId",
            quoted(&format!("corpus-{}", "x".repeat(122))),
        ),
    ));
    out.push(single(
        "id-60k-bytes",
        v1_set(ids.take(), "sensorId", quoted(&"x".repeat(60_000))),
    ));
    // Ids that break out of a topic, a path, a query or a terminal, as JSON string literals.
    let hostile_ids: [(&str, &str); 19] = [
        ("id-with-space", r#""corpus 1""#),
        ("id-leading-space", r#"" corpus-1""#),
        ("id-with-slash", r#""corpus/1""#),
        ("id-with-mqtt-wildcards", r#""corpus-+-#""#),
        ("id-path-traversal", r#""../../etc/passwd""#),
        ("id-percent-encoded", r#""corpus%2F1""#),
        (
            "id-sql-injection",
            r#""corpus-1'; DROP TABLE readings; --""#,
        ),
        ("id-accented-letter", r#""corpus-é""#),
        ("id-fullwidth-digit", r#""corpus-１""#),
        ("id-emoji", r#""corpus-🔥""#),
        ("id-escaped-emoji", r#""corpus-\ud83d\udd25""#),
        ("id-zero-width-space", r#""corpus-\u200b1""#),
        ("id-rtl-override", r#""corpus-\u202e1""#),
        ("id-bell-escape", r#""corpus-\u00071""#),
        ("id-nul-escape", r#""corpus-\u00001""#),
        ("id-newline-escape", r#""corpus-1\n""#),
        ("id-tab-escape", r#""corpus\t1""#),
        ("id-raw-del-char", "\"corpus-\u{7f}1\""),
        ("id-html", r#""<script>alert(1)</script>""#),
    ];
    for (name, raw) in hostile_ids {
        out.push(single(name, v1_set(ids.take(), "sensorId", raw)));
    }
    let n = ids.take();
    out.push(single(
        "id-wrong-case-key",
        v1_with(n, [unset("sensorId"), set("SensorId", quoted(&sensor(n)))]),
    ));
    // v1 only knows `sensorId`; `sensor_id` is an unknown field there.
    let n = ids.take();
    out.push(single(
        "id-snake-case-key-in-v1",
        v1_with(n, [unset("sensorId"), set("sensor_id", quoted(&sensor(n)))]),
    ));
    out.push(single(
        "id-v2-as-number",
        v2_set(ids.take(), "sensor_id", "42"),
    ));
    // v2 takes `sensorId` or `sensor_id`, but not two different ones.
    let n = ids.take();
    let other = ids.take();
    out.push(single(
        "id-v2-conflicting-aliases",
        v2_set(n, "sensorId", quoted(&sensor(other))),
    ));
    let n = ids.take();
    out.push(single(
        "id-v2-alias-invalid",
        v2_with(
            n,
            [
                set("sensorId", quoted(&sensor(n))),
                set("sensor_id", r#""corpus 1""#),
            ],
        ),
    ));

    // schemaVersion: absent or 1 is v1, 2 is v2, anything else is rejected.
    let versions: [(&str, &str); 8] = [
        ("schema-version-3", "3"),
        ("schema-version-0", "0"),
        ("schema-version-negative", "-1"),
        ("schema-version-as-string", r#""2""#),
        ("schema-version-as-float", "2.0"),
        ("schema-version-as-bool", "true"),
        ("schema-version-as-array", "[2]"),
        ("schema-version-huge", "99999999999999999999"),
    ];
    for (name, raw) in versions {
        out.push(single(name, v2_set(ids.take(), "schemaVersion", raw)));
    }
    // A v1 reading claiming v2 lacks `ts`; a v2 reading claiming v1 lacks `sensorId`.
    out.push(single(
        "schema-version-2-with-v1-fields",
        v1_set(ids.take(), "schemaVersion", "2"),
    ));
    out.push(single(
        "schema-version-1-with-v2-fields",
        v2_set(ids.take(), "schemaVersion", "1"),
    ));

    // battery (v2 only; v1 ignores it as an unknown field): a number in 0..=100.
    let batteries: [(&str, &str); 8] = [
        ("battery-101", "101"),
        ("battery-negative", "-1"),
        ("battery-1e9", "1e9"),
        ("battery-just-over-100", "100.001"),
        ("battery-1e400", "1e400"),
        ("battery-nan", "NaN"),
        ("battery-as-string", r#""87""#),
        ("battery-as-bool", "true"),
    ];
    for (name, raw) in batteries {
        out.push(single(name, v2_set(ids.take(), "battery", raw)));
    }

    // unit (v2 only): a string of at most 32 bytes.
    let units: [(&str, String); 5] = [
        ("unit-as-number", "21".to_owned()),
        ("unit-as-array", r#"["°C"]"#.to_owned()),
        ("unit-as-object", r#"{"name": "°C"}"#.to_owned()),
        ("unit-as-bool", "false".to_owned()),
        ("unit-33-bytes", quoted(&"u".repeat(33))),
    ];
    for (name, raw) in units {
        out.push(single(name, v2_set(ids.take(), "unit", raw)));
    }

    // flags: an array of at most 16 strings of at most 64 bytes.
    let flags: [(&str, String); 8] = [
        ("flags-as-string", r#""maintenance""#.to_owned()),
        ("flags-as-object", r#"{"maintenance": true}"#.to_owned()),
        ("flags-as-bool", "true".to_owned()),
        ("flags-number-items", "[1, 2]".to_owned()),
        ("flags-null-item", r#"["maintenance", null]"#.to_owned()),
        ("flags-nested-array", r#"[["maintenance"]]"#.to_owned()),
        ("flags-17-items", string_array("f", 17)),
        (
            "flags-65-byte-item",
            format!("[{}]", quoted(&"f".repeat(65))),
        ),
    ];
    for (name, raw) in flags {
        out.push(single(name, v1_set(ids.take(), "flags", raw)));
    }
}

/// Invalid UTF-8 bytes, and `\u` escapes that are not Unicode scalar values.
fn unicode_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    /// A reading with `@@` where the raw bytes go, inside the sensor id.
    const IN_ID: &str = r#"{"sensorId": "$ID@@", "timestamp": $TS, "value": 21.5}"#;
    let raw_bytes: [(&str, &str, &[u8]); 12] = [
        ("utf8-ff-fe-in-sensor-id", IN_ID, &[0xff, 0xfe]),
        (
            "utf8-ff-in-flag",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["m@@"]}"#,
            &[0xff],
        ),
        // Unknown fields are ignored, but the payload as a whole must be UTF-8.
        (
            "utf8-invalid-in-unknown-field",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "note": "@@"}"#,
            &[0xfe, 0xff],
        ),
        (
            "utf8-invalid-in-key",
            r#"{"sensor@@Id": "$ID", "timestamp": $TS, "value": 21.5}"#,
            &[0xff],
        ),
        ("utf8-overlong-slash", IN_ID, &[0xc0, 0xaf]),
        ("utf8-overlong-nul", IN_ID, &[0xc0, 0x80]),
        ("utf8-overlong-three-bytes", IN_ID, &[0xe0, 0x80, 0xaf]),
        ("utf8-encoded-surrogate", IN_ID, &[0xed, 0xa0, 0x80]),
        ("utf8-truncated-sequence", IN_ID, &[0xe2, 0x82]),
        ("utf8-lone-continuation-byte", IN_ID, &[0x80]),
        (
            "utf8-above-max-code-point",
            IN_ID,
            &[0xf4, 0x90, 0x80, 0x80],
        ),
        // "°C" in Latin-1, as old firmware might send it.
        (
            "utf8-latin1-unit",
            r#"{"schemaVersion": 2, "sensorId": "$ID", "ts": $TS, "value": 21.5, "unit": "@@C"}"#,
            &[0xb0],
        ),
    ];
    for (name, template, bytes) in raw_bytes {
        out.push(single(name, splice(&fill(template, ids.take()), bytes)));
    }
    // Lone or reversed UTF-16 surrogates are not characters: the JSON text is invalid.
    let escapes: [(&str, &str); 7] = [
        (
            "escape-lone-high-surrogate",
            r#"{"sensorId": "corpus-\ud800", "timestamp": $TS, "value": 21.5}"#,
        ),
        (
            "escape-lone-low-surrogate",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["\udc00"]}"#,
        ),
        (
            "escape-reversed-surrogate-pair",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["\udd25\ud83d"]}"#,
        ),
        (
            "escape-high-surrogate-then-letter",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["\ud83dA"]}"#,
        ),
        (
            "escape-lone-surrogate-in-unknown-field",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "note": "\ud800"}"#,
        ),
        (
            "escape-lone-surrogate-in-key",
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "\udfff": 1}"#,
        ),
        (
            "escape-truncated-unicode",
            r#"{"sensorId": "$ID\u12", "timestamp": $TS, "value": 21.5}"#,
        ),
    ];
    for (name, template) in escapes {
        out.push(single(name, fill(template, ids.take())));
    }
}

/// Protobuf that does not parse, and parsed `SensorReading`s that break the rules.
fn protobuf_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    out.push(proto("pb-empty-body", Vec::<u8>::new()));
    // Random bytes, the first forced to field 0 with wire type 7 so they can never parse.
    let mut garbage = pseudo_random(0x5eed_0001, 256);
    if let Some(first) = garbage.first_mut() {
        *first = 0x07;
    }
    out.push(proto("pb-random-bytes", garbage));
    out.push(proto("pb-all-0xff", vec![0xff_u8; 64]));

    let id_of = |n: i64| pb_bytes(1, sensor(n).as_bytes());
    let ts_of = |n: i64| pb_int64(2, ts_ms(n));

    let n = ids.take();
    out.push(proto(
        "pb-truncated-varint",
        [id_of(n), tag(2, VARINT), vec![0x80, 0x80]].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-varint-11-bytes",
        [id_of(n), tag(2, VARINT), vec![0xff; 10], vec![0x01]].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-wrong-wire-type-sensor-id",
        [tag(1, VARINT), varint(42), ts_of(n), pb_double(3, 21.5)].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-wrong-wire-type-ts",
        [
            id_of(n),
            pb_bytes(2, ts_ms(n).to_string().as_bytes()),
            pb_double(3, 21.5),
        ]
        .concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-wrong-wire-type-value",
        [id_of(n), ts_of(n), tag(3, VARINT), varint(21)].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-wrong-wire-type-battery",
        [pb_core(n), pb_double(6, 87.0)].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-length-beyond-buffer",
        [tag(1, LEN), varint(127), sensor(n).into_bytes()].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-length-near-u64-max",
        [tag(1, LEN), varint(u64::MAX), sensor(n).into_bytes()].concat(),
    ));
    out.push(proto(
        "pb-field-number-zero",
        [vec![0x00], pb_core(ids.take())].concat(),
    ));
    out.push(proto(
        "pb-wire-type-7",
        [tag(1, 7), pb_core(ids.take())].concat(),
    ));
    out.push(proto(
        "pb-unterminated-group",
        [pb_core(ids.take()), tag(15, SGROUP), pb_bytes(1, b"x")].concat(),
    ));
    out.push(proto(
        "pb-unmatched-end-group",
        [pb_core(ids.take()), tag(15, EGROUP)].concat(),
    ));
    out.push(proto(
        "pb-mismatched-end-group",
        [pb_core(ids.take()), tag(15, SGROUP), tag(14, EGROUP)].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-truncated-double",
        [id_of(n), ts_of(n), tag(3, I64), vec![0, 0, 0, 0]].concat(),
    ));

    // Messages that parse but break the rules.
    let values: [(&str, f64); 4] = [
        ("pb-nan-value", f64::NAN),
        (
            "pb-signalling-nan-value",
            f64::from_bits(0x7ff0_0000_0000_0001),
        ),
        ("pb-infinity-value", f64::INFINITY),
        ("pb-negative-infinity-value", f64::NEG_INFINITY),
    ];
    for (name, v) in values {
        let n = ids.take();
        out.push(proto(
            name,
            pb_reading(sensor(n).as_bytes(), Some(ts_ms(n)), Some(v)),
        ));
    }
    let timestamps: [(&str, i64); 4] = [
        ("pb-ts-negative", -1),
        ("pb-ts-i64-min", i64::MIN),
        ("pb-ts-year-2100-exactly", YEAR_2100_MS),
        ("pb-ts-year-2200", YEAR_2200_MS),
    ];
    for (name, ts) in timestamps {
        let n = ids.take();
        out.push(proto(
            name,
            pb_reading(sensor(n).as_bytes(), Some(ts), Some(21.5)),
        ));
    }
    let n = ids.take();
    out.push(proto(
        "pb-missing-sensor-id",
        [ts_of(n), pb_double(3, 21.5)].concat(),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-empty-sensor-id",
        pb_reading(b"", Some(ts_ms(n)), Some(21.5)),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-missing-ts",
        pb_reading(sensor(n).as_bytes(), None, Some(21.5)),
    ));
    let n = ids.take();
    out.push(proto(
        "pb-missing-value",
        pb_reading(sensor(n).as_bytes(), Some(ts_ms(n)), None),
    ));
    let bad_ids: [(&str, Vec<u8>); 5] = [
        ("pb-invalid-utf8-sensor-id", b"corpus-\xff\xfe".to_vec()),
        ("pb-overlong-utf8-sensor-id", b"corpus-\xc0\xaf".to_vec()),
        ("pb-sensor-id-129-bytes", vec![b'x'; 129]),
        ("pb-sensor-id-with-slash", b"corpus/1/#".to_vec()),
        ("pb-sensor-id-with-space", b"corpus 1".to_vec()),
    ];
    for (name, id) in bad_ids {
        let n = ids.take();
        out.push(proto(name, pb_reading(&id, Some(ts_ms(n)), Some(21.5))));
    }
    let batteries: [(&str, f32); 3] = [
        ("pb-battery-101", 101.0),
        ("pb-battery-negative", -1.0),
        ("pb-battery-nan", f32::NAN),
    ];
    for (name, battery) in batteries {
        out.push(proto(
            name,
            [pb_core(ids.take()), pb_float(6, battery)].concat(),
        ));
    }
    out.push(proto(
        "pb-flag-invalid-utf8",
        [pb_core(ids.take()), pb_bytes(4, b"m\xff")].concat(),
    ));
    let mut seventeen_flags = pb_core(ids.take());
    for _ in 0..17 {
        seventeen_flags.extend(pb_bytes(4, b"f"));
    }
    out.push(proto("pb-17-flags", seventeen_flags));
    out.push(proto(
        "pb-flag-65-bytes",
        [pb_core(ids.take()), pb_bytes(4, &[b'f'; 65])].concat(),
    ));
    out.push(proto(
        "pb-unit-33-bytes",
        [pb_core(ids.take()), pb_bytes(5, &[b'u'; 33])].concat(),
    ));
    out.push(proto(
        "pb-unit-latin1",
        [pb_core(ids.take()), pb_bytes(5, b"\xb0C")].concat(),
    ));
    // A valid reading plus an unknown field that takes it over 64 KiB.
    out.push(proto(
        "pb-over-64kib",
        [pb_valid(ids.take()), pb_bytes(15, &vec![b'x'; 70 * 1024])].concat(),
    ));
}

/// Bodies under a content type that does not describe them, or that the endpoint does not take.
fn content_type_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    // The header wins over sniffing.
    out.push(single_as(
        "ct-json-declared-protobuf",
        PROTOBUF,
        v1(ids.take()),
    ));
    out.push(single_as(
        "ct-protobuf-declared-json",
        JSON,
        pb_valid(ids.take()),
    ));
    out.push(single_as(
        "ct-json-declared-text-plain",
        "text/plain",
        v1(ids.take()),
    ));
    out.push(single_as("ct-png-declared-png", "image/png", png_bytes()));
    out.push(single_as("ct-png-declared-json", JSON, png_bytes()));
    out.push(single_as(
        "ct-protobuf-declared-octet-stream",
        "application/octet-stream",
        pb_valid(ids.take()),
    ));
    out.push(single_as(
        "ct-json-declared-truncated-type",
        "application/",
        v1(ids.take()),
    ));
    out.push(single_as(
        "ct-xml",
        "application/xml",
        fill(
            concat!(
                "<reading><sensorId>$ID</sensorId><timestamp>$TS</timestamp>",
                "<value>21.5</value></reading>"
            ),
            ids.take(),
        ),
    ));
    out.push(single_as(
        "ct-form-urlencoded",
        "application/x-www-form-urlencoded",
        fill("sensorId=$ID&timestamp=$TS&value=21.5", ids.take()),
    ));
    out.push(single_as(
        "ct-multipart",
        "multipart/form-data; boundary=corpus-boundary",
        format!(
            "--corpus-boundary\r\nContent-Disposition: form-data; name=\"reading\"\r\n\
             Content-Type: application/json\r\n\r\n{}\r\n--corpus-boundary--\r\n",
            v1(ids.take())
        ),
    ));
    out.push(single_as(
        "ct-yaml",
        "application/yaml",
        fill("sensorId: $ID\ntimestamp: $TS\nvalue: 21.5\n", ids.take()),
    ));
    // JSON between systems is UTF-8 (RFC 8259 section 8.1); the charset parameter changes nothing.
    out.push(single_as(
        "ct-utf16-json",
        "application/json; charset=utf-16",
        utf16le_with_bom(&v1(ids.take())),
    ));
    // No header: whatever the gateway sniffs, these bodies are invalid.
    out.push(single_as("ct-missing-with-text", "", "not a reading"));
    out.push(single_as(
        "ct-missing-with-nan-json",
        "",
        v1_set(ids.take(), "value", "NaN"),
    ));
    let n = ids.take();
    out.push(single_as(
        "ct-missing-with-nan-protobuf",
        "",
        pb_reading(sensor(n).as_bytes(), Some(ts_ms(n)), Some(f64::NAN)),
    ));

    // The batch endpoint takes a JSON array or NDJSON only.
    out.push(batch_as(
        "ct-batch-protobuf",
        PROTOBUF,
        pb_valid(ids.take()),
        None,
    ));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_as(
        "ct-batch-ndjson-declared-text-plain",
        "text/plain",
        m.ndjson("\n"),
        None,
    ));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_as(
        "ct-batch-array-declared-csv",
        "text/csv",
        m.array(),
        None,
    ));
    // Several objects are not one JSON text.
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_json(
        "ct-batch-ndjson-declared-json",
        m.ndjson("\n"),
        None,
    ));
    // One NDJSON line holding an array: not a reading, and the only line.
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_ndjson(
        "ct-batch-array-declared-ndjson",
        m.array(),
        None,
    ));
}

/// `/ingest/batch`: mixed batches, empty and malformed ones, and the count limit.
fn batch_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    // Bad readings first, in the middle and last, among 97 good ones.
    let mut m = Mix::default();
    for i in 0..100 {
        match i {
            0 => m.bad(v1_set(ids.take(), "value", r#""21.5""#)),
            50 => m.bad(v1_set(ids.take(), "sensorId", r#""corpus 50/x""#)),
            99 => m.bad(v1_set(ids.take(), "timestamp", YEAR_2200_MS.to_string())),
            _ => m.good(ids),
        };
    }
    out.push(batch_json(
        "batch-3-bad-among-100",
        m.array(),
        m.valid_readings(),
    ));

    // Elements that are not objects; `null` is not a reading either way.
    let mut m = Mix::default();
    m.good(ids)
        .bad("42")
        .bad(r#""corpus""#)
        .bad("null")
        .bad("true")
        .bad("[]")
        .bad("{}")
        .good(ids);
    out.push(batch_json(
        "batch-non-object-elements",
        m.array(),
        m.valid_readings(),
    ));

    // Readings wrapped in arrays are not readings.
    let mut m = Mix::default();
    m.bad(format!("[{}]", good_reading(ids.take())))
        .good(ids)
        .bad(format!("[[{}]]", good_reading(ids.take())));
    out.push(batch_json(
        "batch-nested-arrays",
        m.array(),
        m.valid_readings(),
    ));

    let mut m = Mix::default();
    m.good(ids)
        .bad(v1_set(ids.take(), "timestamp", format!("{}.5", BASE_TS_MS)))
        .bad(v1_with(ids.take(), [unset("sensorId")]))
        .good(ids)
        .bad(v1_set(ids.take(), "flags", string_array("f", 17)))
        .bad(v1_set(ids.take(), "sensorId", r#""corpus/1""#))
        .good(ids);
    out.push(batch_json(
        "batch-v1-near-misses",
        m.array(),
        m.valid_readings(),
    ));

    let mut m = Mix::default();
    let (a, b) = (ids.take(), ids.take());
    m.good(ids)
        .bad(v2_set(ids.take(), "battery", "101"))
        .bad(v2_set(ids.take(), "unit", "21"))
        .good(ids)
        .bad(v2_set(ids.take(), "schemaVersion", "3"))
        .bad(v2_set(a, "sensorId", quoted(&sensor(b))))
        .bad(v2_set(ids.take(), "ts", r#""2025-13-24T16:00:00.000Z""#))
        .good(ids);
    out.push(batch_json(
        "batch-v2-near-misses",
        m.array(),
        m.valid_readings(),
    ));

    // One element with 100,000 flags (some 400 KiB) between two good ones.
    let mut m = Mix::default();
    m.good(ids)
        .bad(v1_set(ids.take(), "flags", string_array("f", 100_000)))
        .good(ids);
    out.push(batch_json(
        "batch-huge-flags-element",
        m.array(),
        m.valid_readings(),
    ));

    // Nothing valid: rejected as a whole.
    out.push(batch_json("batch-empty-array", "[]", None));
    out.push(batch_json("batch-empty-body", "", None));
    out.push(batch_json("batch-whitespace-body", " \n\t ", None));
    out.push(batch_json("batch-null-body", "null", None));
    out.push(batch_json("batch-all-numbers", "[1, 2, 3]", None));
    out.push(batch_json("batch-all-nulls", "[null, null]", None));
    out.push(batch_json("batch-all-empty-objects", "[{}, {}, {}]", None));
    out.push(batch_json(
        "batch-object-instead-of-array",
        v1(ids.take()),
        None,
    ));
    let mut m = Mix::default();
    m.goods(ids, 2);
    out.push(batch_json(
        "batch-wrapped-in-object",
        format!("{{\"readings\": {}}}", m.array()),
        None,
    ));

    // Syntax errors anywhere make the whole array unreadable.
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_json(
        "batch-array-truncated",
        format!("[{}", m.items.join(", ")),
        None,
    ));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_json(
        "batch-array-trailing-comma",
        format!("[{},]", m.items.join(", ")),
        None,
    ));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_json(
        "batch-array-trailing-garbage",
        format!("{} garbage", m.array()),
        None,
    ));
    let (mut first, mut second) = (Mix::default(), Mix::default());
    first.goods(ids, 2);
    second.goods(ids, 2);
    out.push(batch_json(
        "batch-two-arrays",
        format!("{}{}", first.array(), second.array()),
        None,
    ));
    let mut m = Mix::default();
    m.good(ids)
        .bad(v1_set(ids.take(), "value", "NaN"))
        .good(ids);
    out.push(batch_json("batch-nan-element", m.array(), None));
    let mut m = Mix::default();
    m.good(ids)
        .bad(fill(
            "{'sensorId': '$ID', 'timestamp': $TS, 'value': 1}",
            ids.take(),
        ))
        .good(ids);
    out.push(batch_json("batch-single-quoted-element", m.array(), None));
    let (a, b) = (ids.take(), ids.take());
    out.push(batch_json(
        "batch-invalid-utf8",
        splice(
            &format!(
                "[{}, {}]",
                good_reading(a),
                v1_set(b, "sensorId", quoted(&format!("{}@@", sensor(b))))
            ),
            &[0xff, 0xfe],
        ),
        None,
    ));
    out.push(batch_json(
        "batch-deep-nesting-open",
        "[".repeat(100_000),
        None,
    ));
    out.push(batch_json(
        "batch-deep-nesting-closed",
        nested_arrays(100_000),
        None,
    ));

    // The count limit: 10,000 readings pass, 10,001 are rejected (about 650 KiB each, under
    // the 1 MiB body limit, so the count is what decides).
    out.push(batch_json(
        "batch-count-at-limit",
        tiny_array(ids, MAX_BATCH),
        Some(MAX_BATCH),
    ));
    out.push(batch_json(
        "batch-count-over-limit",
        tiny_array(ids, MAX_BATCH + 1),
        None,
    ));
    out.push(batch_ndjson(
        "ndjson-count-over-limit",
        tiny_ndjson(ids, MAX_BATCH + 1),
        None,
    ));

    // NDJSON: each line on its own; blank lines are skipped.
    let mut m = Mix::default();
    m.bad("")
        .good(ids)
        .bad("")
        .good(ids)
        .bad(v1_set(ids.take(), "value", r#""x""#))
        .bad("")
        .bad("")
        .good(ids)
        .bad("");
    out.push(batch_ndjson(
        "ndjson-blank-lines-one-bad",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids)
        .good(ids)
        .bad(v1_set(ids.take(), "value", "NaN"))
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-crlf-one-bad",
        m.ndjson("\r\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_ndjson(
        "ndjson-no-final-newline",
        m.items.join("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids).bad("   \t ").good(ids);
    out.push(batch_ndjson(
        "ndjson-whitespace-only-line",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.goods(ids, 2);
    let n = ids.take();
    out.push(batch_ndjson(
        "ndjson-truncated-last-line",
        format!("{}{}", m.ndjson("\n"), cut_after(&v1(n), "\"timest")),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids)
        .bad(v1_set(ids.take(), "value", "NaN"))
        .bad(v1_set(ids.take(), "value", "Infinity"))
        .bad(v1_set(ids.take(), "value", "-1e400"))
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-non-finite-lines",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids)
        .bad("42")
        .bad(r#""corpus""#)
        .bad("null")
        .bad("[]")
        .bad("true")
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-non-object-lines",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    // A reading spread over five lines is five bad lines.
    let mut m = Mix::default();
    m.good(ids)
        .bad(fill(
            "{\n  \"sensorId\": \"$ID\",\n  \"timestamp\": $TS,\n  \"value\": 21.5\n}",
            ids.take(),
        ))
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-pretty-printed-object",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    // Two readings on one line are one bad line.
    let mut m = Mix::default();
    m.good(ids)
        .bad(format!("{} {}", v1(ids.take()), v1(ids.take())))
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-two-objects-on-one-line",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids)
        .bad(fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["\ud800"]}"#,
            ids.take(),
        ))
        .good(ids);
    out.push(batch_ndjson(
        "ndjson-lone-surrogate-line",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    let mut m = Mix::default();
    m.good(ids).bad("\0").good(ids);
    out.push(batch_ndjson(
        "ndjson-nul-line",
        m.ndjson("\n"),
        m.valid_readings(),
    ));
    // Nothing valid.
    out.push(batch_ndjson("ndjson-empty-body", "", None));
    out.push(batch_ndjson("ndjson-only-blank-lines", "\n\n\r\n\n", None));
    let mut m = Mix::default();
    m.bad(v1_set(ids.take(), "value", "NaN"))
        .bad(v1_with(ids.take(), [unset("sensorId")]))
        .bad("{");
    out.push(batch_ndjson("ndjson-all-lines-bad", m.ndjson("\n"), None));
    // Lone CR is not a line break: all three readings make one (bad) line.
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(batch_ndjson(
        "ndjson-cr-only-separators",
        m.ndjson("\r"),
        None,
    ));
}

/// gzip bodies: broken content the caller compresses, and broken gzip sent as is.
fn gzip_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    // Encoding::Gzip: the gzip layer is fine, what is inside is not.
    out.push(gzipped(single(
        "gzip-truncated-json",
        cut_after(&v1(ids.take()), "\"value\":"),
    )));
    out.push(gzipped(single(
        "gzip-nan-value",
        v1_set(ids.take(), "value", "NaN"),
    )));
    out.push(gzipped(single("gzip-empty-single", "")));
    let mut garbage = pseudo_random(0x5eed_0002, 300);
    if let Some(first) = garbage.first_mut() {
        *first = 0x07;
    }
    out.push(gzipped(proto("gzip-protobuf-garbage", garbage)));
    // Compressed twice but declared once: one inflate leaves gzip bytes, not JSON.
    out.push(gzipped(single(
        "gzip-double-compressed",
        gzip_stored(v1(ids.take()).as_bytes()),
    )));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(gzipped(batch_json(
        "gzip-truncated-array",
        format!("[{}, {{\"sensorId\": ", m.items.join(", ")),
        None,
    )));
    out.push(gzipped(batch_json("gzip-empty-batch", "", None)));
    // Mixed batches through gzip: the good readings must still get in.
    let mut m = Mix::default();
    m.goods(ids, 2)
        .bad(v1_set(ids.take(), "value", "NaN"))
        .goods(ids, 2);
    out.push(gzipped(batch_ndjson(
        "gzip-ndjson-one-bad-line",
        m.ndjson("\n"),
        m.valid_readings(),
    )));
    let mut m = Mix::default();
    m.goods(ids, 4)
        .bad(v1_set(ids.take(), "value", "true"))
        .goods(ids, 4)
        .bad(v1_set(ids.take(), "timestamp", "-1"));
    out.push(gzipped(batch_json(
        "gzip-array-two-bad",
        m.array(),
        m.valid_readings(),
    )));

    // Encoding::GzipRaw: declared gzip, but the gzip itself is wrong. What it holds is valid,
    // so only the broken gzip layer rejects it.
    out.push(gzip_raw(single("gzipraw-plain-json", v1(ids.take()))));
    let mut m = Mix::default();
    m.goods(ids, 3);
    out.push(gzip_raw(batch_ndjson(
        "gzipraw-plain-ndjson",
        m.ndjson("\n"),
        None,
    )));
    out.push(gzip_raw(single("gzipraw-empty-body", "")));
    out.push(gzip_raw(single("gzipraw-magic-only", vec![0x1f_u8, 0x8b])));
    out.push(gzip_raw(single("gzipraw-header-only", gzip_header(8, 0))));
    let mut m = Mix::default();
    m.goods(ids, 10);
    let mut half = gzip_stored(m.array().as_bytes());
    half.truncate(half.len() / 2);
    out.push(gzip_raw(batch_json(
        "gzipraw-truncated-mid-body",
        half,
        None,
    )));
    let mut no_size = gzip_stored(v1(ids.take()).as_bytes());
    no_size.truncate(no_size.len() - 4);
    out.push(gzip_raw(single("gzipraw-truncated-trailer", no_size)));

    let data = v1(ids.take());
    let data = data.as_bytes();
    out.push(gzip_raw(single(
        "gzipraw-bad-crc",
        gzip_member(8, 0, &deflate_stored(data), !crc32(data), gzip_size(data)),
    )));
    let mut m = Mix::default();
    m.goods(ids, 3);
    let array = m.array();
    let array = array.as_bytes();
    out.push(gzip_raw(batch_json(
        "gzipraw-bad-size",
        gzip_member(
            8,
            0,
            &deflate_stored(array),
            crc32(array),
            gzip_size(array).wrapping_add(1),
        ),
        None,
    )));
    let mut bad_magic = gzip_stored(v1(ids.take()).as_bytes());
    if let Some(second) = bad_magic.get_mut(1) {
        *second = 0x8c;
    }
    out.push(gzip_raw(single("gzipraw-bad-magic", bad_magic)));

    let data = v1(ids.take());
    let data = data.as_bytes();
    out.push(gzip_raw(single(
        "gzipraw-unknown-method",
        gzip_member(7, 0, &deflate_stored(data), crc32(data), gzip_size(data)),
    )));
    let data = v1(ids.take());
    let data = data.as_bytes();
    // RFC 1952: a decompressor must report an error if a reserved flag bit is set.
    out.push(gzip_raw(single(
        "gzipraw-reserved-flag",
        gzip_member(
            8,
            FRESERVED,
            &deflate_stored(data),
            crc32(data),
            gzip_size(data),
        ),
    )));
    out.push(gzip_raw(single(
        "gzipraw-extra-field-overflow",
        [gzip_header(8, FEXTRA), vec![0xff, 0xff], b"short".to_vec()].concat(),
    )));
    out.push(gzip_raw(single(
        "gzipraw-unterminated-file-name",
        [gzip_header(8, FNAME), b"corpus.json".to_vec()].concat(),
    )));

    let data = v1(ids.take());
    let data = data.as_bytes();
    // BTYPE 11 is reserved.
    let mut deflate = vec![0x07_u8];
    deflate.extend_from_slice(data);
    out.push(gzip_raw(single(
        "gzipraw-invalid-block-type",
        gzip_member(8, 0, &deflate, crc32(data), gzip_size(data)),
    )));
    let data = v1(ids.take());
    let data = data.as_bytes();
    // A stored block whose NLEN is not the complement of LEN.
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    let mut deflate = vec![0x01_u8];
    deflate.extend_from_slice(&len.to_le_bytes());
    deflate.extend_from_slice(&len.to_le_bytes());
    deflate.extend_from_slice(data);
    out.push(gzip_raw(single(
        "gzipraw-stored-length-mismatch",
        gzip_member(8, 0, &deflate, crc32(data), gzip_size(data)),
    )));

    // Other compressed formats are not gzip.
    let data = v1(ids.take());
    let data = data.as_bytes();
    out.push(gzip_raw(single(
        "gzipraw-zlib-stream",
        [
            vec![0x78, 0x01],
            deflate_stored(data),
            adler32(data).to_be_bytes().to_vec(),
        ]
        .concat(),
    )));
    out.push(gzip_raw(single(
        "gzipraw-raw-deflate",
        deflate_stored(v1(ids.take()).as_bytes()),
    )));
    let mut random = pseudo_random(0x5eed_0003, 512);
    if let Some(first) = random.first_mut() {
        *first = 0x00;
    }
    out.push(gzip_raw(batch_json("gzipraw-random-bytes", random, None)));
}

/// MQTT payloads, all invalid. (A valid payload whose id differs from the topic's needs the
/// topic, which a case does not carry, so it is left to the test.)
fn mqtt_cases(out: &mut Vec<Case>, ids: &mut Ids) {
    out.push(mqtt_json("mqtt-empty-payload", ""));
    out.push(mqtt_json("mqtt-whitespace-payload", " \r\n\t"));
    out.push(mqtt_json("mqtt-null", "null"));
    out.push(mqtt_json("mqtt-bare-string", r#""corpus-reading""#));
    let mut m = Mix::default();
    m.goods(ids, 2);
    out.push(mqtt_json("mqtt-array-of-readings", m.array()));
    let mut m = Mix::default();
    m.goods(ids, 2);
    out.push(mqtt_json("mqtt-ndjson-two-readings", m.ndjson("\n")));
    out.push(mqtt_json(
        "mqtt-truncated-json",
        cut_after(&v1(ids.take()), "\"value\":"),
    ));
    out.push(mqtt_json(
        "mqtt-trailing-garbage",
        format!("{}}}garbage", v1(ids.take())),
    ));
    out.push(mqtt_json(
        "mqtt-single-quotes",
        fill(
            "{'sensorId': '$ID', 'timestamp': $TS, 'value': 21.5}",
            ids.take(),
        ),
    ));
    out.push(mqtt_json(
        "mqtt-nan-value",
        v1_set(ids.take(), "value", "NaN"),
    ));
    out.push(mqtt_json(
        "mqtt-infinity-value",
        v2_set(ids.take(), "value", "Infinity"),
    ));
    out.push(mqtt_json(
        "mqtt-1e400-value",
        v1_set(ids.take(), "value", "1e400"),
    ));
    out.push(mqtt_json(
        "mqtt-value-as-string",
        v1_set(ids.take(), "value", r#""21.5""#),
    ));
    out.push(mqtt_json(
        "mqtt-ts-year-2200",
        v1_set(ids.take(), "timestamp", YEAR_2200_MS.to_string()),
    ));
    out.push(mqtt_json(
        "mqtt-battery-101",
        v2_set(ids.take(), "battery", "101"),
    ));
    out.push(mqtt_json(
        "mqtt-id-with-topic-wildcards",
        v1_set(ids.take(), "sensorId", r#""corpus/+/#""#),
    ));
    out.push(mqtt_json(
        "mqtt-invalid-utf8",
        splice(
            &fill(
                r#"{"sensorId": "$ID@@", "timestamp": $TS, "value": 21.5}"#,
                ids.take(),
            ),
            &[0xff, 0xfe],
        ),
    ));
    out.push(mqtt_json(
        "mqtt-lone-surrogate",
        fill(
            r#"{"sensorId": "$ID", "timestamp": $TS, "value": 21.5, "flags": ["\ud800"]}"#,
            ids.take(),
        ),
    ));
    out.push(mqtt_json(
        "mqtt-deep-nesting",
        v1_set(ids.take(), "value", nested_arrays(20_000)),
    ));
    out.push(mqtt_json(
        "mqtt-json-over-64kib",
        v1_set(ids.take(), "padding", quoted(&"x".repeat(70 * 1024))),
    ));
    out.push(mqtt_json(
        "mqtt-gzip-payload",
        gzip_stored(v1(ids.take()).as_bytes()),
    ));
    out.push(mqtt_proto(
        "mqtt-protobuf-over-64kib",
        [pb_valid(ids.take()), pb_bytes(15, &vec![b'x'; 70 * 1024])].concat(),
    ));
    let mut garbage = pseudo_random(0x5eed_0004, 128);
    if let Some(first) = garbage.first_mut() {
        *first = 0x07;
    }
    out.push(mqtt_proto("mqtt-protobuf-garbage", garbage));
    let n = ids.take();
    out.push(mqtt_proto(
        "mqtt-protobuf-truncated-varint",
        [
            pb_bytes(1, sensor(n).as_bytes()),
            tag(2, VARINT),
            vec![0xff],
        ]
        .concat(),
    ));
    let n = ids.take();
    out.push(mqtt_proto(
        "mqtt-protobuf-nan",
        pb_reading(sensor(n).as_bytes(), Some(ts_ms(n)), Some(f64::NAN)),
    ));
    let n = ids.take();
    out.push(mqtt_proto(
        "mqtt-protobuf-invalid-utf8-id",
        pb_reading(b"corpus-\xff", Some(ts_ms(n)), Some(21.5)),
    ));
}
