//! Decodes and validates raw records: readings on one side, dead letters on the other.
//!
//! Runs on the worker that read the record (before any exchange), so the
//! raw bytes and their origin are at hand for the dead letter. Checks that
//! need the registry (valid range) and the sensor's history (lateness) come
//! later, in `TrackSensors`.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::config::DataflowConfig;
use crate::decode;
use crate::records::{DeadLetter, DeadReason, Flag, SourceRecord, Time, Update, Validated};

/// Decodes one record and flags its timestamp against the record time.
pub fn validate_record(
    record: SourceRecord,
    config: &DataflowConfig,
) -> Result<Validated, Box<DeadLetter>> {
    let SourceRecord {
        origin,
        key,
        payload,
        content_type,
        clock_skewed,
    } = record;
    let dead = |reason: DeadReason, detail: String, payload: Vec<u8>| {
        Box::new(DeadLetter::new(
            origin.clone(),
            &key,
            payload,
            reason,
            &detail,
        ))
    };
    let reading = match decode(&payload, content_type.as_deref()) {
        Ok(reading) => reading,
        Err(error) => {
            return Err(dead(
                DeadReason::Decode(error.reason()),
                error.to_string(),
                payload,
            ));
        }
    };
    if key != reading.sensor_id.as_str().as_bytes() {
        // The key decides the partition: a sensor keyed otherwise could be
        // spread over partitions, and its readings would lose their order.
        let detail = format!(
            "record key `{}` is not the sensor id `{}`",
            String::from_utf8_lossy(&key),
            reading.sensor_id
        );
        return Err(dead(DeadReason::KeyMismatch, detail, payload));
    }
    let mut flags = Vec::new();
    if clock_skewed {
        flags.push(Flag::ClockSkew);
    }
    if reading.ts_ms < origin.record_ts_ms.saturating_sub(config.stale_after_ms) {
        flags.push(Flag::StaleTimestamp);
    }
    if reading.ts_ms > origin.record_ts_ms.saturating_add(config.future_after_ms) {
        flags.push(Flag::FutureTimestamp);
    }
    Ok(Validated {
        reading,
        origin,
        flags,
        payload,
    })
}

/// Validated readings, and dead letters as `+1` updates.
pub type Checked<'scope> = (
    Stream<'scope, Time, Vec<Validated>>,
    Stream<'scope, Time, Vec<Update<DeadLetter>>>,
);

/// Splits raw records into validated readings and dead letters.
pub trait Validate<'scope> {
    /// Readings that decode, and dead letters for those that do not.
    fn validate(self, config: DataflowConfig) -> Checked<'scope>;
}

impl<'scope> Validate<'scope> for Stream<'scope, Time, Vec<SourceRecord>> {
    fn validate(self, config: DataflowConfig) -> Checked<'scope> {
        let mut builder = OperatorBuilder::new("ValidateReadings".to_owned(), self.scope());
        let mut input = builder.new_input(self, Pipeline);
        let (ok, ok_stream) = builder.new_output();
        let (err, err_stream) = builder.new_output();
        let mut ok = OutputBuilder::from(ok);
        let mut err = OutputBuilder::from(err);
        builder.build(move |_| {
            move |_frontiers| {
                let mut ok = ok.activate();
                let mut err = err.activate();
                input.for_each_stamp(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    let mut ok = ok.session(&cap);
                    let mut err = err.session(&cap);
                    for record in data.flat_map(|d| d.drain(..)) {
                        match validate_record(record, &config) {
                            Ok(valid) => ok.give(valid),
                            Err(dead) => err.give((*dead, time, 1)),
                        }
                    }
                });
            }
        });
        (ok_stream, err_stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Origin;

    fn record(key: &str, payload: &str, record_ts: i64) -> SourceRecord {
        SourceRecord {
            origin: Origin {
                partition: 3,
                offset: 17,
                record_ts_ms: record_ts,
                clock_ms: record_ts,
            },
            key: key.as_bytes().to_vec(),
            payload: payload.as_bytes().to_vec(),
            content_type: Some("application/json".into()),
            clock_skewed: false,
        }
    }

    #[test]
    fn timestamps_are_flagged_against_the_record_time() -> Result<(), Box<DeadLetter>> {
        let config = DataflowConfig::default();
        let t = 1_764_000_000_000i64;
        let json = |ts: i64| format!(r#"{{"sensorId":"s-1","timestamp":{ts},"value":1.5}}"#);
        let ok = validate_record(record("s-1", &json(t), t), &config)?;
        assert!(ok.flags.is_empty());
        let stale = validate_record(record("s-1", &json(t - 300_001), t), &config)?;
        assert_eq!(stale.flags, [Flag::StaleTimestamp]);
        let future = validate_record(record("s-1", &json(t + 60_001), t), &config)?;
        assert_eq!(future.flags, [Flag::FutureTimestamp]);
        Ok(())
    }

    #[test]
    fn bad_records_become_dead_letters_with_origin_bytes_and_reason() {
        let config = DataflowConfig::default();
        let cases = [
            (
                "s-1",
                r#"{"sensorId":"s-1","timestamp":1,"value":NaN}"#,
                "not_finite",
            ),
            (
                "s-1",
                r#"{"sensorId":"s-1","timestamp":1,"#,
                "malformed_json",
            ),
            (
                "s-2",
                r#"{"sensorId":"s-1","timestamp":1,"value":1}"#,
                "key_mismatch",
            ),
            ("s-1", r#"{"timestamp":1,"value":1}"#, "missing"),
        ];
        for (key, payload, reason) in cases {
            let dead = validate_record(record(key, payload, 5), &config)
                .err()
                .map(|d| (d.reason.clone(), d.payload.clone(), d.origin.offset));
            assert_eq!(
                dead,
                Some((reason.to_string(), payload.as_bytes().to_vec(), 17)),
                "{payload}"
            );
        }
    }
}
