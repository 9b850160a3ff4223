//! Which partitions a worker reads (`p % peers == worker` of every input
//! topic), and its sources opened over them.

use std::collections::BTreeMap;

use weir_dataflow::driver::Role;

use super::KafkaConfig;
use super::partitions::SourceRules;
use super::source::{Sources, Spec};
use crate::ConnectorError;

/// The partitions of each input topic one worker reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Its readings partitions.
    pub readings: Vec<i32>,
    /// Every readings partition of the topic (a restart looks at all of them).
    pub all_readings: Vec<i32>,
    /// Its registry partitions.
    pub registry: Vec<i32>,
    /// Its alert-control partitions.
    pub control: Vec<i32>,
}

impl Assignment {
    /// Worker `index` of `peers`: partitions `p` with `p % peers == index`.
    pub fn of_worker(
        kafka: &KafkaConfig,
        index: usize,
        peers: usize,
    ) -> Result<Assignment, ConnectorError> {
        let all_readings = Sources::partitions(kafka, &kafka.readings_topic)?;
        Ok(Assignment {
            readings: owned(&all_readings, index, peers),
            registry: owned(
                &Sources::partitions(kafka, &kafka.registry_topic)?,
                index,
                peers,
            ),
            control: owned(
                &Sources::partitions(kafka, &kafka.control_topic)?,
                index,
                peers,
            ),
            all_readings,
        })
    }

    /// The worker's sources: the registry and the alert-control topic read
    /// whole at every start, the readings from `start` (the beginning
    /// where absent).
    pub fn open(
        &self,
        kafka: &KafkaConfig,
        start: &BTreeMap<i32, i64>,
        rules: SourceRules,
    ) -> Result<Sources, ConnectorError> {
        let whole = BTreeMap::new();
        Sources::open(
            kafka,
            &[
                Spec {
                    role: Role::Registry,
                    topic: &kafka.registry_topic,
                    partitions: &self.registry,
                    start: &whole,
                },
                Spec {
                    role: Role::Control,
                    topic: &kafka.control_topic,
                    partitions: &self.control,
                    start: &whole,
                },
                Spec {
                    role: Role::Readings,
                    topic: &kafka.readings_topic,
                    partitions: &self.readings,
                    start,
                },
            ],
            rules,
        )
    }
}

fn owned(all: &[i32], index: usize, peers: usize) -> Vec<i32> {
    all.iter()
        .copied()
        .filter(|p| usize::try_from(*p).is_ok_and(|p| p % peers.max(1) == index))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_one_worker() {
        let all: Vec<i32> = (0..12).collect();
        let mut seen: Vec<i32> = (0..5).flat_map(|w| owned(&all, w, 5)).collect();
        seen.sort_unstable();
        assert_eq!(seen, all);
        assert_eq!(owned(&all, 3, 5), [3, 8]);
        assert!(
            owned(&[0, 1], 2, 3).is_empty(),
            "more workers than partitions"
        );
    }
}
