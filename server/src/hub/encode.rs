//! What a flush sends: the changes since the previous one ([`Delta`]),
//! serialised once per zone and once for all zones ([`Encoded`]), so a
//! thousand WebSocket subscribers cost one serialisation, not a thousand.

use std::collections::BTreeMap;

use weir_dataflow::records::AlertEvent;

use crate::views::{AnomalyView, IncidentView, SensorView};

/// Changes since the previous flush.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// Changed sensors, one entry each, in their latest state.
    pub sensors: Vec<SensorView>,
    /// New anomalies.
    pub anomalies: Vec<AnomalyView>,
    /// Changed incidents.
    pub incidents: Vec<IncidentView>,
    /// Alert events.
    pub alerts: Vec<AlertEvent>,
    /// The same, serialised once for every subscriber: per zone, and for all zones.
    pub encoded: Encoded,
}

/// JSON objects of one delta, comma-separated, without brackets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parts {
    /// Sensor views.
    pub sensors: String,
    /// Anomaly views.
    pub anomalies: String,
    /// Incident views.
    pub incidents: String,
    /// Alert events.
    pub alerts: String,
}

impl Parts {
    fn push(list: &mut String, json: &str) {
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str(json);
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
            && self.anomalies.is_empty()
            && self.incidents.is_empty()
            && self.alerts.is_empty()
    }

    /// Appends `other`.
    pub fn extend(&mut self, other: &Parts) {
        for (mine, theirs) in [
            (&mut self.sensors, &other.sensors),
            (&mut self.anomalies, &other.anomalies),
            (&mut self.incidents, &other.incidents),
            (&mut self.alerts, &other.alerts),
        ] {
            if !theirs.is_empty() {
                Parts::push(mine, theirs);
            }
        }
    }
}

/// A delta serialised once (serialising per subscriber does not scale to
/// a thousand clients).
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    /// Per zone.
    pub zones: BTreeMap<String, Parts>,
    /// Every zone.
    pub all: Parts,
}

impl Encoded {
    /// Serialises each view once, into its zone's parts and into all.
    pub fn new(
        sensors: &[SensorView],
        anomalies: &[AnomalyView],
        incidents: &[IncidentView],
        alerts: &[AlertEvent],
    ) -> Encoded {
        let mut encoded = Encoded::default();
        let mut add = |zone: &str, json: String, pick: fn(&mut Parts) -> &mut String| {
            Parts::push(
                pick(encoded.zones.entry(zone.to_string()).or_default()),
                &json,
            );
            Parts::push(pick(&mut encoded.all), &json);
        };
        for v in sensors {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.sensors
            });
        }
        for v in anomalies {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.anomalies
            });
        }
        for v in incidents {
            add(&v.zone, serde_json::to_string(v).unwrap_or_default(), |p| {
                &mut p.incidents
            });
        }
        for e in alerts {
            add(
                &e.alert.zone,
                serde_json::to_string(e).unwrap_or_default(),
                |p| &mut p.alerts,
            );
        }
        encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(id: &str, zone: &str) -> SensorView {
        SensorView {
            zone: zone.to_string(),
            ts: Some(1),
            value: Some(2.5),
            ..SensorView::empty(id)
        }
    }

    #[test]
    fn each_view_is_encoded_once_into_its_zone_and_into_all() {
        let views = [
            sensor("a-1", "za"),
            sensor("b-1", "zb"),
            sensor("a-2", "za"),
        ];
        let encoded = Encoded::new(&views, &[], &[], &[]);
        let json = |v: &SensorView| serde_json::to_string(v).unwrap_or_default();
        assert_eq!(
            encoded.zones["za"].sensors,
            format!("{},{}", json(&views[0]), json(&views[2]))
        );
        assert_eq!(encoded.zones["zb"].sensors, json(&views[1]));
        assert_eq!(
            encoded.all.sensors,
            format!(
                "{},{},{}",
                json(&views[0]),
                json(&views[1]),
                json(&views[2])
            )
        );
        assert!(encoded.all.anomalies.is_empty() && !encoded.all.is_empty());
        // The pieces are valid JSON once bracketed.
        let parsed: Result<Vec<serde_json::Value>, _> =
            serde_json::from_str(&format!("[{}]", encoded.all.sensors));
        assert_eq!(parsed.map(|v| v.len()).unwrap_or(0), 3);
    }

    #[test]
    fn parts_extend_joins_lists_with_commas_and_skips_empty_ones() {
        let mut parts = Parts::default();
        assert!(parts.is_empty());
        parts.extend(&Parts {
            sensors: "1".into(),
            ..Parts::default()
        });
        parts.extend(&Parts {
            sensors: "2".into(),
            alerts: "x".into(),
            ..Parts::default()
        });
        parts.extend(&Parts::default());
        assert_eq!(parts.sensors, "1,2");
        assert_eq!(parts.alerts, "x");
        assert!(parts.anomalies.is_empty() && parts.incidents.is_empty());
    }
}
