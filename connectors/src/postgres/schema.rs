//! The schema: versioned migrations embedded in the binary, and the layout
//! of `readings` (a TimescaleDB hypertable when the extension is available,
//! else a table range-partitioned by day, with a default partition as a
//! safety net).
//!
//! Migrations run in one transaction under an advisory lock, so several
//! workers and processes starting together apply them once.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::Client;
use tracing::info;

use super::PostgresConfig;
use crate::ConnectorError;
use crate::preflight::{POSTGRES, check_reachable};
pub(crate) use weir_dataflow::clock::now_ms;

/// How `readings` is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A TimescaleDB hypertable with compression and retention policies.
    Timescale,
    /// Native range partitions, one per day, created ahead; old ones dropped.
    NativePartitions,
}

const DAY_MS: i64 = 86_400_000;

/// Migrations after the layout-specific creation of `readings` (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[
    (
        2,
        r#"
CREATE TABLE sensor_5m (
    sensor_id text NOT NULL, bucket timestamptz NOT NULL,
    count bigint NOT NULL, sum double precision NOT NULL, avg double precision NOT NULL,
    min double precision NOT NULL, max double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, bucket));
CREATE TABLE sensor_1h (LIKE sensor_5m INCLUDING ALL);
CREATE TABLE sensor_latest (
    sensor_id text PRIMARY KEY, zone text NOT NULL, time timestamptz NOT NULL,
    value double precision NOT NULL, mean double precision, stddev double precision,
    severity text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE zone_state (
    zone text NOT NULL, start_time timestamptz NOT NULL, end_time timestamptz NOT NULL,
    peak_sensors int NOT NULL, sensors text[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (zone, start_time));
CREATE TABLE anomalies (
    kafka_partition int NOT NULL, kafka_offset bigint NOT NULL,
    sensor_id text NOT NULL, zone text NOT NULL, time timestamptz NOT NULL,
    value double precision NOT NULL, mean double precision, stddev double precision,
    samples bigint NOT NULL, z double precision, z_severity text,
    threshold_kind text, threshold double precision, severity text NOT NULL,
    PRIMARY KEY (kafka_partition, kafka_offset));
CREATE INDEX anomalies_zone_time ON anomalies (zone, time);
CREATE TABLE dead_letters (
    kafka_partition int NOT NULL, kafka_offset bigint NOT NULL, reason text NOT NULL,
    key text NOT NULL, payload bytea NOT NULL, detail text NOT NULL,
    record_time timestamptz NOT NULL,
    PRIMARY KEY (kafka_partition, kafka_offset, reason));
CREATE TABLE sensors (
    sensor_id text PRIMARY KEY, kind text NOT NULL, location text NOT NULL,
    zone text NOT NULL, unit text NOT NULL,
    warn_high double precision, crit_high double precision,
    warn_low double precision, crit_low double precision,
    valid_min double precision NOT NULL, valid_max double precision NOT NULL,
    valid_from timestamptz, removed boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE source_offsets (
    topic text NOT NULL, kafka_partition int NOT NULL,
    next_offset bigint NOT NULL, clock_ms bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition));
CREATE TABLE source_checkpoints (
    topic text NOT NULL, kafka_partition int NOT NULL,
    next_offset bigint NOT NULL, clock_ms bigint NOT NULL,
    PRIMARY KEY (topic, kafka_partition, next_offset));
"#,
    ),
    (
        3,
        r#"
CREATE TABLE alerts (
    alert_id text PRIMARY KEY, scope text NOT NULL, sensor_id text, zone text NOT NULL,
    kind text NOT NULL, state text NOT NULL, level text NOT NULL, severity text NOT NULL,
    status text NOT NULL, fired_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    resolved_at timestamptz, occurrences bigint NOT NULL, value double precision,
    acked_by text, members text[] NOT NULL, group_id text, silence_id text,
    doc jsonb NOT NULL, stored_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX alerts_state_zone ON alerts (state, zone);
CREATE INDEX alerts_key ON alerts (coalesce(sensor_id, alert_id), kind, fired_at);
CREATE TABLE alert_events (
    event_id text PRIMARY KEY, alert_id text NOT NULL, event text NOT NULL,
    time timestamptz NOT NULL, deliver boolean NOT NULL, reason text, payload jsonb NOT NULL,
    kafka_partition int NOT NULL, kafka_offset bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX alert_events_alert ON alert_events (alert_id, time);
CREATE TABLE alert_deliveries (
    event_id text NOT NULL REFERENCES alert_events ON DELETE CASCADE,
    channel text NOT NULL, state text NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0, last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, channel));
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, next_attempt_at)
    WHERE state <> 'delivered';
CREATE TABLE silences (
    silence_id text PRIMARY KEY, sensor_id text, zone text, kind text,
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
    author text NOT NULL, comment text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
"#,
    ),
    (
        4,
        r#"
CREATE TABLE ingest_tokens (
    token_sha256 text PRIMARY KEY, device text NOT NULL, sensors text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now());
COMMENT ON TABLE ingest_tokens IS 'Device tokens of the ingest gateways: SHA-256 hex of the secret, the device, the sensor ids (or prefixes ending in *) it may send; read with ingest.auth.from_postgres';
"#,
    ),
    (
        5,
        r#"
CREATE TABLE source_gaps (
    topic text NOT NULL, kafka_partition int NOT NULL,
    from_offset bigint NOT NULL, to_offset bigint NOT NULL, kind text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, from_offset, kind));
COMMENT ON TABLE source_gaps IS 'Records of the readings topic weir never read (kafka.on_gap = record): deleted before they were stored (retention), beyond_end (the topic was recreated), or skipped by the broker';
"#,
    ),
    (
        6,
        r#"
ALTER TABLE alert_deliveries ADD COLUMN refusals int NOT NULL DEFAULT 0;
COMMENT ON COLUMN alert_deliveries.state IS 'pending, failing (the channel is unreachable; retried in order), delivered, or failed (the receiver refused this event delivery.max_attempts times: parked with last_error, not retried)';
COMMENT ON COLUMN alert_deliveries.refusals IS 'Times the receiver answered this event with an error (408/429 excepted)';
"#,
    ),
    (
        7,
        r#"
CREATE INDEX anomalies_time ON anomalies (time);
CREATE INDEX dead_letters_record_time ON dead_letters (record_time);
CREATE INDEX alerts_resolved_at ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX silences_ends_at ON silences (ends_at);
"#,
    ),
    (
        8,
        r#"
ALTER TABLE sensors ADD COLUMN expected_interval_ms bigint;
COMMENT ON COLUMN sensors.expected_interval_ms IS 'How often the sensor reports, as its registry record states (silent-sensor alerts default to alerts.silent_after_intervals times it)';
"#,
    ),
    (
        9,
        r#"
CREATE TABLE api_tokens (
    token_id text PRIMARY KEY, name text NOT NULL,
    role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    zones text[], token_sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), created_by text NOT NULL,
    expires_at timestamptz, revoked_at timestamptz, revoked_by text);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
COMMENT ON TABLE api_tokens IS 'Tokens of the REST API, WebSocket and dashboard: SHA-256 hex of weir_<token_id>_<secret>, never the secret; zones NULL = every zone';
CREATE TABLE audit_log (
    audit_id bigserial PRIMARY KEY, time timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL, token_id text NOT NULL, role text NOT NULL,
    action text NOT NULL, target text NOT NULL, detail jsonb NOT NULL DEFAULT '{}');
CREATE INDEX audit_log_time ON audit_log (time);
COMMENT ON TABLE audit_log IS 'Who acknowledged, silenced, or changed a token or sensor, and when (actor = the token name; token_id - = authentication disabled, cli = weir token on the database host)';
"#,
    ),
    (
        10,
        r#"
CREATE TABLE sensor_versions (
    sensor_id text NOT NULL, valid_from timestamptz NOT NULL,
    record_time timestamptz NOT NULL, removed boolean NOT NULL,
    kind text, zone text, doc jsonb,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, valid_from, record_time));
