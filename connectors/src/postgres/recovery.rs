//! Where a restarted worker resumes, from what the store holds: the durable
//! offsets and the offset↔clock checkpoints (`source_offsets`,
//! `source_checkpoints`), checked against what the broker still holds, and
//! the alerts the alert rules start from.
//!
//! ```text
//!  source_offsets ─► durable offset per partition ─┐
//!  source_checkpoints ─► rewind_ms back ───────────┼─► Recovery (start offsets, rewind clocks, suppression)
//!  broker watermarks ─► gaps (fail, or source_gaps) ┘
//!  alerts (open, recent) ─► AlertSeed (unless everything is replayed)
//! ```

use std::collections::BTreeMap;

use weir_dataflow::config::AlertPolicy;
use weir_dataflow::state::AlertSeed;

use super::sink::PgSink;
use crate::ConnectorError;
use crate::kafka::{Gap, KafkaConfig, Sources, resume_gaps};

/// Where a restarted worker resumes, from what is durable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovery {
    /// Per partition: the offset to start reading at (far enough back to rebuild state).
    pub start_offsets: BTreeMap<i32, i64>,
    /// Per partition: the first offset that is not durable yet.
    pub durable_offsets: BTreeMap<i32, i64>,
    /// The same for every partition of the topic (not only this worker's).
    pub all_durable_offsets: BTreeMap<i32, i64>,
    /// Every partition is replayed from its beginning (no checkpoint lies
    /// far enough back to rewind to): the replay rebuilds all state,
    /// alert state included, from nothing.
    pub replays_everything: bool,
    /// Incident rows starting before this (event time, ms) are not
    /// written: the replay may not hold all of their anomalies.
    pub suppress_before_ms: Option<i64>,
    /// Per partition rewound mid-stream (of every partition of the topic),
    /// the clock of the checkpoint it restarts from: windows of its sensors
    /// that began before it are rebuilt from the stored readings.
    pub rewind_clocks: BTreeMap<i32, i64>,
    /// Per partition (of every partition), the clock at the durable offset.
    pub durable_clocks: BTreeMap<i32, i64>,
    /// Per partition (of every partition), where its replay starts.
    pub rewind_starts: BTreeMap<i32, i64>,
}

impl Recovery {
    /// Where to resume once `gaps` are accepted (`kafka.on_gap = "record"`),
    /// given each partition's log (start, end) offsets. A partition whose
    /// durable offset lies past the log's end (a topic recreated) starts
    /// again at the log's start, with nothing taken as alerted on. One
    /// whose replay would start below what the log still holds (records
    /// deleted) rebuilds state from less than the rewind span: its rewind
    /// clock becomes the durable clock, so its sensors' windows up to the
    /// durable point are rebuilt from the store.
    pub fn resume_after_gaps(
        &mut self,
        gaps: &[crate::kafka::Gap],
        marks: &BTreeMap<i32, (i64, i64)>,
    ) {
        for gap in gaps.iter().filter(|g| g.kind == "beyond_end") {
            self.all_durable_offsets.insert(gap.partition, gap.to);
            self.rewind_starts.insert(gap.partition, gap.to);
            if let Some(durable) = self.durable_offsets.get_mut(&gap.partition) {
                *durable = gap.to;
                self.start_offsets.insert(gap.partition, gap.to);
            }
            if let Some(clock) = self.durable_clocks.get(&gap.partition) {
                self.rewind_clocks.insert(gap.partition, *clock);
            }
        }
        for (partition, start) in &self.rewind_starts {
            if marks.get(partition).is_some_and(|(low, _)| start < low)
                && let Some(clock) = self.durable_clocks.get(partition)
            {
                self.rewind_clocks.insert(*partition, *clock);
            }
        }
    }
}

impl PgSink {
    /// The alerts a restart seeds the alert rules with.
    pub fn alerts_to_seed(&mut self) -> Result<Vec<weir_dataflow::records::Alert>, ConnectorError> {
        super::alerts::alerts_to_seed(&mut self.client)
            .map_err(|e| ConnectorError::postgres("read alerts to seed", e))
    }

