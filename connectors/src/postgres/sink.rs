//! The PostgreSQL sink: one transaction per batch of completed epochs, with
//! idempotent writes, and the offsets that say what is durable.
//!
//! ```text
//!  Batch (complete epochs) ─► BEGIN
//!     readings   ─ binary COPY ─► readings_staging ─► INSERT … ON CONFLICT (sensor_id, time) DO NOTHING
//!     windows    ─ UNNEST upsert ─► sensor_5m / sensor_1h      (final value per key in the batch)
//!     latest     ─ UNNEST upsert ─► sensor_latest              (never moves back in event time)
//!     anomalies, dead letters ─ INSERT … ON CONFLICT DO NOTHING (keyed by partition, offset)
//!     incidents  ─ upsert / delete ─► zone_state
//!  COMMIT
//!  offsets (once every worker's sink has passed the epoch) ─► source_offsets + source_checkpoints
//! ```
//!
//! A retraction that is not replaced in the batch is ignored for windows and
//! latest state (the graph never emits one; for them it could only mean
//! "expired from memory"). For zone incidents it is a real change (two
//! incidents merged into one with another start) and deletes the row.
//!
//! When PostgreSQL is unavailable, `write` and `commit_offsets` retry with
//! backoff until it returns, logging one line when it goes and one when it
//! is back: the worker blocks, so the pipeline stops consuming.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Transaction};
use tracing::{error, info, warn};
use weir_dataflow::records::{
    Anomaly, DeadLetter, Flag, LatestState, RegistryRecord, Severity, StoredReading, Update,
    WindowAggregate, WindowSize, ZoneIncident, store_text,
};

use super::PostgresConfig;
use super::errors::{describe, is_connection_error, is_data_error};
use super::schema::{Layout, connect, day_of, ensure_partitions, maintain, migrate, time};
use crate::ConnectorError;

/// The outputs of one or more completed epochs.
pub type Batch = weir_dataflow::records::OutputUpdates;

/// The final state of each key in a batch: `Some` = upsert, `None` = retracted.
fn net<K: Ord, D: Clone + PartialEq>(
    updates: &[Update<D>],
    key: impl Fn(&D) -> K,
) -> BTreeMap<K, Option<D>> {
    let mut order: Vec<&Update<D>> = updates.iter().collect();
    // Within a time, insertions first: a `-old` then finds `new` in place and is ignored.
    order.sort_by_key(|(_, t, d)| (*t, -*d));
    let mut out: BTreeMap<K, Option<D>> = BTreeMap::new();
    for (record, _, diff) in order {
        // A key first seen as a retraction stays `None`: its value came from an earlier batch.
        let slot = out.entry(key(record)).or_insert(None);
        if *diff > 0 {
            *slot = Some(record.clone());
        } else if slot.as_ref() == Some(record) {
            *slot = None;
        }
    }
    out
}

