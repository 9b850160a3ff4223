//! `GET /api/sensors/{id}/history?from=&to=&resolution=raw|5m|1h|auto`:
//! picks the source by range and resolution, says which one answered, and
//! refuses responses past `max_points`.
//!
//! | resolution | range                                  | source       |
//! |------------|----------------------------------------|--------------|
//! | auto, raw  | ≤ `hot_max_range_ms`, hot tier covers it | hot          |
//! | auto, raw  | ≤ `raw_max_range_ms` (7 d)             | `readings`   |
//! | raw        | longer                                 | 400          |
//! | auto       | ≤ 30 d                                 | `sensor_5m`  |
//! | auto       | longer                                 | `sensor_1h`  |
//! | 5m / 1h    | any (point limit applies)              | `sensor_5m` / `sensor_1h` |

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::ServerConfig;
use crate::db::{Db, query_error};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::hub::now_ms;
use weir_dataflow::records::WindowSize;

const DAY_MS: i64 = 86_400_000;

/// The coarsest window size (what `auto` falls back to).
const COARSEST: WindowSize = WindowSize::ALL[WindowSize::ALL.len() - 1];

/// `auto` picks the finest window table whose buckets over the range
/// number at most this (30 days of 5-minute windows); else the coarsest.
const AUTO_MAX_BUCKETS: i64 = 8_640;

/// Where history comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The in-memory hot tier.
    Hot,
    /// Raw `readings`.
    Readings,
    /// A window table (`sensor_5m`, `sensor_1h`).
    Windows(WindowSize),
}

impl Source {
    /// The name answers carry: `hot`, `readings`, or the window table.
    pub fn name(self) -> &'static str {
        match self {
            Source::Hot => "hot",
            Source::Readings => "readings",
            Source::Windows(size) => size.table(),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// The `resolution` values a request may give: `auto`, `raw` and each window size.
pub fn requested_resolutions() -> Vec<&'static str> {
    let mut names = vec!["auto"];
    names.extend(answered_resolutions());
    names
}

/// The `resolution` values an answer carries: `raw` and each window size.
pub fn answered_resolutions() -> Vec<&'static str> {
    let mut names = vec!["raw"];
    names.extend(WindowSize::ALL.iter().map(|s| s.name()));
    names
}

/// The `source` values an answer carries.
pub fn sources() -> Vec<&'static str> {
    let mut names = vec![Source::Hot.name(), Source::Readings.name()];
    names.extend(WindowSize::ALL.iter().map(|s| s.table()));
    names
}

/// What the caller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Let the range decide.
    Auto,
    /// Every reading.
    Raw,
    /// One window size (`5m`, `1h`).
    Window(WindowSize),
}

/// A validated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Range start (ms, inclusive).
    pub from: i64,
    /// Range end (ms, inclusive).
    pub to: i64,
    /// Requested resolution.
    pub resolution: Resolution,
}

/// The epoch-milliseconds parameter `name`, if given; a 400 naming it if
/// malformed or outside years 1 to 9999 (see [`crate::params::time`]).
pub fn time_param(params: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    crate::params::time(params, name)
}

/// Parses and checks the query parameters (`to` defaults to now, `from` to an hour before `to`).
pub fn parse(params: &BTreeMap<String, String>) -> Result<Request, ApiError> {
    for key in params.keys() {
        if !["from", "to", "resolution"].contains(&key.as_str()) {
            return Err(ApiError::bad_parameter(
                key,
                "unknown parameter (expected from, to, resolution)",
            ));
        }
    }
    let to = time_param(params, "to")?.unwrap_or_else(now_ms);
    let from = time_param(params, "from")?.unwrap_or(to.saturating_sub(3_600_000));
    if from > to {
        return Err(ApiError::bad_parameter(
            "from",
            format!("{from} is after `to` ({to})"),
        ));
    }
    let resolution = match params.get("resolution").map(String::as_str) {
        None | Some("auto") => Resolution::Auto,
        Some("raw") => Resolution::Raw,
        Some(other) => match WindowSize::ALL.into_iter().find(|s| s.name() == other) {
            Some(size) => Resolution::Window(size),
            None => {
                let sizes: Vec<&str> = WindowSize::ALL.iter().map(|s| s.name()).collect();
                return Err(ApiError::bad_parameter(
                    "resolution",
                    format!("`{other}` is not one of raw, {}, auto", sizes.join(", ")),
                ));
            }
        },
    };
    Ok(Request {
        from,
        to,
        resolution,
    })
}

