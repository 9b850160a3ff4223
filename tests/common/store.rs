//! Helpers of the store tests: a broker of the test's own with simulated
//! input, `weir run` children, and the exactly-once checks on PostgreSQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use weir::simulate::{Generator, SimulatorConfig};
use weir_dataflow::decode;

use super::{OwnBroker, run_weir, schema_of, text, topic_env, unique, weir};

/// Boxed errors: tests report any failure with its message.
pub type Error = Box<dyn std::error::Error>;

/// A `weir` child that is killed when the test lets go of it, whether the
/// test passed or failed half-way (a live run left behind would load the
/// machine for every later test).
pub struct Running(Child);

impl From<Child> for Running {
    fn from(child: Child) -> Running {
        Running(child)
    }
}

impl std::ops::Deref for Running {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A start for simulated event time: six hours ago, on the hour. Recent,
/// because the topics' 7-day retention (by record timestamp) would delete
/// older records; on the hour, so window buckets are easy to name.
pub fn start_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let start = now - 6 * 3_600_000;
    start - start.rem_euclid(3_600_000)
}

/// A start for simulated event time that pins the simulator's output: the
/// latest 02:00 UTC at least two hours ago. The simulated values follow a
/// daily cycle (they depend on the time of day), so a test that asserts
/// exact decisions must start at the same time of day on every run; the
/// date changes nothing else, and recent data stays within the topics'
/// retention.
pub fn pinned_start_ms() -> i64 {
    const DAY: i64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let latest = now - 2 * 3_600_000;
    let at = latest - latest.rem_euclid(DAY) + 2 * 3_600_000;
    if at <= latest { at } else { at - DAY }
}

/// The PostgreSQL URL the tests use.
pub fn pg_url() -> String {
    std::env::var("WEIR_POSTGRES__URL")
        .unwrap_or_else(|_| "postgres://weir:weir@127.0.0.1:5432/weir".into())
}

/// `version cluster` of the cluster serving the tests' PostgreSQL port.
pub fn pg_cluster() -> Result<(String, String), Error> {
    let url = pg_url();
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("5432")
        .to_string();
    let output = std::process::Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()?;
    let listing = String::from_utf8(output.stdout)?;
    listing
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.len() > 2 && cols[2] == port)
        .map(|cols| (cols[0].to_string(), cols[1].to_string()))
        .ok_or_else(|| {
            format!("no PostgreSQL cluster on port {port} in `pg_lsclusters`:\n{listing}").into()
        })
}

/// One store test's world: its own broker, topics and PostgreSQL schema.
pub struct Fixture {
    /// The test's broker (restartable).
    pub broker: OwnBroker,
    /// Environment for `weir` children.
    pub env: Vec<(String, String)>,
    /// The PostgreSQL schema.
    pub schema: String,
    /// Where children's logs go.
    pub logs: PathBuf,
}

impl Fixture {
    /// Starts a broker and creates the topics.
    pub fn new(name: &str) -> Result<Fixture, Error> {
        Fixture::with_broker(name, OwnBroker::start(&format!("{name}-broker"))?, &[])
    }

