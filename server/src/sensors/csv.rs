//! Sensors from CSV, as spreadsheets write it (RFC 4180: a header row,
//! `,` between fields, `"…"` around a field that holds `,`, `"` or a line
//! break, `""` for a quote inside; CRLF or LF). Each row becomes the JSON
//! body of `PUT /api/sensors/{id}`, so a row is checked exactly as the API
//! checks a body; every bad row is named by its line.
//!
//! Columns (any order, by header name; only `sensor_id`, `kind` and `zone`
//! are needed): `sensor_id, kind, zone, location, unit, warn_low,
//! warn_high, crit_low, crit_high, valid_min, valid_max, valid_from_ms,
//! expected_interval_ms`. An empty cell is absent (the kind's default).

use serde_json::{Map, Value, json};

use weir_dataflow::Sensor;

/// Every column a file may have.
pub const COLUMNS: [&str; 13] = [
    "sensor_id",
    "kind",
    "zone",
    "location",
    "unit",
    "warn_low",
    "warn_high",
    "crit_low",
    "crit_high",
    "valid_min",
    "valid_max",
    "valid_from_ms",
    "expected_interval_ms",
];

/// One CSV record: fields quoted where RFC 4180 needs it (a `,`, `"`, CR
/// or LF inside; `"` doubled), joined by `,`, ended by CRLF.
pub fn write_row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut row = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.contains([',', '"', '\r', '\n']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

/// A sensor as a row of [`COLUMNS`] (what `weir sensors export` writes and
/// `import` reads back).
pub fn sensor_row(s: &Sensor) -> String {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let integer = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let t = s.thresholds;
    write_row(&[
        s.sensor_id.as_str().to_owned(),
        s.kind.name().to_owned(),
        s.zone.clone(),
        s.location.clone(),
        s.unit.clone(),
        number(t.warn_low),
        number(t.warn_high),
        number(t.crit_low),
        number(t.crit_high),
        s.valid_range.min.to_string(),
        s.valid_range.max.to_string(),
        integer(s.valid_from_ms),
        integer(s.expected_interval_ms),
    ])
}

/// A sensor and the line its row starts on.
pub type Row = (usize, Sensor);

/// A row that cannot be a sensor: its line (1 = the header) and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowError {
    /// The line the row starts on.
    pub line: usize,
    /// The sensor id, when the row has one.
    pub sensor_id: Option<String>,
    /// What is wrong, naming the column.
    pub reason: String,
}