/// One worker's connection and writes.
pub struct PgSink {
    config: PostgresConfig,
    pub(super) client: Client,
    layout: Layout,
    partitions: BTreeSet<i64>,
    pub(super) topic: String,
    pub(super) suppress_before_ms: Option<i64>,
    /// Delivery channels each deliverable alert event gets an outbox row for.
    channels: Vec<String>,
    /// Rows quarantined into `dead_letters` because PostgreSQL refused them.
    pub(super) quarantined: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl PgSink {
    /// Connects, migrates, and prepares to write outputs of `topic`.
    pub fn open(config: &PostgresConfig, topic: &str) -> Result<Self, ConnectorError> {
        let mut client = connect(config)?;
        let layout = migrate(&mut client, config)?;
        info!(?layout, schema = %config.schema, "postgres ready");
        Ok(PgSink {
            config: config.clone(),
            client,
            layout,
            partitions: BTreeSet::new(),
            topic: topic.to_string(),
            suppress_before_ms: None,
            channels: Vec::new(),
            quarantined: std::sync::Arc::default(),
        })
    }

    /// Another connection to the same, already migrated store, for writes
    /// that must not wait behind this one's (no partitions, no channels).
    pub fn sibling(&self) -> Result<Self, ConnectorError> {
        Ok(PgSink {
            config: self.config.clone(),
            client: connect(&self.config)?,
            layout: self.layout,
            partitions: BTreeSet::new(),
            topic: self.topic.clone(),
            suppress_before_ms: None,
            channels: Vec::new(),
            quarantined: std::sync::Arc::clone(&self.quarantined),
        })
    }

    /// Sets the delivery channels (see `alert_deliveries`).
    pub fn set_channels(&mut self, channels: Vec<String>) {
        self.channels = channels;
    }

    /// The layout of `readings`.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Partition upkeep (see [`maintain`]), retrying while PostgreSQL is unavailable.
    pub fn maintain(&mut self) -> Result<(), ConnectorError> {
        let (config, layout) = (self.config.clone(), self.layout);
        let mut attempt = || maintain(&mut self.client, &config, layout);
        match attempt() {
            Ok(()) => Ok(()),
            // A dropped connection: the next write reconnects; upkeep waits an hour.
            Err(e) => {
                warn!(error = %e, "partition upkeep failed; retried in an hour");
                Ok(())
            }
        }
    }

    /// Writes a batch in one transaction, retrying while PostgreSQL is
    /// unavailable. A batch refused for its data is written in parts, the
    /// refused rows quarantined (see `quarantine`).
    pub fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        if batch.is_empty() {
            return Ok(());
        }
        match self.write_raw(batch) {
            Ok(()) => Ok(()),
            Err(e) if is_data_error(&e) => self.isolate(batch, &e),
            Err(e) => {
                error!(error = %describe(&e), "postgres rejected a write");
                Err(ConnectorError::postgres("write outputs", e))
            }
        }
    }

    /// Writes a batch in one transaction, retrying connection errors; any
    /// other error is returned as it is.
    pub(super) fn write_raw(&mut self, batch: &Batch) -> Result<(), postgres::Error> {
        self.retrying_raw("write outputs", |sink| sink.try_write(batch))
    }

    /// Counts rows quarantined because PostgreSQL refused them (for metrics).
    pub fn set_quarantine_counter(
        &mut self,
        counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        self.quarantined = counter;
    }

