//! Defence in depth for the store: a batch that PostgreSQL refuses because
//! of its *data* (a value it cannot hold, a constraint) is split until the
//! offending rows are alone; each is quarantined into `dead_letters` with
//! reason `store_rejected` and the database's message, and the rest is
//! written. The edge of the dataflow already makes every text storable
//! (`weir_dataflow::records::store_text`), so this is for what nobody
//! foresaw: no single record may stop the pipeline.
//!
//! ```text
//!  batch ─ refused (SQLSTATE 22…, 23…, 54…) ─► halves ─► … ─► one update refused ─► dead_letters
//!                                                                                  (store_rejected)
//! ```
//!
//! Connection errors never come here (they are retried with backoff), nor
//! do errors of other classes (a bug or a schema problem: the run stops
//! loudly rather than quarantining everything).

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use serde::Serialize;
use tracing::{error, warn};
use weir_dataflow::records::{
    DeadReason, MAX_DETAIL_BYTES, Origin, OutputRecord, OutputUpdates, Update, UpdatesVisitor,
    store_text,
};

use super::errors::{describe, is_data_error};
use super::schema::time;
use super::sink::{Batch, PgSink};
use crate::ConnectorError;

/// The first half of `batch`'s updates (in output order) and the rest.
fn split(batch: &Batch) -> (Batch, Batch) {
    struct Split {
        left: Batch,
        right: Batch,
        take: usize,
    }
    impl UpdatesVisitor for Split {
        fn visit<D: OutputRecord>(&mut self, updates: &[Update<D>]) {
            let n = self.take.min(updates.len());
            D::updates(&mut self.left).extend_from_slice(&updates[..n]);
            D::updates(&mut self.right).extend_from_slice(&updates[n..]);
            self.take -= n;
        }
    }
    let mut split = Split {
        left: Batch::default(),
        right: Batch::default(),
        take: batch.len() / 2,
    };
    batch.visit(&mut split);
    (split.left, split.right)
}

/// What a lone update is, for its dead letter: (origin, key, the record as JSON, what).
fn single(batch: &OutputUpdates) -> Option<(Origin, String, Vec<u8>, &'static str)> {
    fn json<D: Serialize>(update: &Update<D>) -> Vec<u8> {
        serde_json::to_vec(&update.0).unwrap_or_default()
    }
    // Records without an origin get one that names them: partition -1 and
    // a hash of their content as the offset.
    fn made_up<D: Serialize>(update: &Update<D>) -> Origin {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        json(update).hash(&mut hasher);
        let now = weir_dataflow::clock::now_ms();
        Origin {
            partition: -1,
            offset: i64::from_ne_bytes(hasher.finish().to_ne_bytes()),
            record_ts_ms: now,
            clock_ms: now,
        }
    }
    if let Some(u) = batch.readings.first() {
        return Some((
            u.0.origin.clone(),
            u.0.sensor_id.clone(),
            json(u),
            "reading",
        ));
    }
    if let Some(u) = batch.windows.first() {
        return Some((made_up(u), u.0.sensor_id.clone(), json(u), "window"));
    }
    if let Some(u) = batch.latest.first() {
        return Some((made_up(u), u.0.sensor_id.clone(), json(u), "latest state"));
    }
    if let Some(u) = batch.anomalies.first() {
        return Some((
            u.0.origin.clone(),
            u.0.sensor_id.clone(),
            json(u),
            "anomaly",
        ));
    }
    if let Some(u) = batch.incidents.first() {
        return Some((made_up(u), u.0.zone.clone(), json(u), "zone incident"));
    }
    if let Some(u) = batch.dead_letters.first() {
        return Some((
            u.0.origin.clone(),
            u.0.key.clone(),
            u.0.payload.clone(),
            "dead letter",
        ));
    }
    if let Some(u) = batch.alert_events.first() {
        return Some((
            u.0.origin.clone(),
            u.0.event_id.clone(),
            json(u),
            "alert event",
        ));
    }
    None
}

impl PgSink {
    /// Writes `batch`, which PostgreSQL refused with `refused`, in parts:
    /// what it takes is written, each update it refuses alone is quarantined.
    pub(super) fn isolate(
        &mut self,
        batch: &Batch,
        refused: &postgres::Error,
    ) -> Result<(), ConnectorError> {
        warn!(updates = batch.len(), error = %describe(refused),
              "postgres refused a batch's data: writing it in parts to find the rows it cannot hold");
        // Depth first, first half first: the parts are written in order.
        let (left, right) = split(batch);
        let mut stack = vec![right, left];
        while let Some(part) = stack.pop() {
            if part.is_empty() {
                continue;
            }
            match self.write_raw(&part) {
                Ok(()) => {}
                Err(e) if is_data_error(&e) && part.len() > 1 => {
                    let (left, right) = split(&part);
                    stack.push(right);
                    stack.push(left);
                }
                Err(e) if is_data_error(&e) => self.quarantine(&part, &e)?,
                Err(e) => return Err(ConnectorError::postgres("write outputs", e)),
            }
        }
        Ok(())
    }

