//! Raw Kafka records as the graph's inputs: readings (decoded and
//! validated inside the graph, so a bad one becomes a dead letter there),
//! registry records (key = sensor id; empty payload = removed) and alert
//! control records (silences and acks, JSON).

use weir_dataflow::Sensor;
use weir_dataflow::records::{Control, ControlRecord, Origin, RegistryRecord, SourceRecord};

use super::RawRecord;

/// A registry record from a raw Kafka record (key = sensor id; empty payload = removed).
pub fn registry_record(raw: RawRecord) -> Result<RegistryRecord, String> {
    let sensor_id = String::from_utf8(raw.key)
        .map_err(|_| format!("offset {}: key is not UTF-8", raw.offset))?;
    if let Err(e) = weir_dataflow::SensorId::new(&sensor_id) {
        return Err(format!(
            "offset {}: key `{}` is not a sensor id: {e}",
            raw.offset,
            sensor_id.escape_debug()
        ));
    }
    let sensor = match raw.payload.as_deref() {
        None | Some([]) => None,
        Some(payload) => {
            let sensor =
                Sensor::decode(payload).map_err(|e| format!("offset {}: {e}", raw.offset))?;
            if sensor.sensor_id.as_str() != sensor_id {
                return Err(format!(
                    "offset {}: key `{sensor_id}` but sensor_id `{}`",
                    raw.offset, sensor.sensor_id
                ));
            }
            Some(sensor)
        }
    };
    Ok(RegistryRecord {
        sensor_id,
        sensor,
        record_ts_ms: raw.record_ts_ms,
        clock_ms: raw.clock_ms,
    })
}

/// An alert control record (a silence or an ack, JSON) from a raw Kafka record.
pub fn control_record(raw: RawRecord) -> Result<ControlRecord, String> {
    let payload = raw
        .payload
        .ok_or_else(|| format!("offset {}: empty control record", raw.offset))?;
    let control: Control = serde_json::from_slice(&payload)
        .map_err(|e| format!("offset {}: not a control record: {e}", raw.offset))?;
    Ok(ControlRecord {
        control: control.sanitized(),
        origin: Origin {
            partition: raw.partition,
            offset: raw.offset,
            record_ts_ms: raw.record_ts_ms,
            clock_ms: raw.clock_ms,
        },
    })
}

/// A raw Kafka record as the graph's input.
pub fn source_record(raw: RawRecord) -> SourceRecord {
    SourceRecord {
        origin: Origin {
            partition: raw.partition,
            offset: raw.offset,
            record_ts_ms: raw.record_ts_ms,
            clock_ms: raw.clock_ms,
        },
        key: raw.key,
        payload: raw.payload.unwrap_or_default(),
        content_type: raw.content_type,
        clock_skewed: raw.clock_skewed,
    }
}