    /// Records `offsets` ((partition, next offset, clock)) as durable.
    pub fn commit_offsets(
        &mut self,
        offsets: &[(i32, i64, i64)],
        keep_ms: i64,
    ) -> Result<(), ConnectorError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let topic = self.topic.clone();
        self.retrying("commit offsets", |sink| {
            let mut tx = sink.client.transaction()?;
            for (partition, next, clock) in offsets {
                tx.execute(
                    "INSERT INTO source_offsets (topic, kafka_partition, next_offset, clock_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (topic, kafka_partition) DO UPDATE \
                     SET next_offset = EXCLUDED.next_offset, clock_ms = EXCLUDED.clock_ms, updated_at = now() \
                     WHERE source_offsets.next_offset <= EXCLUDED.next_offset",
                    &[&topic, partition, next, clock],
                )?;
                tx.execute(
                    "INSERT INTO source_checkpoints (topic, kafka_partition, next_offset, clock_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&topic, partition, next, clock],
                )?;
                // Keep checkpoints back to twice the rewind span: older ones can never be chosen.
                tx.execute(
                    "DELETE FROM source_checkpoints WHERE topic = $1 AND kafka_partition = $2 AND clock_ms < $3",
                    &[&topic, partition, &(clock - keep_ms)],
                )?;
            }
            tx.commit()
        })
    }

    /// Upserts a registry record into `sensors` (the latest) and adds it to
    /// `sensor_versions` (every version; a replayed record is there already).
    pub fn upsert_sensor(&mut self, record: &RegistryRecord) -> Result<(), ConnectorError> {
        let record = record.clone();
        let record_id = record.sensor_id.clone();
        let upsert = move |sink: &mut PgSink| {
            let mut tx = sink.client.transaction()?;
            let doc = record
                .sensor
                .as_ref()
                .map(|s| String::from_utf8_lossy(&s.encode()).into_owned());
            tx.execute(
                "INSERT INTO sensor_versions (sensor_id, valid_from, record_time, removed, kind, zone, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb) \
                 ON CONFLICT (sensor_id, valid_from, record_time) DO NOTHING",
                &[
                    &record.sensor_id,
                    &time(record.valid_from_ms()),
                    &time(record.record_ts_ms),
                    &record.sensor.is_none(),
                    &record.sensor.as_ref().map(|s| s.kind.name()),
                    &record.sensor.as_ref().map(|s| s.zone.as_str()),
                    &doc,
                ],
            )?;
            match &record.sensor {
                Some(s) => tx.execute(
                    "INSERT INTO sensors (sensor_id, kind, location, zone, unit, warn_high, crit_high, \
                     warn_low, crit_low, valid_min, valid_max, valid_from, expected_interval_ms, removed) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,false) \
                     ON CONFLICT (sensor_id) DO UPDATE SET kind = EXCLUDED.kind, location = EXCLUDED.location, \
                     zone = EXCLUDED.zone, unit = EXCLUDED.unit, warn_high = EXCLUDED.warn_high, \
                     crit_high = EXCLUDED.crit_high, warn_low = EXCLUDED.warn_low, crit_low = EXCLUDED.crit_low, \
                     valid_min = EXCLUDED.valid_min, valid_max = EXCLUDED.valid_max, \
                     valid_from = EXCLUDED.valid_from, expected_interval_ms = EXCLUDED.expected_interval_ms, \
                     removed = false, updated_at = now()",
                    &[
                        &record.sensor_id,
                        &s.kind.name(),
                        &s.location,
                        &s.zone,
                        &s.unit,
                        &s.thresholds.warn_high,
                        &s.thresholds.crit_high,
                        &s.thresholds.warn_low,
                        &s.thresholds.crit_low,
                        &s.valid_range.min,
                        &s.valid_range.max,
                        &time(record.valid_from_ms()),
                        &s.expected_interval_ms,
                    ],
                ),
                None => tx.execute(
                    "UPDATE sensors SET removed = true, updated_at = now() WHERE sensor_id = $1",
                    &[&record.sensor_id],
                ),
            }?;
            tx.commit()
        };
        match self.retrying_raw("upsert sensor", upsert) {
            Ok(()) => Ok(()),
            // The registry decoder refuses what the table cannot hold; a
            // sensor the mirror still refuses is logged, not fatal.
            Err(e) if is_data_error(&e) => {
                error!(sensor = %store_text(&record_id, 128), error = %describe(&e),
                       "the sensors table refused a registry record; it is not mirrored");
                Ok(())
            }
            Err(e) => Err(ConnectorError::postgres("upsert sensor", e)),
        }
    }

    pub(super) fn retrying<T>(
        &mut self,
        what: &'static str,
        op: impl FnMut(&mut PgSink) -> Result<T, postgres::Error>,
    ) -> Result<T, ConnectorError> {
        self.retrying_raw(what, op).map_err(|e| {
            error!(what, error = %describe(&e), "postgres rejected a write");
            ConnectorError::postgres(what, e)
        })
    }

    /// Runs `op`, retrying with backoff while PostgreSQL is unreachable;
    /// returns any other error as it is.
    pub(super) fn retrying_raw<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut PgSink) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let mut backoff = Duration::from_millis(100);
        let mut down = false;
        loop {
            match op(self) {
                Ok(value) => {
                    if down {
                        info!(what, "postgres available again");
                    }
                    return Ok(value);
                }
                Err(e) if is_connection_error(&e) => {
                    if !down {
                        warn!(what, error = %describe(&e), "postgres unavailable: consumption paused, retrying");
                        down = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(self.config.max_backoff_ms));
                    if let Ok(client) = connect(&self.config) {
                        self.client = client;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_write(&mut self, batch: &Batch) -> Result<(), postgres::Error> {
        if self.layout == Layout::NativePartitions {
            // Only days inside the retention get a partition of their own:
            // readings of 1,000 distinct days must not make 1,000 tables.
            let today = super::schema::now_ms().div_euclid(86_400_000);
            let days: BTreeSet<i64> = batch
                .readings
                .iter()
                .map(|(r, _, _)| day_of(r.ts_ms))
                .filter(|d| !self.partitions.contains(d))
                .filter(|d| super::schema::partition_wanted(*d, today, &self.config))
                .collect();
            if !days.is_empty() {
                // Errors are logged inside; rows then land in the default partition.
                let _ = ensure_partitions(&mut self.client, days.iter().copied());
                self.partitions.extend(days);
            }
        }
        let suppress = self.suppress_before_ms;
        let mut tx = self.client.transaction()?;
        write_readings(&mut tx, &batch.readings)?;
        write_windows(&mut tx, &batch.windows)?;
        write_latest(&mut tx, &batch.latest)?;
        write_anomalies(&mut tx, &batch.anomalies)?;
        write_incidents(&mut tx, &batch.incidents, suppress)?;
        write_dead_letters(&mut tx, &batch.dead_letters)?;
        super::alerts::write_alert_events(&mut tx, &batch.alert_events, &self.channels)?;
        tx.commit()
    }
}

fn write_readings(
    tx: &mut Transaction<'_>,
    readings: &[Update<StoredReading>],
) -> Result<(), postgres::Error> {
    if readings.is_empty() {
        return Ok(());
    }
    tx.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS readings_staging \
         (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )?;
    let sink = tx.copy_in(
        "COPY readings_staging (time, sensor_id, value, zone, flags, schema_version, \
         kafka_partition, kafka_offset) FROM STDIN BINARY",
    )?;
    let types = [
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::FLOAT8,
        Type::TEXT,
        Type::TEXT_ARRAY,
        Type::INT2,
        Type::INT4,
        Type::INT8,
    ];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for (r, _, diff) in readings {
        if *diff <= 0 {
            continue;
        }
        let flags: Vec<&str> = r.flags.iter().map(|f| f.name()).collect();
        writer.write(&[
            &time(r.ts_ms),
            &r.sensor_id,
            &r.value,
            &r.zone,
            &flags,
            &r.format.schema_version(),
            &r.origin.partition,
            &r.origin.offset,
        ])?;
    }
    writer.finish()?;
    tx.execute(
        "INSERT INTO readings (time, sensor_id, value, zone, flags, schema_version, kafka_partition, kafka_offset) \
         SELECT time, sensor_id, value, zone, flags, schema_version, kafka_partition, kafka_offset \
         FROM readings_staging ON CONFLICT (sensor_id, time) DO NOTHING",
        &[],
    )?;
    Ok(())
}

fn write_windows(
    tx: &mut Transaction<'_>,
    windows: &[Update<WindowAggregate>],
) -> Result<(), postgres::Error> {
    let finals = net(windows, |w| (w.size, w.sensor_id.clone(), w.start_ms));
    for size in WindowSize::ALL {
        let table = size.table();
        let (partial, rows): (Vec<&WindowAggregate>, Vec<&WindowAggregate>) = finals
            .iter()
            .filter(|((s, _, _), _)| *s == size)
            .filter_map(|(_, w)| w.as_ref())
            .partition(|w| w.partial);
        if !rows.is_empty() {
            let ids: Vec<&str> = rows.iter().map(|w| w.sensor_id.as_str()).collect();
            let buckets: Vec<SystemTime> = rows.iter().map(|w| time(w.start_ms)).collect();
            let counts: Vec<i64> = rows
                .iter()
                .map(|w| i64::try_from(w.count).unwrap_or(i64::MAX))
                .collect();
            let sums: Vec<f64> = rows.iter().map(|w| w.sum).collect();
            let avgs: Vec<f64> = rows.iter().map(|w| w.avg()).collect();
            let mins: Vec<f64> = rows.iter().map(|w| w.min).collect();
            let maxs: Vec<f64> = rows.iter().map(|w| w.max).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {table} (sensor_id, bucket, count, sum, avg, min, max) \
                     SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::bigint[], $4::float8[], \
                     $5::float8[], $6::float8[], $7::float8[]) \
                     ON CONFLICT (sensor_id, bucket) DO UPDATE SET count = EXCLUDED.count, sum = EXCLUDED.sum, \
                     avg = EXCLUDED.avg, min = EXCLUDED.min, max = EXCLUDED.max, updated_at = now()"
                ),
                &[&ids, &buckets, &counts, &sums, &avgs, &mins, &maxs],
            )?;
        }
        if !partial.is_empty() {
            // The dataflow's figures may lack readings only the store holds
            // (the window began before its sensor's state did): rebuild the
            // window from the stored readings, this batch's included.
            let ids: Vec<&str> = partial.iter().map(|w| w.sensor_id.as_str()).collect();
            let buckets: Vec<SystemTime> = partial.iter().map(|w| time(w.start_ms)).collect();
            let width = size.millis() as f64 / 1e3;
            tx.execute(
                &format!(
                    "INSERT INTO {table} (sensor_id, bucket, count, sum, avg, min, max) \
                     SELECT k.sensor_id, k.bucket, count(*), sum(r.value), avg(r.value), min(r.value), max(r.value) \
                     FROM UNNEST($1::text[], $2::timestamptz[]) AS k(sensor_id, bucket) \
                     JOIN readings r ON r.sensor_id = k.sensor_id AND r.time >= k.bucket \
                      AND r.time < k.bucket + make_interval(secs => $3::float8) \
                     WHERE NOT ('{too_late}' = ANY(r.flags)) GROUP BY k.sensor_id, k.bucket \
                     ON CONFLICT (sensor_id, bucket) DO UPDATE SET count = EXCLUDED.count, sum = EXCLUDED.sum, \
                     avg = EXCLUDED.avg, min = EXCLUDED.min, max = EXCLUDED.max, updated_at = now()",
                    too_late = Flag::TooLate.name()
                ),
                &[&ids, &buckets, &width],
            )?;
        }
    }
    Ok(())
}