    /// Reads what is durable and decides where each of `partitions` restarts:
    /// `rewind_ms` of record time before the durable offset (by the stored
    /// offset↔clock checkpoints), so state can be rebuilt; and from which event
    /// time windows and incidents are complete again (over all partitions).
    pub fn recovery(
        &mut self,
        partitions: &[i32],
        rewind_ms: i64,
        future_after_ms: i64,
    ) -> Result<Recovery, ConnectorError> {
        let pg = |op: &'static str| move |e| ConnectorError::postgres(op, e);
        let rows = self
            .client
            .query(
                "SELECT o.kafka_partition, o.next_offset, o.clock_ms, \
                        (SELECT c.next_offset FROM source_checkpoints c \
                          WHERE c.topic = o.topic AND c.kafka_partition = o.kafka_partition \
                            AND c.clock_ms <= o.clock_ms - $2 ORDER BY c.next_offset DESC LIMIT 1), \
                        (SELECT c.clock_ms FROM source_checkpoints c \
                          WHERE c.topic = o.topic AND c.kafka_partition = o.kafka_partition \
                            AND c.clock_ms <= o.clock_ms - $2 ORDER BY c.next_offset DESC LIMIT 1) \
                 FROM source_offsets o WHERE o.topic = $1",
                &[&self.topic, &rewind_ms],
            )
            .map_err(pg("read source offsets"))?;
        let mut recovery = Recovery {
            replays_everything: true,
            ..Recovery::default()
        };
        for row in rows {
            let partition: i32 = row.get(0);
            let next: i64 = row.get(1);
            let rewind_to: Option<i64> = row.get(3);
            let rewind_clock: Option<i64> = row.get(4);
            recovery.durable_clocks.insert(partition, row.get(2));
            recovery
                .rewind_starts
                .insert(partition, rewind_to.unwrap_or(0));
            if let (Some(_), Some(clock)) = (rewind_to, rewind_clock) {
                let bound = clock.saturating_add(future_after_ms);
                recovery.suppress_before_ms =
                    Some(recovery.suppress_before_ms.map_or(bound, |b| b.max(bound)));
                recovery.rewind_clocks.insert(partition, clock);
            }
            recovery.all_durable_offsets.insert(partition, next);
            if rewind_to.is_some() {
                recovery.replays_everything = false;
            }
            if partitions.contains(&partition) {
                recovery.durable_offsets.insert(partition, next);
                recovery
                    .start_offsets
                    .insert(partition, rewind_to.unwrap_or(0));
            }
        }
        self.suppress_before_ms = recovery.suppress_before_ms;
        Ok(recovery)
    }

    /// Records `gaps` in `source_gaps`; a partition whose durable offset lay
    /// past the log's end gets its durable offset set back to where reading
    /// goes on (the old one belonged to a log that is gone).
    pub fn record_gaps(&mut self, gaps: &[crate::kafka::Gap]) -> Result<(), ConnectorError> {
        if gaps.is_empty() {
            return Ok(());
        }
        let gaps = gaps.to_vec();
        self.retrying("record gaps", move |sink| {
            let mut tx = sink.client.transaction()?;
            for gap in &gaps {
                tx.execute(
                    "INSERT INTO source_gaps (topic, kafka_partition, from_offset, to_offset, kind) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&gap.topic, &gap.partition, &gap.from, &gap.to, &gap.kind],
                )?;
                if gap.kind == "beyond_end" {
                    tx.execute(
                        "UPDATE source_offsets SET next_offset = $3, updated_at = now() \
                         WHERE topic = $1 AND kafka_partition = $2",
                        &[&gap.topic, &gap.partition, &gap.to],
                    )?;
                    tx.execute(
                        "DELETE FROM source_checkpoints WHERE topic = $1 AND kafka_partition = $2",
                        &[&gap.topic, &gap.partition],
                    )?;
                }
            }
            tx.commit()
        })
    }
}

/// Where one worker resumes, and what its alert rules start from.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// Offsets, rewind clocks and what is suppressed.
    pub recovery: Recovery,
    /// The alert rules' starting state.
    pub seed: AlertSeed,
    /// Gaps of this worker's partitions recorded in `source_gaps`.
    pub gaps: usize,
}

/// Decides where a worker owning `mine` (of `all` the readings partitions)
/// resumes: nothing is skipped silently, since a durable offset outside the
/// log is a gap (fatal, or recorded with `kafka.on_gap = "record"`). Every
/// worker looks at every partition (its sensors come from all of them) and
/// so decides alike; each records its own partitions' gaps.
pub fn resume(
    pg: &mut PgSink,
    kafka: &KafkaConfig,
    (mine, all): (&[i32], &[i32]),
    (rewind_ms, future_after_ms): (i64, i64),
    alerts: &AlertPolicy,
) -> Result<Resume, ConnectorError> {
    let mut recovery = pg.recovery(mine, rewind_ms, future_after_ms)?;
    let mut recorded = 0;
    if !recovery.all_durable_offsets.is_empty() {
        let marks = Sources::watermarks(kafka, &kafka.readings_topic, all)?;
        let gaps = resume_gaps(
            kafka.on_gap,
            &kafka.readings_topic,
            &recovery.all_durable_offsets,
            &marks,
        )?;
        let own: Vec<Gap> = gaps
            .iter()
            .filter(|g| mine.contains(&g.partition))
            .cloned()
            .collect();
        pg.record_gaps(&own)?;
        recorded = own.len();
        recovery.resume_after_gaps(&gaps, &marks);
    }
    // A restart that rewinds mid-stream: the alert rules start from the
    // store, and skip what was alerted on. One that replays everything from
    // the beginning rebuilds the alert state like the rest.
    let mut seed = match recovery.replays_everything {
        false => AlertSeed::from_store(
            pg.alerts_to_seed()?,
            recovery.all_durable_offsets.clone(),
            alerts,
        ),
        true => AlertSeed::default(),
    };
    // Sensors of partitions rewound mid-stream rebuild their windows that
    // began before the rewind point from the store.
    seed.rewind_clocks = recovery.rewind_clocks.clone();
    Ok(Resume {
        recovery,
        seed,
        gaps: recorded,
    })
}