COMMENT ON TABLE sensor_versions IS 'Every registry record the pipeline has read, one row per version: doc is the record as the dataflow applies it from valid_from (NULL and removed for a tombstone); sensors holds only the latest';
"#,
    ),
    (
        11,
        r#"
CREATE TABLE sensor_kinds (
    name text PRIMARY KEY, unit text NOT NULL,
    valid_min double precision NOT NULL, valid_max double precision NOT NULL,
    thresholds jsonb NOT NULL DEFAULT '{}', expected_interval_ms bigint,
    description text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(), updated_by text NOT NULL);
COMMENT ON TABLE sensor_kinds IS 'Sensor kinds beyond the built-in ones (PUT /api/kinds/{name}): defaults written into a sensor record when it is put; the pipeline reads none of it';
"#,
    ),
];

const READINGS_COLUMNS: &str = "time timestamptz NOT NULL, sensor_id text NOT NULL, \
     value double precision NOT NULL, zone text NOT NULL, flags text[] NOT NULL, \
     schema_version smallint NOT NULL, ingested_at timestamptz NOT NULL DEFAULT now(), \
     kafka_partition int NOT NULL, kafka_offset bigint NOT NULL, \
     UNIQUE (sensor_id, time)";

/// An async connection to an existing schema (the connection task
/// spawned on the current runtime), for the tasks that only read or
/// append: the Watchdog, the ingest tokens.
pub async fn connect_async(
    config: &PostgresConfig,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = super::tls::tokio_config(config)?
        .connect(super::tls::MakeRustls::for_config(config))
        .await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path TO {}", config.schema))
        .await?;
    Ok(client)
}