fn write_latest(
    tx: &mut Transaction<'_>,
    latest: &[Update<LatestState>],
) -> Result<(), postgres::Error> {
    let finals = net(latest, |l| l.sensor_id.clone());
    let rows: Vec<&LatestState> = finals.values().filter_map(Option::as_ref).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|l| l.sensor_id.as_str()).collect();
    let zones: Vec<&str> = rows.iter().map(|l| l.zone.as_str()).collect();
    let times: Vec<SystemTime> = rows.iter().map(|l| time(l.ts_ms)).collect();
    let values: Vec<f64> = rows.iter().map(|l| l.value).collect();
    let means: Vec<Option<f64>> = rows.iter().map(|l| l.mean).collect();
    let sds: Vec<Option<f64>> = rows.iter().map(|l| l.stddev).collect();
    let severities: Vec<Option<&str>> = rows
        .iter()
        .map(|l| l.severity.map(Severity::name))
        .collect();
    tx.execute(
        "INSERT INTO sensor_latest (sensor_id, zone, time, value, mean, stddev, severity) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], \
         $6::float8[], $7::text[]) \
         ON CONFLICT (sensor_id) DO UPDATE SET zone = EXCLUDED.zone, time = EXCLUDED.time, \
         value = EXCLUDED.value, mean = EXCLUDED.mean, stddev = EXCLUDED.stddev, \
         severity = EXCLUDED.severity, updated_at = now() \
         WHERE sensor_latest.time <= EXCLUDED.time",
        &[&ids, &zones, &times, &values, &means, &sds, &severities],
    )?;
    Ok(())
}

