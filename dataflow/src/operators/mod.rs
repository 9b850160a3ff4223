//! The graph's operators, one per file, each an extension of a timely stream.

mod alerts;
mod sensors;
mod validate;
mod zones;

pub use alerts::ApplyAlertPolicy;
pub use sensors::{SensorOutputs, TrackSensors};
pub use validate::{Validate, validate_record};
pub use zones::CorrelateZones;

/// A hash of a key that is the same in every process and every run (FNV-1a),
/// so exchange routes a sensor to the same worker whatever the cluster shape.
pub fn stable_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The stashed times every input frontier has passed, oldest first: the
/// epochs an output operator may act on (`StorePostgres`, `Publish`).
pub fn complete_times<V>(
    stash: &std::collections::BTreeMap<crate::records::Time, V>,
    frontiers: &[timely::progress::frontier::MutableAntichain<crate::records::Time>],
) -> Vec<crate::records::Time> {
    stash
        .keys()
        .copied()
        .take_while(|t| frontiers.iter().all(|f| !f.less_equal(t)))
        .collect()
}