/// Connects (after a reachability check) and selects the configured schema.
pub fn connect(config: &PostgresConfig) -> Result<Client, ConnectorError> {
    if !config.schema_is_valid() {
        return Err(ConnectorError::InvalidSetting {
            setting: "postgres.schema",
            reason: format!("`{}` is not a lowercase identifier", config.schema),
        });
    }
    let address = config
        .address()
        .ok_or_else(|| ConnectorError::InvalidSetting {
            setting: "postgres.url",
            reason: format!("`{}` has no host", config.url),
        })?;
    check_reachable(POSTGRES, &address, Duration::from_secs(3))?;
    let mut client = super::tls::sync_config(config)
        .and_then(|pg| pg.connect(super::tls::MakeRustls::for_config(config)))
        .map_err(|e| ConnectorError::postgres(format!("connect to {address}"), e))?;
    client
        // Concurrent `CREATE SCHEMA IF NOT EXISTS` can fail with a unique
        // violation (workers start together): serialise it with a lock held
        // to the end of its transaction, so the next one sees the schema.
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('weir-create-schema')); \
             CREATE SCHEMA IF NOT EXISTS {0}; COMMIT; \
             SET search_path TO {0}",
            config.schema
        ))
        .map_err(|e| ConnectorError::postgres("select schema", e))?;
    Ok(client)
}

