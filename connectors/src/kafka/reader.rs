//! The Kafka source as the driver's partition reader
//! ([`weir_dataflow::driver::PartitionReader`]): records polled from the
//! worker's partitions, decoded into the graph's inputs (`decode`), with the
//! clocks and bounded-run ends the source keeps.

use std::time::Duration;

use tracing::warn;
use weir_dataflow::driver::{Item, PartitionReader, Role};
use weir_dataflow::records::Time;

use super::Sources;
use super::decode::{control_record, registry_record, source_record};
use crate::ConnectorError;

/// Records read per round at most (then the worker steps the graph).
const ROUND_MAX: usize = 10_000;

impl PartitionReader for Sources {
    type Error = ConnectorError;

    /// Polls without waiting; a registry or control record that cannot be
    /// decoded is logged and counted (`take_registry_rejected`), never fed.
    fn read<F: FnMut(Item)>(&mut self, mut feed: F) -> Result<usize, ConnectorError> {
        let mut rejected = 0;
        let read = self.poll(ROUND_MAX, Duration::ZERO, |role, raw| match role {
            Role::Readings => feed(Item::Reading(source_record(raw))),
            Role::Registry => match registry_record(raw) {
                Ok(record) => feed(Item::Registry(record)),
                Err(reason) => {
                    rejected += 1;
                    warn!(%reason, "registry record rejected");
                }
            },
            Role::Control => match control_record(raw) {
                Ok(record) => feed(Item::Control(record)),
                Err(reason) => warn!(%reason, "alert control record rejected"),
            },
        })?;
        self.registry_rejected += rejected;
        Ok(read)
    }

    fn owns(&self, role: Role) -> bool {
        self.state(role).is_some_and(|t| !t.partitions.is_empty())
    }

    /// See [`weir_dataflow::clock::PartitionClocks::input_time`].
    fn input_time(&self, role: Role, tick_ms: u64) -> Option<Time> {
        self.state(role)?.clocks.input_time(tick_ms)
    }

    /// A bounded source has read every partition of `role` to the end
    /// offset seen when it opened.
    fn finished(&self, role: Role) -> bool {
        self.state(role)
            .is_some_and(|t| t.ends.is_some() && t.clocks.all_finished())
    }

    /// Every record sent so far is at a time before `time`, so the current
    /// next offsets cover exactly the epochs below it: a checkpoint that
    /// [`Sources::completed`] hands out once the outputs pass `time`.
    fn advanced(&mut self, time: Time) {
        let Some(state) = self.state(Role::Readings) else {
            return;
        };
        // A partition read nothing from yet has no record clock: it is left
        // out (its offset has not moved; a made-up clock would mislead the
        // next restart's rewind).
        let checkpoint = state
            .next_offsets
            .iter()
            .filter_map(|(p, next)| Some((*p, (*next, state.clocks.record_clock(*p)?))))
            .collect();
        self.epochs.push_back((time, checkpoint));
    }
}

impl Sources {
    /// Registry records that could not be decoded since the last call.
    pub fn take_registry_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.registry_rejected)
    }
}