    /// Creates the topics on `broker`, with `env` added for `weir topics` and every child.
    pub fn with_broker(
        name: &str,
        broker: OwnBroker,
        extra: &[(&str, &str)],
    ) -> Result<Fixture, Error> {
        let prefix = unique(name);
        let mut env = topic_env(&prefix);
        env.retain(|(k, _)| k != "WEIR_KAFKA__BROKERS");
        env.push(("WEIR_KAFKA__BROKERS".into(), broker.address.clone()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let logs = std::env::temp_dir().join(format!("{prefix}-logs"));
        std::fs::create_dir_all(&logs)?;
        let fixture = Fixture {
            broker,
            env,
            schema: schema_of(&prefix),
            logs,
        };
        let output = run_weir(&["topics"], &fixture.env)?;
        assert!(output.status.success(), "topics: {:?}", text(&output));
        Ok(fixture)
    }

    /// `weir simulate` arguments producing `sim`'s records at `rate` (`max` or per second).
    pub fn simulate_args(sim: &SimulatorConfig, rate: &str) -> Vec<String> {
        [
            "simulate",
            "--count",
            &sim.count.to_string(),
            "--sensors",
            &sim.sensors.to_string(),
            "--zones",
            &sim.zones.to_string(),
            "--interval",
            &format!("{}ms", sim.interval_ms),
            "--rate",
            rate,
            "--seed",
            &sim.seed.to_string(),
            "--start-ms",
            &sim.start_ms.to_string(),
            "--spike-rate",
            &sim.spike_rate.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }

    /// Produces `sim`'s records (and the registry) with `weir simulate`, as fast as it can.
    pub fn simulate(&self, sim: &SimulatorConfig) -> Result<(), Error> {
        let args = Fixture::simulate_args(sim, "max");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run_weir(&args, &self.env)?;
        assert!(output.status.success(), "simulate: {:?}", text(&output));
        Ok(())
    }

    /// Starts `weir` with `args`, logging to `<logs>/<name>.log`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Result<Running, Error> {
        let log = std::fs::File::create(self.log_path(name))?;
        Ok(Running(
            weir()
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    }

    /// Starts a live `weir run` serving on `127.0.0.1:port` (API, `/metrics`).
    pub fn spawn_live(&self, name: &str, port: u16, args: &[&str]) -> Result<Running, Error> {
        let mut all = vec!["run", "--report-secs", "2"];
        all.extend_from_slice(args);
        let log = std::fs::File::create(self.log_path(name))?;
        Ok(Running(
            weir()
                .args(&all)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .env("WEIR_SERVER__LISTEN", format!("127.0.0.1:{port}"))
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    }

    /// Starts `weir run --until-end` with `args`.
    pub fn spawn_run(&self, name: &str, args: &[&str]) -> Result<Running, Error> {
        let mut all = vec!["run", "--until-end", "--report-secs", "2"];
        all.extend_from_slice(args);
        self.spawn(name, &all)
    }

    /// The name of one of the test's topics (`readings`, `registry`, `alerts`, `dlq`, `control`).
    pub fn topic(&self, which: &str) -> String {
        let var = format!("WEIR_KAFKA__{}_TOPIC", which.to_uppercase());
        self.env
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The log file of the child `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// A connection with the test's schema on the search path.
    pub fn db(&self) -> Result<Client, Error> {
        let mut db = Client::connect(&pg_url(), NoTls)?;
        db.batch_execute(&format!("SET search_path TO {}", self.schema))?;
        Ok(db)
    }
}

/// The tail of a log file, for assertion messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Readings stored so far (0 while the schema does not exist yet).
pub fn stored(db: &mut Client) -> i64 {
    db.query_one("SELECT count(*) FROM readings", &[])
        .map_or(0, |row| row.get(0))
}

/// Waits until more than `than` readings are stored; fails if `child` exits
/// or nothing new is stored within `timeout`.
pub fn wait_stored_beyond(
    fixture: &Fixture,
    child: &mut Child,
    name: &str,
    than: i64,
    timeout: Duration,
) -> Result<i64, Error> {
    let mut db = fixture.db()?;
    let deadline = Instant::now() + timeout;
    loop {
        let now = stored(&mut db);
        if now > than {
            return Ok(now);
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!(
                "{name} exited ({status}) with {now} stored:\n{}",
                tail(&fixture.log_path(name))
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name} stored nothing beyond {than} in {timeout:?}:\n{}",
                tail(&fixture.log_path(name))
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `sql` (one bigint) returns `want`; fails if `child` exits
/// first or `timeout` passes.
pub fn wait_for_value(
    fixture: &Fixture,
    child: &mut Child,
    name: &str,
    sql: &str,
    want: i64,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Ok(mut db) = fixture.db() {
            last = db.query_one(sql, &[]).ok().map(|row| row.get::<_, i64>(0));
            if last == Some(want) {
                return Ok(());
            }
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!(
                "{name} exited ({status}); `{sql}` = {last:?}:\n{}",
                tail(&fixture.log_path(name))
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "`{sql}` = {last:?}, not {want}, after {timeout:?}:\n{}",
                tail(&fixture.log_path(name))
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops a live `weir run` as Ctrl-C would (SIGINT) and waits for it to exit.
pub fn interrupt(child: &mut Child) -> Result<(), Error> {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(status.success(), "kill -INT: {status}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("weir run did not stop within 60 s of SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Waits for `child` to exit successfully within `timeout`.
pub fn finish(
    fixture: &Fixture,
    child: &mut Child,
    name: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                return Err(format!(
                    "{name} failed ({status}):\n{}",
                    tail(&fixture.log_path(name))
                )
                .into());
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{name} did not finish in {timeout:?}:\n{}",
                tail(&fixture.log_path(name))
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Per sensor: (count, sum of event times in ms, sum of values).
pub type Checksums = BTreeMap<String, (i64, i64, f64)>;

/// What `sim` produces, per sensor.
pub fn expected(sim: &SimulatorConfig) -> Result<Checksums, Error> {
    let mut out = Checksums::new();
    for record in Generator::new(sim, 0)? {
        let reading = decode(&record.payload, Some(record.content_type))?;
        let entry = out.entry(record.key).or_default();
        entry.0 += 1;
        entry.1 += reading.ts_ms;
        entry.2 += reading.value;
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Every produced reading stored exactly once, the windows equal to a GROUP
/// BY over the stored readings (none missing, none doubled), one latest row
/// per sensor, and the durable offsets covering every record.
pub fn check_exactly_once(db: &mut Client, want: &Checksums) -> Result<(), Error> {
    let want_count: i64 = want.values().map(|c| c.0).sum();
    let want_sum: f64 = want.values().map(|c| c.2).sum();
    let row = db.query_one(
        "SELECT count(*), coalesce(sum(value), 0) FROM readings",
        &[],
    )?;
    let (count, sum): (i64, f64) = (row.get(0), row.get(1));
    assert_eq!(count, want_count, "every reading exactly once");
    assert!(close(sum, want_sum), "sum of values: {sum} vs {want_sum}");
    let mut got = Checksums::new();
    for row in db.query(
        "SELECT sensor_id, count(*), sum((extract(epoch FROM time) * 1000)::bigint)::bigint, sum(value) \
         FROM readings GROUP BY 1",
        &[],
    )? {
        got.insert(row.get(0), (row.get(1), row.get(2), row.get(3)));
    }
    assert_eq!(got.len(), want.len(), "sensors stored");
    for (id, (c, ts, v)) in want {
        let (gc, gts, gv) = got.get(id).copied().unwrap_or_default();
        assert_eq!((gc, gts), (*c, *ts), "{id}: count and event-time checksum");
        assert!(close(gv, *v), "{id}: sum of values {gv} vs {v}");
    }
    check_views(db)?;
    let latest: i64 = db
        .query_one("SELECT count(*) FROM sensor_latest", &[])?
        .get(0);
    assert_eq!(latest, want.len() as i64, "one latest row per sensor");
    let durable: i64 = db
        .query_one(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
            &[],
        )?
        .get(0);
    assert_eq!(
        durable, want_count,
        "the durable offsets cover every record"
    );
    Ok(())
}

/// The window views equal a GROUP BY over the stored readings not flagged
/// `too_late`: no row missing, none extra, none different.
pub fn check_views(db: &mut Client) -> Result<(), Error> {
    for (table, width) in [("sensor_5m", "5 minutes"), ("sensor_1h", "1 hour")] {
        let row = db.query_one(
            &format!(
                "WITH g AS (SELECT sensor_id, date_bin('{width}', time, 'epoch') AS bucket, count(*) AS c, \
                 sum(value) AS s, min(value) AS mn, max(value) AS mx FROM readings \
                 WHERE NOT ('too_late' = ANY(flags)) GROUP BY 1, 2) \
                 SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM {table}), \
                 (SELECT count(*) FROM g FULL JOIN {table} v USING (sensor_id, bucket) \
                  WHERE g.c IS DISTINCT FROM v.count OR abs(g.s - v.sum) > 1e-6 * greatest(1, abs(g.s)) \
                  OR g.mn IS DISTINCT FROM v.min OR g.mx IS DISTINCT FROM v.max)"
            ),
            &[],
        )?;
        let (groups, rows, mismatched): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (rows, mismatched),
            (groups, 0),
            "{table}: rows and mismatches against GROUP BY over readings"
        );
    }
    Ok(())
}

/// The sum of the durable next offsets (every partition starts at 0: the
/// records made durable).
pub fn durable(db: &mut Client) -> i64 {
    db.query_one(
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
        &[],
    )
    .map_or(0, |row| row.get(0))
}

/// A `/metrics` value (the first line starting with `series`), if exported.
pub fn metric(address: &str, series: &str) -> Option<f64> {
    let (status, body, _) = super::ingest::curl(&[&format!("http://{address}/metrics")]).ok()?;
    if status != 200 {
        return None;
    }
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// A disturbance under load: `sim` is produced at `rate` readings/s while a
/// live `weir run -w 2` consumes it; once readings are durable, `disturb`
/// runs (with how many are stored). Then every reading and every offset must
/// become durable, and the run is stopped (SIGINT). Returns the run's log.
pub fn under_load(
    fixture: &mut Fixture,
    sim: &SimulatorConfig,
    rate: &str,
    disturb: impl FnOnce(&mut Fixture, i64) -> Result<(), Error>,
) -> Result<String, Error> {
    let args = Fixture::simulate_args(sim, rate);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut producer = fixture.spawn("simulate", &args)?;
    let mut run = fixture.spawn("run", &["run", "-w", "2", "--report-secs", "2"])?;
    let before = wait_stored_beyond(fixture, &mut run, "run", 0, Duration::from_secs(120))?;
    disturb(fixture, before)?;
    finish(fixture, &mut producer, "simulate", Duration::from_secs(300))?;
    let count = sim.count as i64;
    for (sql, timeout) in [
        ("SELECT count(*) FROM readings", 300),
        (
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM source_offsets",
            60,
        ),
    ] {
        wait_for_value(
            fixture,
            &mut run,
            "run",
            sql,
            count,
            Duration::from_secs(timeout),
        )?;
    }
    interrupt(&mut run)?;
    Ok(std::fs::read_to_string(fixture.log_path("run"))?)
}