/// Applies every pending migration; returns the layout of `readings`.
pub fn migrate(client: &mut Client, config: &PostgresConfig) -> Result<Layout, ConnectorError> {
    let pg = |op: &str| {
        let op = op.to_string();
        move |e| ConnectorError::postgres(op, e)
    };
    let mut tx = client.transaction().map_err(pg("begin migration"))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('weir-migrate:' || current_schema()))",
        &[],
    )
    .map_err(pg("lock migrations"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS weir_migrations (
             version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(pg("create weir_migrations"))?;
    let applied: BTreeSet<i32> = tx
        .query("SELECT version FROM weir_migrations", &[])
        .map_err(pg("read weir_migrations"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let timescale_available = tx
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .map_err(pg("look for timescaledb"))?
        .is_some();
    if !applied.contains(&1) {
        if timescale_available {
            tx.batch_execute(&format!(
                "CREATE EXTENSION IF NOT EXISTS timescaledb;
                 CREATE TABLE readings ({READINGS_COLUMNS});
                 SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day');
                 ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'sensor_id');
                 SELECT add_compression_policy('readings', interval '2 days');
                 SELECT add_retention_policy('readings', interval '{} days');",
                config.retention_days
            ))
            .map_err(pg("create the readings hypertable"))?;
        } else {
            tx.batch_execute(&format!(
                "CREATE TABLE readings ({READINGS_COLUMNS}) PARTITION BY RANGE (time);
                 CREATE TABLE readings_default PARTITION OF readings DEFAULT;"
            ))
            .map_err(pg("create the partitioned readings table"))?;
        }
        tx.execute("INSERT INTO weir_migrations (version) VALUES (1)", &[])
            .map_err(pg("record migration 1"))?;
    }
    for (version, sql) in MIGRATIONS {
        if !applied.contains(version) {
            tx.batch_execute(sql)
                .map_err(pg(&format!("apply migration {version}")))?;
            tx.execute(
                "INSERT INTO weir_migrations (version) VALUES ($1)",
                &[version],
            )
            .map_err(pg(&format!("record migration {version}")))?;
            info!(version, "migration applied");
        }
    }
    let layout = if tx
        .query_opt(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
             WHERE c.relname = 'readings' AND c.relnamespace = current_schema()::regnamespace",
            &[],
        )
        .map_err(pg("inspect readings"))?
        .is_some()
    {
        Layout::NativePartitions
    } else {
        Layout::Timescale
    };
    tx.commit().map_err(pg("commit migrations"))?;
    maintain(client, config, layout)?;
    Ok(layout)
}

/// Native layout: creates the daily partitions from yesterday to
/// `partitions_ahead_days` ahead, drops those past `retention_days` and
/// deletes the default partition's rows past it (TimescaleDB's own
/// policies do this for a hypertable). Every layout: deletes anomalies,
/// dead letters, resolved alerts (with their events and deliveries) and
/// ended silences past their retention. Run at start and then hourly by
/// one worker.
pub fn maintain(
    client: &mut Client,
    config: &PostgresConfig,
    layout: Layout,
) -> Result<(), ConnectorError> {
    let today = now_ms().div_euclid(DAY_MS);
    if layout == Layout::NativePartitions {
        ensure_partitions(
            client,
            today - 1..=today + i64::from(config.partitions_ahead_days),
        )?;
        drop_expired_partitions(client, today - i64::from(config.retention_days))?;
    }
    let days = |n: u32| format!("{n} days");
    let expire = [
        (
            "readings_default",
            "DELETE FROM readings_default WHERE time < now() - $1::text::interval",
            days(config.retention_days),
        ),
        (
            "anomalies",
            "DELETE FROM anomalies WHERE time < now() - $1::text::interval",
            days(config.anomalies_retention_days),
        ),
        (
            "dead_letters",
            "DELETE FROM dead_letters WHERE record_time < now() - $1::text::interval",
            days(config.dead_letters_retention_days),
        ),
        (
            "alerts",
            // Events first (their deliveries go with them: ON DELETE CASCADE).
            "WITH gone AS (DELETE FROM alerts WHERE state = 'resolved' \
             AND resolved_at < now() - $1::text::interval RETURNING alert_id) \
             DELETE FROM alert_events WHERE alert_id IN (SELECT alert_id FROM gone)",
            days(config.alerts_retention_days),
        ),
        (
            "silences",
            "DELETE FROM silences WHERE ends_at < now() - $1::text::interval",
            days(config.alerts_retention_days),
        ),
    ];
    for (table, sql, keep) in expire {
        if table == "readings_default" && layout != Layout::NativePartitions {
            continue;
        }
        let deleted = client
            .execute(sql, &[&keep])
            .map_err(|e| ConnectorError::postgres(format!("expire {table}"), e))?;
        if deleted > 0 {
            info!(table, deleted, keep = %keep, "expired rows deleted");
        }
    }
    Ok(())
}

/// Whether a daily partition for `day` may be created at `today`: inside
/// the retention and no further ahead than `partitions_ahead_days` (rows
/// of other days go to the default partition, and out with the retention).
pub fn partition_wanted(day: i64, today: i64, config: &PostgresConfig) -> bool {
    day >= today - i64::from(config.retention_days)
        && day <= today + i64::from(config.partitions_ahead_days)
}

/// What `migrate` left: applied versions and the daily partitions of `readings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Applied migration versions, ascending.
    pub versions: Vec<i32>,
    /// Partitions of `readings` (native layout), by name.
    pub partitions: Vec<String>,
}

/// Reads the applied migrations and the partitions of `readings`.
pub fn status(client: &mut Client) -> Result<SchemaStatus, ConnectorError> {
    let versions = client
        .query("SELECT version FROM weir_migrations ORDER BY version", &[])
        .map_err(|e| ConnectorError::postgres("read weir_migrations", e))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let partitions = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = 'readings' AND p.relnamespace = current_schema()::regnamespace \
             ORDER BY 1",
            &[],
        )
        .map_err(|e| ConnectorError::postgres("list partitions", e))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(SchemaStatus {
        versions,
        partitions,
    })
}

/// The durable next offset per partition of `topic` (`source_offsets`);
/// empty when nothing was stored yet.
pub fn durable_offsets(
    client: &mut Client,
    topic: &str,
) -> Result<std::collections::BTreeMap<i32, i64>, ConnectorError> {
    let exists = client
        .query_opt("SELECT to_regclass('source_offsets')::text", &[])
        .map_err(|e| ConnectorError::postgres("look for source_offsets", e))?
        .and_then(|row| row.get::<_, Option<String>>(0))
        .is_some();
    if !exists {
        return Ok(Default::default());
    }
    Ok(client
        .query(
            "SELECT kafka_partition, next_offset FROM source_offsets WHERE topic = $1",
            &[&topic],
        )
        .map_err(|e| ConnectorError::postgres("read source_offsets", e))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Creates the daily partitions for `days` (days since the epoch) that are
/// missing, under the schema's advisory lock (workers create them concurrently).
pub fn ensure_partitions(
    client: &mut Client,
    days: impl IntoIterator<Item = i64>,
) -> Result<(), ConnectorError> {
    for day in days {
        let name = partition_name(day);
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings \
             FOR VALUES FROM (to_timestamp({from})) TO (to_timestamp({to}))",
            from = day * 86_400,
            to = (day + 1) * 86_400
        );
        let created = client.transaction().and_then(|mut tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('weir-migrate:' || current_schema()))",
                &[],
            )?;
            tx.batch_execute(&sql)?;
            tx.commit()
        });
        if let Err(e) = created {
            // Typically: rows of that day already sit in the default partition
            // (a day that arrived before its partition existed). They stay
            // there, and every query reads them transparently.
            let detail = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            tracing::warn!(partition = %name, error = %detail, "daily partition not created");
        }
    }
    Ok(())
}