/// The source for `request`, given whether the hot tier covers its start.
pub fn choose(
    request: &Request,
    hot_covers: bool,
    config: &ServerConfig,
) -> Result<Source, ApiError> {
    let range = request.to - request.from;
    let hot = hot_covers && range <= config.hot_max_range_ms;
    Ok(match request.resolution {
        Resolution::Window(size) => Source::Windows(size),
        Resolution::Raw if hot => Source::Hot,
        Resolution::Raw if range <= config.raw_max_range_ms => Source::Readings,
        Resolution::Raw => {
            return Err(ApiError::bad_parameter(
                "resolution",
                format!(
                    "raw readings are served for ranges up to {} days; this one spans {:.1} days: use 5m or 1h",
                    config.raw_max_range_ms / DAY_MS,
                    range as f64 / DAY_MS as f64
                ),
            ));
        }
        Resolution::Auto if hot => Source::Hot,
        Resolution::Auto if range <= config.raw_max_range_ms => Source::Readings,
        Resolution::Auto => Source::Windows(
            WindowSize::ALL
                .into_iter()
                .find(|size| range <= AUTO_MAX_BUCKETS * size.millis())
                .unwrap_or(COARSEST),
        ),
    })
}

fn too_many(count: usize, config: &ServerConfig, hint: &str) -> ApiError {
    ApiError::too_many_points(format!(
        "the range holds more than {} points (the limit per response{}); narrow the range{hint}",
        config.max_points,
        if count > config.max_points {
            format!(", at least {count}")
        } else {
            String::new()
        }
    ))
}

/// Answers a history request.
pub async fn history(
    hub: &Hub,
    db: &Db,
    id: &str,
    params: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let request = parse(params)?;
    let config = hub.config();
    let hot_points = hub.hot_points(id, request.from, request.to);
    let source = choose(&request, hot_points.is_some(), config)?;
    let (resolution, points): (&str, Vec<Value>) = match source {
        Source::Hot => {
            let points = hot_points.unwrap_or_default();
            if points.len() > config.max_points {
                return Err(too_many(points.len(), config, ""));
            }
            (
                "raw",
                points
                    .iter()
                    .map(|(t, v)| json!({"t": t, "value": v}))
                    .collect(),
            )
        }
        Source::Readings => {
            let client = db.client().await?;
            let limit = i64::try_from(config.max_points).unwrap_or(i64::MAX) + 1;
            let rows = client
                .query(
                    "SELECT (extract(epoch FROM time) * 1000)::bigint, value FROM readings \
                     WHERE sensor_id = $1 AND time >= to_timestamp($2::float8 / 1000) \
                     AND time <= to_timestamp($3::float8 / 1000) ORDER BY time LIMIT $4",
                    &[&id, &(request.from as f64), &(request.to as f64), &limit],
                )
                .await
                .map_err(query_error)?;
            if rows.len() > config.max_points {
                return Err(too_many(rows.len(), config, " or ask for resolution=5m"));
            }
            (
                "raw",
                rows.iter()
                    .map(|r| json!({"t": r.get::<_, i64>(0), "value": r.get::<_, f64>(1)}))
                    .collect(),
            )
        }
        Source::Windows(size) => {
            let (table, width) = (size.table(), size.millis());
            let expected =
                usize::try_from((request.to - request.from) / width + 1).unwrap_or(usize::MAX);
            if expected > config.max_points {
                let coarser = WindowSize::ALL.into_iter().find(|s| s.millis() > width);
                let hint = coarser.map_or(String::new(), |s| {
                    format!(" or ask for resolution={}", s.name())
                });
                return Err(too_many(expected, config, &hint));
            }
            let client = db.client().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT (extract(epoch FROM bucket) * 1000)::bigint, count, avg, min, max FROM {table} \
                         WHERE sensor_id = $1 AND bucket >= to_timestamp($2::float8 / 1000) \
                         AND bucket <= to_timestamp($3::float8 / 1000) ORDER BY bucket"
                    ),
                    &[&id, &(request.from as f64), &(request.to as f64)],
                )
                .await
                .map_err(query_error)?;
            (
                size.name(),
                rows.iter()
                    .map(|r| {
                        json!({"t": r.get::<_, i64>(0), "count": r.get::<_, i64>(1), "avg": r.get::<_, f64>(2),
                               "min": r.get::<_, f64>(3), "max": r.get::<_, f64>(4)})
                    })
                    .collect(),
            )
        }
    };
    if points.is_empty() && hub.sensor(id).is_none() && !known_in_db(db, id).await? {
        return Err(ApiError::not_found(format!("no sensor `{id}`")));
    }
    Ok(json!({
        "sensor_id": id,
        "source": source,
        "resolution": resolution,
        "from": request.from,
        "to": request.to,
        "points": points,
    }))
}

