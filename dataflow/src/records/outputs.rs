//! The graph's outputs, named once: [`each_output!`] is the one list of
//! them (kind, field, record type, name, description), and everything that
//! handles every output is generated from it or visits it: [`OutputKind`]
//! (`ALL`, `name`), [`OutputRecord`] (a record type's output and its place
//! in [`OutputUpdates`]), [`OutputUpdates`] and its `visit`, and the graph's
//! stream struct `graph::Outputs` and its `visit`. Adding an output is a
//! line here plus its handlers.

use serde::{Deserialize, Serialize};

use super::{
    AlertEvent, Anomaly, DeadLetter, LatestState, StoredReading, Update, WindowAggregate,
    ZoneIncident,
};

/// Calls `$callback!` with every output of the graph, in order, as
/// `Kind, field: Record, "name", "description";`.
macro_rules! each_output {
    ($callback:ident) => {
        $callback! {
            Readings, readings: StoredReading, "readings", "Readings to store.";
            Windows, windows: WindowAggregate, "windows", "5-minute and 1-hour window aggregates.";
            Latest, latest: LatestState, "latest", "Latest state per sensor.";
            Anomalies, anomalies: Anomaly, "anomalies", "Anomalous readings.";
            Incidents, incidents: ZoneIncident, "incidents", "Zone incidents.";
            DeadLetters, dead_letters: DeadLetter, "dead_letters", "Records rejected anywhere in the graph, with the reason.";
            AlertEvents, alert_events: AlertEvent, "alert_events", "Alert lifecycle events.";
        }
    };
}
pub(crate) use each_output;

/// The record type of one output: which output it is, and where its
/// updates go in an [`OutputUpdates`].
pub trait OutputRecord: Clone + Send + Serialize + 'static {
    /// The output.
    const KIND: OutputKind;
    /// This output's updates in `all`.
    fn updates(all: &mut OutputUpdates) -> &mut Vec<Update<Self>>;
}

/// Something done to each output's updates in an [`OutputUpdates`],
/// whatever its record type (see [`OutputUpdates::visit`]).
pub trait UpdatesVisitor {
    /// Called once per output, with its updates.
    fn visit<D: OutputRecord>(&mut self, updates: &[Update<D>]);
}

macro_rules! define_outputs {
    ($($kind:ident, $field:ident: $record:ty, $name:literal, $doc:literal;)*) => {
        /// One output of the graph (see the module).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum OutputKind {
            $(#[doc = $doc] $kind,)*
        }

        impl OutputKind {
            /// Every output, in the order they are listed everywhere.
            pub const ALL: [OutputKind; [$($name),*].len()] = [$(OutputKind::$kind),*];

            /// Its name (output files, summaries, logs).
            pub fn name(self) -> &'static str {
                match self {
                    $(OutputKind::$kind => $name,)*
                }
            }
        }

        $(impl OutputRecord for $record {
            const KIND: OutputKind = OutputKind::$kind;
            fn updates(all: &mut OutputUpdates) -> &mut Vec<Update<Self>> {
                &mut all.$field
            }
        })*

        /// Updates of every output of the graph, gathered (a sink's batch, a test's collection).
        #[derive(Clone, Debug, Default, Serialize)]
        pub struct OutputUpdates {
            $(#[doc = $doc] pub $field: Vec<Update<$record>>,)*
        }

        impl OutputUpdates {
            /// Calls `visitor` on every output's updates, in [`OutputKind::ALL`] order.
            pub fn visit(&self, visitor: &mut impl UpdatesVisitor) {
                $(visitor.visit(&self.$field);)*
            }

            /// Appends `other`'s updates.
            pub fn merge(&mut self, other: OutputUpdates) {
                $(self.$field.extend(other.$field);)*
            }

            /// Updates of every output together.
            pub fn len(&self) -> usize {
                0 $(+ self.$field.len())*
            }

            /// Whether there is no update at all.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_empty())*
            }
        }
    };
}

each_output!(define_outputs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_is_listed_once_with_its_own_name() {
        let names: std::collections::BTreeSet<&str> =
            OutputKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), OutputKind::ALL.len());
        assert_eq!(OutputKind::ALL.len(), 7);
        assert_eq!(<DeadLetter as OutputRecord>::KIND.name(), "dead_letters");
        let mut all = OutputUpdates::default();
        assert!(all.is_empty());
        <Anomaly as OutputRecord>::updates(&mut all).clear();
        assert_eq!(all.len(), 0);
    }
}