fn write_anomalies(
    tx: &mut Transaction<'_>,
    anomalies: &[Update<Anomaly>],
) -> Result<(), postgres::Error> {
    let rows: Vec<&Anomaly> = anomalies
        .iter()
        .filter(|(_, _, d)| *d > 0)
        .map(|(a, _, _)| a)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let lower = |s: &dyn std::fmt::Debug| format!("{s:?}").to_lowercase();
    tx.execute(
        "INSERT INTO anomalies (kafka_partition, kafka_offset, sensor_id, zone, time, value, mean, stddev, \
         samples, z, z_severity, threshold_kind, threshold, severity) \
         SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], \
         $6::float8[], $7::float8[], $8::float8[], $9::bigint[], $10::float8[], $11::text[], $12::text[], \
         $13::float8[], $14::text[]) ON CONFLICT DO NOTHING",
        &[
            &rows.iter().map(|a| a.origin.partition).collect::<Vec<i32>>(),
            &rows.iter().map(|a| a.origin.offset).collect::<Vec<i64>>(),
            &rows.iter().map(|a| a.sensor_id.as_str()).collect::<Vec<&str>>(),
            &rows.iter().map(|a| a.zone.as_str()).collect::<Vec<&str>>(),
            &rows.iter().map(|a| time(a.ts_ms)).collect::<Vec<SystemTime>>(),
            &rows.iter().map(|a| a.value).collect::<Vec<f64>>(),
            &rows.iter().map(|a| a.mean).collect::<Vec<Option<f64>>>(),
            &rows.iter().map(|a| a.stddev).collect::<Vec<Option<f64>>>(),
            &rows.iter().map(|a| i64::try_from(a.samples).unwrap_or(i64::MAX)).collect::<Vec<i64>>(),
            &rows.iter().map(|a| a.z).collect::<Vec<Option<f64>>>(),
            &rows.iter().map(|a| a.z_severity.map(Severity::name)).collect::<Vec<Option<&str>>>(),
            &rows.iter().map(|a| a.threshold.map(|(k, _)| lower(&k))).collect::<Vec<Option<String>>>(),
            &rows.iter().map(|a| a.threshold.map(|(_, l)| l)).collect::<Vec<Option<f64>>>(),
            &rows.iter().map(|a| a.severity.name()).collect::<Vec<&str>>(),
        ],
    )?;
    Ok(())
}