async fn known_in_db(db: &Db, id: &str) -> Result<bool, ApiError> {
    let client = db.client().await?;
    let row = tokio::time::timeout(
        Duration::from_secs(10),
        client.query_opt(
            "SELECT 1 FROM sensors WHERE sensor_id = $1 UNION ALL SELECT 1 FROM sensor_latest WHERE sensor_id = $1 LIMIT 1",
            &[&id],
        ),
    )
    .await
    .map_err(|_| ApiError::unavailable("postgres: timed out"))?
    .map_err(query_error)?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_range_picks_the_source() {
        let config = ServerConfig::default();
        let req = |from: i64, to: i64, resolution| Request {
            from,
            to,
            resolution,
        };
        let hour = 3_600_000;
        assert_eq!(
            choose(&req(0, hour, Resolution::Auto), true, &config).ok(),
            Some(Source::Hot)
        );
        assert_eq!(
            choose(&req(0, hour, Resolution::Auto), false, &config).ok(),
            Some(Source::Readings)
        );
        assert_eq!(
            choose(&req(0, 2 * hour, Resolution::Auto), true, &config).ok(),
            Some(Source::Readings)
        );
        assert_eq!(
            choose(&req(0, 7 * DAY_MS, Resolution::Auto), true, &config).ok(),
            Some(Source::Readings)
        );
        assert_eq!(
            choose(&req(0, 8 * DAY_MS, Resolution::Auto), true, &config).ok(),
            Some(Source::Windows(WindowSize::FiveMinutes))
        );
        assert_eq!(
            choose(&req(0, 31 * DAY_MS, Resolution::Auto), true, &config).ok(),
            Some(Source::Windows(WindowSize::OneHour))
        );
        assert_eq!(
            choose(
                &req(0, hour, Resolution::Window(WindowSize::FiveMinutes)),
                true,
                &config
            )
            .ok(),
            Some(Source::Windows(WindowSize::FiveMinutes))
        );
        assert_eq!(
            choose(
                &req(0, hour, Resolution::Window(WindowSize::OneHour)),
                true,
                &config
            )
            .ok(),
            Some(Source::Windows(WindowSize::OneHour))
        );
        let err = choose(&req(0, 8 * DAY_MS, Resolution::Raw), true, &config).err();
        assert!(err.is_some_and(|e| e.error == "bad_parameter" && e.detail.contains("7 days")));
    }

    #[test]
    fn the_documented_values_are_the_ones_served() {
        for name in requested_resolutions() {
            assert!(
                parse(&params(&[("resolution", name)])).is_ok(),
                "`{name}` is documented but refused"
            );
        }
        let config = ServerConfig::default();
        for (from, to, hot) in [(0, 1, true), (0, 1, false), (0, 40 * DAY_MS, false)] {
            for name in requested_resolutions() {
                let request = parse(&params(&[
                    ("from", &from.to_string()),
                    ("to", &to.to_string()),
                    ("resolution", name),
                ]));
                if let Ok(source) = request.and_then(|r| choose(&r, hot, &config)) {
                    assert!(sources().contains(&source.name()), "{source:?}");
                }
            }
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = |p: &[(&str, &str)]| {
            parse(&params(p))
                .err()
                .map(|e| e.detail)
                .unwrap_or_default()
        };
        assert!(err(&[("from", "yesterday")]).contains("`from`"));
        assert!(err(&[("from", "10"), ("to", "5")]).contains("after `to`"));
        assert!(err(&[("resolution", "2m")]).contains("`resolution`"));
        assert!(err(&[("form", "1")]).contains("`form`"));
        assert!(err(&[("from", "-9223372036854775808")]).contains("years 1 to 9999"));
        assert!(err(&[("to", "253402300800000")]).contains("`to`"));
        assert_eq!(
            parse(&params(&[
                ("from", "5"),
                ("to", "10"),
                ("resolution", "raw")
            ]))
            .ok(),
            Some(Request {
                from: 5,
                to: 10,
                resolution: Resolution::Raw
            })
        );
    }
}