    /// Puts the one update of `part` into `dead_letters`, with the database's message.
    fn quarantine(
        &mut self,
        part: &Batch,
        refused: &postgres::Error,
    ) -> Result<(), ConnectorError> {
        let Some((origin, key, payload, what)) = single(part) else {
            return Ok(());
        };
        let detail = store_text(
            &format!("{what} refused by PostgreSQL: {}", describe(refused)),
            MAX_DETAIL_BYTES,
        );
        let key = store_text(&key, weir_dataflow::records::MAX_DEAD_KEY_BYTES);
        error!(partition = origin.partition, offset = origin.offset, %key, %detail,
               "quarantined into dead_letters (store_rejected); the pipeline goes on");
        self.quarantined.fetch_add(1, Ordering::Relaxed);
        let insert = |sink: &mut PgSink| {
            sink.client
                .execute(
                    "INSERT INTO dead_letters (kafka_partition, kafka_offset, reason, key, payload, detail, record_time) \
                     VALUES ($1, $2, $7, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &origin.partition,
                        &origin.offset,
                        &key,
                        &payload,
                        &detail,
                        &time(origin.record_ts_ms.clamp(0, 253_402_300_799_000)),
                        &DeadReason::StoreRejected.name(),
                    ],
                )
                .map(|_| ())
        };
        match self.retrying_raw("quarantine a refused row", insert) {
            Ok(()) => Ok(()),
            Err(e) if is_data_error(&e) => {
                // Not even its dead letter fits: logged above, counted, skipped.
                error!(error = %describe(&e), "the quarantined row could not be stored either; it is skipped (see the line above)");
                Ok(())
            }
            Err(e) => Err(ConnectorError::postgres("quarantine a refused row", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_dataflow::records::DeadLetter;

    fn letter(offset: i64) -> Update<DeadLetter> {
        (
            DeadLetter::new(
                Origin {
                    partition: 0,
                    offset,
                    record_ts_ms: 1,
                    clock_ms: 1,
                },
                b"k",
                vec![1],
                DeadReason::Decode(weir_dataflow::DecodeReason::MalformedJson),
                "",
            ),
            1,
            1,
        )
    }

    /// Against the real PostgreSQL (as `scripts/services.sh` sets it up): a
    /// dead letter carrying a NUL, which skipped the dataflow's edge, is
    /// quarantined with the database's message; everything else is written.
    #[test]
    fn a_row_postgres_refuses_is_quarantined_and_the_rest_written() -> Result<(), ConnectorError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let config = crate::postgres::PostgresConfig {
            url: std::env::var("WEIR_POSTGRES__URL")
                .unwrap_or_else(|_| crate::postgres::PostgresConfig::default().url),
            schema: format!("quarantine_{}_{nanos}", std::process::id()),
            ..crate::postgres::PostgresConfig::default()
        };
        let mut sink = PgSink::open(&config, "readings")?;
        let mut batch = Batch {
            dead_letters: (0..6).map(letter).collect(),
            ..Batch::default()
        };
        // Built by hand: `DeadLetter::new` would have made it storable.
        batch.dead_letters[3].0.key = "bad\0key".into();
        sink.write(&batch)?;
        let mut db = crate::postgres::connect(&config)?;
        let rows: Vec<(i64, String, String)> = db
            .query(
                "SELECT kafka_offset, reason, detail FROM dead_letters ORDER BY kafka_offset",
                &[],
            )
            .map_err(|e| ConnectorError::postgres("read back", e))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let reasons: Vec<(i64, &str)> = rows.iter().map(|(o, r, _)| (*o, r.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (0, "malformed_json"),
                (1, "malformed_json"),
                (2, "malformed_json"),
                (3, "store_rejected"),
                (4, "malformed_json"),
                (5, "malformed_json"),
            ]
        );
        assert!(
            rows[3].2.contains("22021"),
            "the database's message: {}",
            rows[3].2
        );
        assert_eq!(sink.quarantined.load(Ordering::Relaxed), 1);
        Ok(())
    }

    #[test]
    fn a_batch_splits_in_output_order_until_one_update_is_left() {
        let batch = Batch {
            dead_letters: (0..5).map(letter).collect(),
            ..Batch::default()
        };
        let (left, right) = split(&batch);
        assert_eq!((left.len(), right.len()), (2, 3));
        assert_eq!(left.dead_letters[1].0.origin.offset, 1);
        assert_eq!(right.dead_letters[0].0.origin.offset, 2);
        let mut one = Batch::default();
        one.dead_letters.push(letter(7));
        let (left, right) = split(&one);
        assert_eq!(
            (left.len(), right.len()),
            (0, 1),
            "progress on a lone update"
        );
        let described = single(&right).map(|(o, k, _, what)| (o.offset, k, what));
        assert_eq!(described, Some((7, "k".to_string(), "dead letter")));
    }
}
