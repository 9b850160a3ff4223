//! The dataflow end to end against the real broker: a seeded simulation with
//! faults, `weir run --until-end` on several cluster shapes, and a naive
//! single-threaded reference computed here from the same records.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use weir_connectors::kafka::RawRecord;
use weir_connectors::kafka::{registry_record, source_record};
use weir_dataflow::DataflowConfig;
use weir_dataflow::records::{RegistryRecord, SourceRecord};
use weir_dataflow::reference;

use common::{brokers, run_weir, schema_of, text, topic_env, unique, weir};

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Consolidated = BTreeMap<String, BTreeMap<String, i64>>;

/// Reads every record of `topic` (12 partitions), computing partition clocks.
fn read_topic(topic: &str) -> Result<Vec<RawRecord>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in 0..12 {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(30))?;
        ends.insert(p, high);
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let total: i64 = ends.values().sum();
    let mut records = Vec::new();
    let mut clocks: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last = Instant::now();
    while (records.len() as i64) < total && last.elapsed() < Duration::from_secs(60) {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        last = Instant::now();
        let ts = message.timestamp().to_millis().unwrap_or_default();
        let clock = clocks.entry(message.partition()).or_insert(i64::MIN);
        *clock = (*clock).max(ts);
        records.push(RawRecord {
            partition: message.partition(),
            offset: message.offset(),
            record_ts_ms: ts,
            clock_ms: *clock,
            key: message.key().unwrap_or_default().to_vec(),
            payload: message.payload().map(<[u8]>::to_vec),
            content_type: message.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == "content-type")
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            }),
            clock_skewed: false,
        });
    }
    assert_eq!(records.len() as i64, total, "read all of {topic}");
    Ok(records)
}

/// Runs `weir run --until-end` with extra args; returns the output directory
/// and the workers' summaries.
fn run_pipeline(
    env: &[(String, String)],
    name: &str,
    args: &[&str],
) -> Result<(PathBuf, Vec<Value>), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(unique(name));
    let dir_arg = dir.display().to_string();
    let mut all = vec!["run", "--until-end", "--output-dir", &dir_arg];
    all.extend_from_slice(args);
    let output = run_weir(&all, env)?;
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "weir run {args:?}: {stderr}\n{stdout}"
    );
    // One JSON summary line per worker on stdout.
    let summaries = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok((dir, summaries))
}

/// Sums the diffs of every output record written under `dir`.
fn consolidate(dir: &Path) -> Result<Consolidated, Box<dyn std::error::Error>> {
    let mut out: Consolidated = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            let value: Value = serde_json::from_str(line)?;
            let output = value["output"].as_str().unwrap_or_default().to_string();
            let record = value["record"].to_string();
            *out.entry(output).or_default().entry(record).or_default() +=
                value["diff"].as_i64().unwrap_or_default();
        }
    }
    for records in out.values_mut() {
        records.retain(|_, d| *d != 0);
    }
    Ok(out)
}

/// What one consolidated output has that the other lacks, per output (for messages).
fn differences(a: &Consolidated, b: &Consolidated) -> String {
    let mut out = String::new();
    for output in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (a.get(output), b.get(output));
        let only = |p: Option<&BTreeMap<String, i64>>, q: Option<&BTreeMap<String, i64>>| {
            p.into_iter()
                .flatten()
                .filter(|(k, d)| q.and_then(|q| q.get(*k)) != Some(*d))
                .map(|(k, d)| format!("{d:+} {k}"))
                .take(5)
                .collect::<Vec<_>>()
        };
        let (left, right) = (only(x, y), only(y, x));
        if !left.is_empty() || !right.is_empty() {
            out.push_str(&format!(
                "\n{output}: first only {left:#?}\nsecond only {right:#?}"
            ));
        }
    }
    out
}