/// Detaches and drops daily partitions that end before `first_kept_day`.
pub fn drop_expired_partitions(
    client: &mut Client,
    first_kept_day: i64,
) -> Result<(), ConnectorError> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = 'readings' AND p.relnamespace = current_schema()::regnamespace \
             AND c.relname ~ '^readings_[0-9]{8}$'",
            &[],
        )
        .map_err(|e| ConnectorError::postgres("list partitions", e))?;
    let oldest = partition_name(first_kept_day);
    for row in rows {
        let name: String = row.get(0);
        if name < oldest {
            client
                .batch_execute(&format!(
                    "ALTER TABLE readings DETACH PARTITION {name}; DROP TABLE {name}"
                ))
                .map_err(|e| ConnectorError::postgres(format!("drop partition {name}"), e))?;
            info!(partition = %name, "expired partition dropped");
        }
    }
    Ok(())
}

/// `readings_YYYYMMDD` for a day number.
pub fn partition_name(day: i64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("readings_{y:04}{m:02}{d:02}")
}

/// A record time (ms since 1970, also before it) as a `timestamptz` parameter.
pub(crate) fn time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Day number of an epoch-ms time.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_are_civil_dates() {
        assert_eq!(partition_name(0), "readings_19700101");
        assert_eq!(
            partition_name(day_of(1_764_000_000_000)),
            "readings_20251124"
        );
        assert_eq!(partition_name(day_of(951_782_400_000)), "readings_20000229");
        assert_eq!(partition_name(-1), "readings_19691231");
    }

    /// Workers start together: concurrent connects and migrations of one new
    /// schema must all succeed (real PostgreSQL, as `scripts/services.sh` sets up).
    #[test]
    fn concurrent_workers_create_and_migrate_one_schema() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let config = PostgresConfig {
            url: std::env::var("WEIR_POSTGRES__URL")
                .unwrap_or_else(|_| PostgresConfig::default().url),
            schema: format!("race_{}_{nanos}", std::process::id()),
            ..PostgresConfig::default()
        };
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let config = config.clone();
                std::thread::spawn(move || -> Result<Layout, ConnectorError> {
                    let mut client = connect(&config)?;
                    migrate(&mut client, &config)
                })
            })
            .collect();
        for worker in workers {
            let layout = worker.join().map_err(|_| "worker panicked");
            assert!(
                matches!(layout, Ok(Ok(Layout::NativePartitions))),
                "{layout:?}"
            );
        }
        let mut client = connect(&config).map_err(|e| e.to_string());
        let versions = client
            .as_mut()
            .map_err(|e| e.clone())
            .and_then(|c| status(c).map_err(|e| e.to_string()))
            .map(|s| s.versions);
        // The base schema (1) and every migration, once (not a count
        // written here: the list grows).
        let all: Vec<i32> = std::iter::once(1)
            .chain(MIGRATIONS.iter().map(|(v, _)| *v))
            .collect();
        assert_eq!(all, (1..=all.len() as i32).collect::<Vec<i32>>());
        assert_eq!(versions, Ok(all));
    }
}