fn write_incidents(
    tx: &mut Transaction<'_>,
    incidents: &[Update<ZoneIncident>],
    suppress: Option<i64>,
) -> Result<(), postgres::Error> {
    for ((zone, start), value) in net(incidents, |i| (i.zone.clone(), i.start_ms)) {
        if suppress.is_some_and(|b| start < b) {
            continue;
        }
        match value {
            Some(i) => {
                let sensors: Vec<&str> = i.sensors.iter().map(String::as_str).collect();
                tx.execute(
                    "INSERT INTO zone_state (zone, start_time, end_time, peak_sensors, sensors) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (zone, start_time) DO UPDATE SET \
                     end_time = EXCLUDED.end_time, peak_sensors = EXCLUDED.peak_sensors, \
                     sensors = EXCLUDED.sensors, updated_at = now()",
                    &[
                        &zone,
                        &time(start),
                        &time(i.end_ms),
                        &i32::try_from(i.peak_sensors).unwrap_or(i32::MAX),
                        &sensors,
                    ],
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM zone_state WHERE zone = $1 AND start_time = $2",
                    &[&zone, &time(start)],
                )?;
            }
        }
    }
    Ok(())
}

fn write_dead_letters(
    tx: &mut Transaction<'_>,
    letters: &[Update<DeadLetter>],
) -> Result<(), postgres::Error> {
    let rows: Vec<&DeadLetter> = letters
        .iter()
        .filter(|(_, _, d)| *d > 0)
        .map(|(l, _, _)| l)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO dead_letters (kafka_partition, kafka_offset, reason, key, payload, detail, record_time) \
         SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::text[], \
         $7::timestamptz[]) ON CONFLICT DO NOTHING",
        &[
            &rows.iter().map(|l| l.origin.partition).collect::<Vec<i32>>(),
            &rows.iter().map(|l| l.origin.offset).collect::<Vec<i64>>(),
            &rows.iter().map(|l| l.reason.as_str()).collect::<Vec<&str>>(),
            &rows.iter().map(|l| l.key.as_str()).collect::<Vec<&str>>(),
            &rows.iter().map(|l| l.payload.as_slice()).collect::<Vec<&[u8]>>(),
            &rows.iter().map(|l| l.detail.as_str()).collect::<Vec<&str>>(),
            &rows.iter().map(|l| time(l.origin.record_ts_ms)).collect::<Vec<SystemTime>>(),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_keeps_the_last_value_and_unpaired_retractions() {
        let updates: Vec<Update<(u8, i32)>> = vec![
            ((1, 10), 5, 1),
            ((1, 10), 6, -1),
            ((1, 11), 6, 1),
            ((2, 20), 5, 1),
            ((3, 30), 7, -1),
        ];
        let finals = net(&updates, |(k, _)| *k);
        assert_eq!(finals[&1], Some((1, 11)));
        assert_eq!(finals[&2], Some((2, 20)));
        assert_eq!(finals[&3], None, "a retraction of an earlier batch's value");
    }
}