fn records_of(consolidated: &Consolidated, output: &str) -> Vec<Value> {
    consolidated
        .get(output)
        .map(|m| {
            m.iter()
                .inspect(|(_, d)| assert_eq!(**d, 1, "{output}: every final record once"))
                .filter_map(|(k, _)| serde_json::from_str(k).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn free_port() -> std::io::Result<u16> {
    common::free_port()
}

#[test]
fn pipeline_matches_the_reference_and_every_cluster_shape_agrees() -> TestResult {
    let prefix = unique("flow");
    let env = topic_env(&prefix);
    let output = run_weir(&["topics"], &env)?;
    assert!(output.status.success(), "{:?}", text(&output));
    let output = run_weir(
        &[
            "simulate",
            "--count",
            "8000",
            "--sensors",
            "80",
            "--zones",
            "4",
            "--rate",
            "max",
            "--seed",
            "11",
            "--spike-rate",
            "0.01",
            "--garbage-rate",
            "0.01",
            "--late-rate",
            "0.02",
            "--stuck-sensors",
            "2",
            "--abnormal-zone",
            "zone-02",
            "--fault-after-rounds",
            "60",
        ],
        &env,
    )?;
    assert!(output.status.success(), "{:?}", text(&output));

    // The reference, from the records as the broker holds them.
    let readings: Vec<SourceRecord> = read_topic(&format!("{prefix}-readings"))?
        .into_iter()
        .map(source_record)
        .collect();
    let registry: Vec<RegistryRecord> = read_topic(&format!("{prefix}-registry"))?
        .into_iter()
        .map(registry_record)
        .collect::<Result<_, _>>()?;
    assert_eq!(readings.len(), 8000);
    let expected = reference::compute(&readings, &registry, &DataflowConfig::default());

    let one = consolidate(&run_pipeline(&env, "w1", &["-w", "1"])?.0)?;

    // Counts and identities.
    let got_readings = records_of(&one, "readings");
    assert_eq!(got_readings.len(), expected.readings.len());
    let key = |v: &Value| {
        (
            v["origin"]["partition"].as_i64(),
            v["origin"]["offset"].as_i64(),
        )
    };
    let stored: BTreeMap<_, &Value> = got_readings.iter().map(|v| (key(v), v)).collect();
    for r in &expected.readings {
        let got = stored
            .get(&(Some(i64::from(r.origin.partition)), Some(r.origin.offset)))
            .unwrap_or_else(|| panic!("reading {:?} missing", r.origin));
        assert_eq!(got["zone"], Value::from(r.zone.clone()));
        assert_eq!(got["flags"], serde_json::to_value(&r.flags)?);
    }
    // Final window aggregates.
    let windows = records_of(&one, "windows");
    assert_eq!(windows.len(), expected.windows.len());
    let by_window: BTreeMap<_, &Value> = windows
        .iter()
        .map(|w| {
            (
                (
                    w["sensor_id"].to_string(),
                    w["size"].to_string(),
                    w["start_ms"].as_i64(),
                ),
                w,
            )
        })
        .collect();
    for w in &expected.windows {
        let k = (
            Value::from(w.sensor_id.clone()).to_string(),
            serde_json::to_value(w.size)?.to_string(),
            Some(w.start_ms),
        );
        let got = by_window
            .get(&k)
            .unwrap_or_else(|| panic!("window {k:?} missing"));
        assert_eq!(got["count"].as_u64(), Some(w.count), "{k:?}");
        assert_eq!(
            (got["min"].as_f64(), got["max"].as_f64()),
            (Some(w.min), Some(w.max))
        );
        assert!((got["sum"].as_f64().unwrap_or(f64::NAN) - w.sum).abs() < 1e-6);
    }
    // The set of anomalies (each reading scored once, against its past).
    let anomalies: BTreeSet<_> = records_of(&one, "anomalies")
        .iter()
        .map(|a| (key(a), a["severity"].to_string()))
        .collect();
    let want: BTreeSet<_> = expected
        .anomalies
        .iter()
        .map(|a| {
            (
                (Some(i64::from(a.origin.partition)), Some(a.origin.offset)),
                serde_json::to_value(a.severity)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(anomalies, want);
    // Dead letters by reason, and zone incidents.
    let dead: BTreeSet<_> = records_of(&one, "dead_letters")
        .iter()
        .map(|d| (key(d), d["reason"].to_string()))
        .collect();
    let want: BTreeSet<_> = expected
        .dead_letters
        .iter()
        .map(|d| {
            (
                (Some(i64::from(d.origin.partition)), Some(d.origin.offset)),
                Value::from(d.reason.clone()).to_string(),
            )
        })
        .collect();
    assert_eq!(dead, want);
    let reasons: BTreeSet<String> = dead.iter().map(|(_, r)| r.clone()).collect();
    assert!(reasons.len() >= 4, "{reasons:?}");
    let incidents: BTreeSet<String> = records_of(&one, "incidents")
        .iter()
        .map(Value::to_string)
        .collect();
    let want: BTreeSet<String> = expected
        .incidents
        .iter()
        .map(|i| {
            serde_json::to_value(i)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(!want.is_empty(), "the abnormal zone makes an incident");
    assert_eq!(incidents, want);

    // The store holds exactly the reference's readings and views.
    check_store(&schema_of(&prefix), &expected)?;

    // Shape invariance: 1x2 and 2x1 give exactly the same consolidated outputs.
    let (dir, summaries) = run_pipeline(&env, "w2", &["-w", "2"])?;
    let two = consolidate(&dir)?;
    assert!(
        one == two,
        "1x1 and 1x2 differ: {}",
        differences(&one, &two)
    );
    // Each worker reports its partitions' offsets as complete, covering every record once,
    // and its dead letters by reason.
    assert_eq!(summaries.len(), 2);
    let covered: i64 = summaries
        .iter()
        .flat_map(|s| s["completed_offsets"][1].as_object().into_iter().flatten())
        .map(|(_, next)| next.as_i64().unwrap_or_default())
        .sum();
    assert_eq!(covered, 8000);
    let by_reason: i64 = summaries
        .iter()
        .flat_map(|s| s["dead_letter_reasons"].as_object().into_iter().flatten())
        .map(|(_, n)| n.as_i64().unwrap_or_default())
        .sum();
    assert_eq!(by_reason as usize, expected.dead_letters.len());
    let hostfile = std::env::temp_dir().join(unique("hosts"));
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port()?, free_port()?),
    )?;
    let dir = std::env::temp_dir().join(unique("p2"));
    let spawn = |process: &str| -> std::io::Result<Child> {
        weir()
            .args(["run", "--until-end", "-n", "2", "-p", process, "--hostfile"])
            .arg(&hostfile)
            .arg("--output-dir")
            .arg(&dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
    };
    let first = spawn("0")?;
    let second = spawn("1")?;
    for child in [first, second] {
        let output = child.wait_with_output()?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let cluster = consolidate(&dir)?;
    assert!(one == cluster, "1x1 and 2 processes x 1 differ");
    // Three runs wrote to the same schema, each replaying everything: the
    // idempotent writes leave exactly the same rows.
    check_store(&schema_of(&prefix), &expected)?;
    Ok(())
}

/// The PostgreSQL tables against the reference: every reading once, views
/// equal to a GROUP BY over the stored readings, dead letters by reason.
fn check_store(schema: &str, expected: &reference::Expected) -> TestResult {
    let url = std::env::var("WEIR_POSTGRES__URL")
        .unwrap_or_else(|_| "postgres://weir:weir@127.0.0.1:5432/weir".into());
    let mut db = postgres::Client::connect(&url, postgres::NoTls)?;
    db.batch_execute(&format!("SET search_path TO {schema}"))?;
    let count = |db: &mut postgres::Client, sql: &str| -> Result<i64, postgres::Error> {
        Ok(db.query_one(sql, &[])?.get(0))
    };
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM readings")?,
        expected.readings.len() as i64
    );
    let too_late = expected
        .readings
        .iter()
        .filter(|r| r.flags.contains(&weir_dataflow::records::Flag::TooLate))
        .count();
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM readings WHERE 'too_late' = ANY(flags)"
        )?,
        too_late as i64
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM sensor_5m")?
            + count(&mut db, "SELECT count(*) FROM sensor_1h")?,
        expected.windows.len() as i64
    );
    for (table, width) in [("sensor_5m", "5 minutes"), ("sensor_1h", "1 hour")] {
        let mismatched = count(
            &mut db,
            &format!(
                "WITH g AS (SELECT sensor_id, date_bin('{width}', time, 'epoch') AS bucket, count(*) AS c, \
                 sum(value) AS s, min(value) AS mn, max(value) AS mx FROM readings \
                 WHERE NOT ('too_late' = ANY(flags)) GROUP BY 1, 2) \
                 SELECT count(*) FROM g FULL JOIN {table} v USING (sensor_id, bucket) \
                 WHERE g.c IS DISTINCT FROM v.count OR abs(g.s - v.sum) > 1e-6 * greatest(1, abs(g.s)) \
                 OR g.mn IS DISTINCT FROM v.min OR g.mx IS DISTINCT FROM v.max"
            ),
        )?;
        assert_eq!(mismatched, 0, "{table} differs from GROUP BY over readings");
    }
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM anomalies")?,
        expected.anomalies.len() as i64
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM sensor_latest")?,
        expected.latest.len() as i64
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM zone_state")?,
        expected.incidents.len() as i64
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM dead_letters")?,
        expected.dead_letters.len() as i64
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM dead_letters WHERE reason = 'too_late'"
        )?,
        too_late as i64,
        "every too-late reading is stored and dead-lettered"
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets"
        )?,
        8000
    );
    Ok(())
}

#[test]
fn cluster_flags_are_checked() -> TestResult {
    let output = weir().args(["run", "-n", "2"]).output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--hostfile"));
    let _ = Command::new("true").status();
    Ok(())
}
