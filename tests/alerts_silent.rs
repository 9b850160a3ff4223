//! Silent sensors (issue #16, section 3): while the simulator runs in real
//! time, one sensor stops for 10 s and a whole zone for 7.5 s. The sensor
//! raises one `silent` alert within `silent_after` + one interval of its
//! last reading, resolved when it reports again; the zone raises one zone
//! alert, not one per sensor. A replay of the same topic into a fresh
//! schema (another shape, bounded) decides the same alerts.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::store::{Error, Fixture, finish, interrupt, stored, tail};

/// Every 500 ms; `--state-interval` makes `silent_after` 5 intervals.
const INTERVAL_MS: i64 = 500;
const SILENT_AFTER_MS: i64 = 5 * INTERVAL_MS;
const SENSORS: i64 = 40;
const ROUNDS: i64 = 70;
/// tmp-00001 (zone-01) sends nothing in rounds 10..30, zone-03 (ten
/// sensors) nothing in rounds 40..55.
const MUTED: &str = "tmp-00001@10-30;zone-03@40-55";
const READINGS: i64 = SENSORS * ROUNDS - 20 - 10 * 15;

/// An alert as stored: (alert_id, scope, sensor, zone, kind, state, fired ms, resolved ms).
type Row = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

/// Alerts that fired before `before` (ms), in id order.
fn alerts(db: &mut postgres::Client, before: i64) -> Result<Vec<Row>, Error> {
    Ok(db
        .query(
            "SELECT alert_id, scope, sensor_id, zone, kind, state, \
             (extract(epoch FROM fired_at) * 1000)::bigint, \
             (extract(epoch FROM resolved_at) * 1000)::bigint \
             FROM alerts WHERE fired_at < to_timestamp($1::float8 / 1000) ORDER BY alert_id",
            &[&(before as f64)],
        )?
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect())
}