/// Splits `text` into records of fields, each with the line it starts on.
/// A quote left open is an error naming the line it opened on.
pub fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1, 1);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                let row = std::mem::take(&mut fields);
                if !(row.len() == 1 && row[0].is_empty()) {
                    out.push((start, row));
                }
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(RowError {
            line: start,
            sensor_id: None,
            reason: "a quoted field is never closed".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

/// The sensors of a CSV file (with their lines), each checked as `PUT /api/sensors/{id}`
/// checks a body (`valid_from_ms` defaults to `now_ms`), and the rows that
/// are not; the header's problems fail the whole file.
pub fn sensors(
    text: &str,
    now_ms: i64,
    kinds: &super::kinds::Kinds,
) -> Result<(Vec<Row>, Vec<RowError>), RowError> {
    let mut rows = records(text)?.into_iter();
    let (header_line, header) = rows.next().ok_or_else(|| RowError {
        line: 1,
        sensor_id: None,
        reason: "empty file: expected a header row (sensor_id,kind,zone,…)".into(),
    })?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    for (i, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            return Err(RowError {
                line: header_line,
                sensor_id: None,
                reason: format!(
                    "column {} `{name}` is not one of {}",
                    i + 1,
                    COLUMNS.join(", ")
                ),
            });
        }
        if header[..i].contains(name) {
            return Err(RowError {
                line: header_line,
                sensor_id: None,
                reason: format!("column `{name}` appears twice"),
            });
        }
    }
    for needed in ["sensor_id", "kind", "zone"] {
        if !header.iter().any(|h| h == needed) {
            return Err(RowError {
                line: header_line,
                sensor_id: None,
                reason: format!("no `{needed}` column"),
            });
        }
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for (line, row) in rows {
        let cell = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| row.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let id = cell("sensor_id").map(str::to_string);
        let fail = |reason: String| RowError {
            line,
            sensor_id: id.clone(),
            reason,
        };
        if row.len() != header.len() {
            bad.push(fail(format!(
                "{} fields where the header has {}",
                row.len(),
                header.len()
            )));
            continue;
        }
        let Some(sensor_id) = id.clone() else {
            bad.push(fail("`sensor_id` is empty".into()));
            continue;
        };
        if let Some(first) = seen.get(&sensor_id) {
            bad.push(fail(format!(
                "sensor `{sensor_id}` is on line {first} already"
            )));
            continue;
        }
        seen.insert(sensor_id.clone(), line);
        match body(&cell) {
            Err(reason) => bad.push(fail(reason)),
            Ok(body) => match super::sensor_from_body(&sensor_id, body.as_bytes(), now_ms, kinds) {
                Ok(sensor) => good.push((line, sensor)),
                Err(e) => bad.push(fail(e.detail)),
            },
        }
    }
    Ok((good, bad))
}

/// A row's cells as the JSON body of `PUT /api/sensors/{id}`.
fn body<'a>(cell: &impl Fn(&str) -> Option<&'a str>) -> Result<String, String> {
    let number = |name: &str| -> Result<Option<Value>, String> {
        cell(name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(|n| json!(n))
                    .ok_or_else(|| format!("`{name}`: `{v}` is not a number"))
            })
            .transpose()
    };
    let integer = |name: &str| -> Result<Option<Value>, String> {
        cell(name)
            .map(|v| {
                v.parse::<i64>()
                    .map(|n| json!(n))
                    .map_err(|_| format!("`{name}`: `{v}` is not a whole number"))
            })
            .transpose()
    };
    let mut map = Map::new();
    for name in ["kind", "zone", "location", "unit"] {
        if let Some(v) = cell(name) {
            map.insert(name.into(), json!(v));
        }
    }
    let mut thresholds = Map::new();
    for name in ["warn_low", "warn_high", "crit_low", "crit_high"] {
        if let Some(v) = number(name)? {
            thresholds.insert(name.into(), v);
        }
    }
    if !thresholds.is_empty() {
        map.insert("thresholds".into(), Value::Object(thresholds));
    }
    match (number("valid_min")?, number("valid_max")?) {
        (None, None) => {}
        (Some(min), Some(max)) => {
            map.insert("valid_range".into(), json!({"min": min, "max": max}));
        }
        _ => return Err("`valid_min` and `valid_max`: both or neither".into()),
    }
    for name in ["valid_from_ms", "expected_interval_ms"] {
        if let Some(v) = integer(name)? {
            map.insert(name.into(), v);
        }
    }
    Ok(Value::Object(map).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::kinds::Kinds;

    #[test]
    fn quoted_fields_commas_and_line_breaks_split_as_rfc_4180() -> Result<(), RowError> {
        let text = "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n\n";
        let rows = records(text)?;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], (2, vec!["x, y".into(), "say \"hi\"".into()]));
        assert_eq!(rows[2], (3, vec!["two\nlines".into(), "z".into()]));
        assert!(records("a\n\"open").is_err_and(|e| e.line == 2));
        Ok(())
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() -> Result<(), RowError> {
        let text = "sensor_id,kind,zone,warn_high,crit_high,valid_min,valid_max,location\n\
                    tmp-1,temperature,north,40,60,,,\"portal, east\"\n\
                    tmp-2,temperature,north,60,40,,,\n\
                    tmp-3,plasma,north,,,,,\n\
                    tmp-4,voltage,north,,,0,,\n\
                    tmp-1,temperature,south,,,,,\n\
                    ,temperature,north,,,,,\n\
                    tmp-5,voltage,north,x,,,,\n\
                    tmp-6,voltage\n\
                    vlt-7,voltage,grid,,,0,500,\n";
        let (good, bad) = sensors(text, 1_000, &Kinds::built_in())?;
        let ids: Vec<(usize, &str)> = good
            .iter()
            .map(|(line, s)| (*line, s.sensor_id.as_str()))
            .collect();
        assert_eq!(ids, [(2, "tmp-1"), (10, "vlt-7")]);
        assert_eq!(good[0].1.location, "portal, east");
        assert_eq!(good[0].1.valid_from_ms, Some(1_000));
        let lines: Vec<usize> = bad.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9], "{bad:?}");
        assert!(bad[0].reason.contains("thresholds"), "{bad:?}");
        assert!(bad[1].reason.contains("unknown kind `plasma`"), "{bad:?}");
        assert!(bad[2].reason.contains("both or neither"), "{bad:?}");
        assert!(bad[3].reason.contains("line 2"), "{bad:?}");
        assert!(bad[5].reason.contains("`warn_high`"), "{bad:?}");
        assert!(bad[6].reason.contains("fields"), "{bad:?}");
        Ok(())
    }

    #[test]
    fn exported_rows_import_as_the_same_sensors() -> Result<(), RowError> {
        let text = "sensor_id,kind,zone,location,warn_high,crit_high,valid_min,valid_max,expected_interval_ms\n\
                    tmp-1,temperature,north,\"portal, \"\"east\"\"\",40,60.5,-40,125,60000\n\
                    vlt-2,voltage,grid,,,,0,500,\n";
        let kinds = Kinds::built_in();
        let (first, bad) = sensors(text, 1_000, &kinds)?;
        assert!(bad.is_empty(), "{bad:?}");
        let mut exported = write_row(&COLUMNS);
        for (_, s) in &first {
            exported.push_str(&sensor_row(s));
        }
        let (again, bad) = sensors(&exported, 2_000, &kinds)?;
        assert!(bad.is_empty(), "{bad:?}");
        let strip = |rows: Vec<Row>| rows.into_iter().map(|(_, s)| s).collect::<Vec<_>>();
        assert_eq!(strip(again), strip(first), "{exported}");
        Ok(())
    }

    #[test]
    fn header_problems_fail_the_file() {
        let none = Kinds::default();
        assert!(sensors("", 0, &none).is_err());
        assert!(
            sensors("sensor_id,kind,zone,colour\n", 0, &none)
                .is_err_and(|e| e.reason.contains("colour"))
        );
        assert!(sensors("sensor_id,kind\n", 0, &none).is_err_and(|e| e.reason.contains("zone")));
        assert!(
            sensors("sensor_id,kind,zone,kind\n", 0, &none)
                .is_err_and(|e| e.reason.contains("twice"))
        );
    }
}