/// Alert events of alerts that fired before `before`: (event_id, deliver).
fn events(db: &mut postgres::Client, before: i64) -> Result<BTreeSet<(String, bool)>, Error> {
    Ok(db
        .query(
            "SELECT e.event_id, e.deliver FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.fired_at < to_timestamp($1::float8 / 1000)",
            &[&(before as f64)],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

fn wait_stored(
    db: &mut postgres::Client,
    want: i64,
    log: &dyn Fn() -> String,
) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored(db) < want {
        if Instant::now() > deadline {
            return Err(format!("{} of {want} readings stored\n{}", stored(db), log()).into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// The latest 02:00 UTC: values follow a daily cycle, so the data is the
/// same on every run only from a pinned time of day.
fn pinned_start_ms() -> i64 {
    const DAY: i64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let today = now - now.rem_euclid(DAY) + 2 * 3_600_000;
    if today <= now { today } else { today - DAY }
}

#[test]
fn a_silent_sensor_and_a_quiet_zone_raise_one_alert_each_and_a_replay_the_same() -> Result<(), Error>
{
    let mut fixture = Fixture::new("silent")?;
    // Only silences: no z-score alert out of the simulator's noise.
    fixture.env.extend([
        ("WEIR_DATAFLOW__Z_WARNING".into(), "1000000".into()),
        ("WEIR_DATAFLOW__Z_CRITICAL".into(), "1000000".into()),
    ]);
    let mut run = fixture.spawn(
        "run",
        &["run", "-w", "2", "--no-server", "--report-secs", "2"],
    )?;
    let mut sim = fixture.spawn(
        "simulate",
        &[
            "simulate",
            "--sensors",
            &SENSORS.to_string(),
            "--zones",
            "4",
            "--interval",
            &format!("{INTERVAL_MS}ms"),
            "--count",
            &READINGS.to_string(),
            "--seed",
            "16",
            "--start-ms",
            &pinned_start_ms().to_string(),
            "--state-interval",
            "--muted",
            MUTED,
        ],
    )?;
    finish(&fixture, &mut sim, "simulate", Duration::from_secs(120))?;
    let mut db = fixture.db()?;
    let log = || tail(&fixture.log_path("run"));
    wait_stored(&mut db, READINGS, &log)?;
    // Past the end of the data every sensor falls silent (on wall time, the
    // partitions being idle): only what the data decides is compared.
    let (first, last): (i64, i64) = {
        let row = db.query_one(
            "SELECT (extract(epoch FROM min(time)) * 1000)::bigint, \
             (extract(epoch FROM max(time)) * 1000)::bigint FROM readings",
            &[],
        )?;
        (row.get(0), row.get(1))
    };
    let decided = last - 2 * SILENT_AFTER_MS;
    std::thread::sleep(Duration::from_secs(3));
    let live = alerts(&mut db, decided)?;
    let round_of = |ms: i64| (ms - first) / INTERVAL_MS;

    // The sensor: one silent alert, resolved when it reported again.
    let sensor: Vec<&Row> = live
        .iter()
        .filter(|r| r.2.as_deref() == Some("tmp-00001"))
        .collect();
    assert_eq!(sensor.len(), 1, "one alert for tmp-00001: {live:#?}");
    let (_, _, _, zone, kind, state, fired, resolved) = sensor[0].clone();
    assert_eq!(
        (zone.as_str(), kind.as_str(), state.as_str()),
        ("zone-01", "silent", "resolved")
    );
    let last_heard: i64 = db
        .query_one(
            "SELECT (extract(epoch FROM max(time)) * 1000)::bigint FROM readings \
             WHERE sensor_id = 'tmp-00001' AND time < to_timestamp($1::float8 / 1000)",
            &[&(fired as f64)],
        )?
        .get(0);
    assert_eq!(round_of(last_heard), 9, "its last reading before the gap");
    assert_eq!(
        fired - last_heard,
        SILENT_AFTER_MS,
        "reported in event time"
    );
    assert_eq!(
        resolved.map(round_of),
        Some(30),
        "resolved by its first reading back"
    );
    // Decided on the clock of record: silent_after after its last reading
    // was sent; and stored (wall time) soon after that clock passed.
    let row = db.query_one(
        "SELECT (e.payload->'origin'->>'clock_ms')::bigint, \
         (e.payload->'origin'->>'record_ts_ms')::bigint, \
         (extract(epoch FROM e.recorded_at) * 1000)::float8 \
         FROM alert_events e JOIN alerts a USING (alert_id) \
         WHERE a.sensor_id = 'tmp-00001' AND e.event = 'fired'",
        &[],
    )?;
    let (clock, sent, recorded): (i64, i64, f64) = (row.get(0), row.get(1), row.get(2));
    let lag_ms = recorded - clock as f64;
    eprintln!(
        "tmp-00001: silent at clock {} ms after its last reading was sent; stored {lag_ms:.0} ms after that",
        clock - sent
    );
    assert_eq!(clock - sent, SILENT_AFTER_MS, "decided at its deadline");
    assert!(
        (recorded - sent as f64) <= (SILENT_AFTER_MS + INTERVAL_MS + 2_000) as f64,
        "stored {:.0} ms after its last reading was sent (silent_after + one interval = {} ms)",
        recorded - sent as f64,
        SILENT_AFTER_MS + INTERVAL_MS
    );

    // The zone: one zone alert; its members grouped or inhibited under it.
    let zone_alerts: Vec<&Row> = live
        .iter()
        .filter(|r| r.1 == "zone" && r.3 == "zone-03")
        .collect();
    assert_eq!(zone_alerts.len(), 1, "one zone alert: {live:#?}");
    assert_eq!(zone_alerts[0].5, "resolved", "{:?}", zone_alerts[0]);
    let members: Vec<&Row> = live
        .iter()
        .filter(|r| r.1 == "sensor" && r.3 == "zone-03")
        .collect();
    assert_eq!(members.len(), 10, "each sensor's own alert: {members:#?}");
    assert!(members.iter().all(|r| r.4 == "silent" && r.5 == "resolved"));
    let delivered: i64 = db
        .query_one(
            "SELECT count(*) FROM alert_events e JOIN alerts a USING (alert_id) \
             WHERE a.zone = 'zone-03' AND e.event = 'fired' AND e.deliver",
            &[],
        )?
        .get(0);
    assert_eq!(
        delivered, 5,
        "four members, then the zone alert; the rest folded in"
    );
    // Nothing else fell silent while the data flowed.
    assert_eq!(live.len(), 1 + 1 + 10, "{live:#?}");
    let live_events = events(&mut db, decided)?;
    interrupt(&mut run)?;

    // A replay into a fresh schema, by one worker, bounded: the same alerts.
    let replay_schema = format!("{}_replay", fixture.schema);
    let mut env = fixture.env.clone();
    env.retain(|(k, _)| k != "WEIR_POSTGRES__SCHEMA");
    env.push(("WEIR_POSTGRES__SCHEMA".into(), replay_schema.clone()));
    let replay = Fixture {
        env,
        schema: replay_schema,
        ..fixture
    };
    let mut again = replay.spawn_run("replay", &["--no-server"])?;
    finish(&replay, &mut again, "replay", Duration::from_secs(180))?;
    let mut db = replay.db()?;
    assert_eq!(stored(&mut db), READINGS);
    assert_eq!(
        alerts(&mut db, decided)?,
        live,
        "the replay decides the same alerts"
    );
    assert_eq!(
        events(&mut db, decided)?,
        live_events,
        "and the same events"
    );
    Ok(())
}
