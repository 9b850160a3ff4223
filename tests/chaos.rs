//! `scripts/chaos.sh`: the faults of issue #14 against one live pipeline,
//! one after another, and a table of what each cost.
//!
//! One world: a broker of its own (Tansu, sqlite), a Mosquitto of its own,
//! `weir ingest` (HTTP + MQTT) and a live `weir run -w 2` on its own topics
//! and PostgreSQL schema. Each phase sends readings of its own sensors,
//! injects its fault, and waits until every reading that must be stored
//! is. Columns: readings sent (records and publishes, repeats and poison
//! included), stored (distinct rows of the phase's sensors), dead-lettered
//! (PostgreSQL `dead_letters` for what the dataflow refused, the
//! dead-letter topic for what the gateways refused), lost (readings that
//! must be stored and are not), duplicated (rows stored that were not
//! expected, plus window counts above a recomputation over `readings`),
//! and the time from the fault until the last expected reading was stored.
//!
//! Not a `cargo test` target (`test = false`): `scripts/chaos.sh` runs it
//! with `cargo test --release --test chaos`. It exits non-zero if anything
//! was lost or duplicated. Faults that need a world of their own (a full
//! disk, a corrupt buffer segment, gaps after retention, a refusing alert
//! receiver, 16 workers over 12 partitions, a 5M backlog) are in
//! `tests/robust_*.rs`.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::OwnBroker;
use common::ingest::{Ingest, OwnMosquitto, TOKEN, post, reading};
use common::kafka::{Outside, read_topic};
use common::store::{Running, pg_url, tail};
use common::webhook::free_port;
use postgres::{Client, NoTls};

type Error = Box<dyn std::error::Error>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

fn json(sensor: &str, ts: i64, value: f64) -> Vec<u8> {
    reading(sensor, ts, value).into_bytes()
}

/// One row of the table.
struct Row {
    fault: String,
    sent: usize,
    stored: i64,
    dead: i64,
    lost: i64,
    duplicated: i64,
    recovery: f64,
}

struct World {
    broker: OwnBroker,
    mosquitto: OwnMosquitto,
    ingest: Ingest,
    run: Option<Running>,
    port: u16,
    logs: std::path::PathBuf,
    runs: usize,
    producer: Outside,
}

impl World {
    fn start() -> Result<World, Error> {
        let broker = OwnBroker::start("chaos-broker")?;
        let mosquitto = OwnMosquitto::start("chaos-mqtt")?;
        let mqtt = format!("broker = \"{}\"", mosquitto.address);
        let mut ingest = Ingest::new(
            "chaos",
            Some(&broker.address),
            &[
                ("ingest.mqtt", &mqtt),
                ("ingest.grpc", "enabled = false"),
                ("ingest.rate", "device_burst = 1000000.0"),
                ("ingest.rate", "device_per_sec = 1000000.0"),
            ],
        )?;
        ingest.start()?;
        let producer = Outside::new(&broker.address)?;
        let logs = ingest.dir.clone();
        let mut world = World {
            broker,
            mosquitto,
            ingest,
            run: None,
            port: free_port()?,
            logs,
            runs: 0,
            producer,
        };
        world.start_run()?;
        Ok(world)
    }

    fn start_run(&mut self) -> Result<(), Error> {
        self.runs += 1;
        let log = std::fs::File::create(self.run_log())?;
        let child = common::weir()
            .args(["run", "-w", "2", "--report-secs", "2"])
            .envs(self.ingest.env.iter().map(|(k, v)| (k, v)))
            .env("WEIR_SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.run = Some(Running::from(child));
        Ok(())
    }

    fn run_log(&self) -> std::path::PathBuf {
        self.logs.join(format!("run-{}.log", self.runs))
    }

    fn db(&self) -> Result<Client, Error> {
        let schema = self
            .ingest
            .env
            .iter()
            .find(|(k, _)| k == "WEIR_POSTGRES__SCHEMA")
            .map(|(_, v)| v.clone())
            .ok_or("no schema")?;
        let mut db = Client::connect(&pg_url(), NoTls)?;
        db.batch_execute(&format!("SET search_path TO {schema}"))?;
        Ok(db)
    }

    fn topic(&self, which: &str) -> String {
        let var = format!("WEIR_KAFKA__{}_TOPIC", which.to_uppercase());
        self.ingest
            .env
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Stored rows of sensors `like` (SQL pattern), and those in `want`.
    fn stored(&self, like: &str, want: &BTreeSet<(String, i64)>) -> Result<(i64, i64), Error> {
        let mut db = self.db()?;
        let rows = db.query(
            "SELECT sensor_id, (extract(epoch FROM time) * 1000)::bigint FROM readings WHERE sensor_id LIKE $1",
            &[&like],
        )?;
        let all = rows.len() as i64;
        let expected = rows
            .iter()
            .filter(|r| want.contains(&(r.get::<_, String>(0), r.get::<_, i64>(1))))
            .count() as i64;
        Ok((all, expected))
    }

    /// Waits until every reading of `want` is stored (or 180 s); the seconds it took.
    fn wait(
        &mut self,
        like: &str,
        want: &BTreeSet<(String, i64)>,
        since: Instant,
    ) -> Result<f64, Error> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok((_, got)) = self.stored(like, want)
                && got == want.len() as i64
            {
                return Ok(since.elapsed().as_secs_f64());
            }
            if let Some(run) = self.run.as_mut()
                && let Some(status) = run.try_wait()?
            {
                return Err(
                    format!("weir run exited ({status}):\n{}", tail(&self.run_log())).into(),
                );
            }
            if Instant::now() > deadline {
                return Ok(f64::NAN);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Window counts above a recomputation over `readings`, for sensors `like`.
    fn window_excess(&self, like: &str) -> Result<i64, Error> {
        let mut db = self.db()?;
        let row = db.query_one(
            "WITH g AS (SELECT sensor_id, date_bin('5 minutes', time, 'epoch') AS bucket, count(*) AS c \
             FROM readings WHERE sensor_id LIKE $1 AND NOT ('too_late' = ANY(flags)) GROUP BY 1, 2) \
             SELECT coalesce(sum(greatest(v.count - coalesce(g.c, 0), 0)), 0)::bigint \
             FROM sensor_5m v LEFT JOIN g USING (sensor_id, bucket) WHERE v.sensor_id LIKE $1",
            &[&like],
        )?;
        Ok(row.get(0))
    }

    fn dead_in_store(&self, like: &str) -> Result<i64, Error> {
        let mut db = self.db()?;
        Ok(db
            .query_one(
                "SELECT count(*) FROM dead_letters WHERE key LIKE $1",
                &[&like],
            )?
            .get(0))
    }

    /// A finished phase's row.
    fn row(
        &mut self,
        fault: &str,
        sent: usize,
        like: &str,
        want: &BTreeSet<(String, i64)>,
        dead: i64,
        since: Instant,
    ) -> Result<Row, Error> {
        let recovery = self.wait(like, want, since)?;
        // Anything else that was going to arrive has, too.
        std::thread::sleep(Duration::from_secs(2));
        let (all, got) = self.stored(like, want)?;
        Ok(Row {
            fault: fault.to_string(),
            sent,
            stored: all,
            dead,
            lost: want.len() as i64 - got,
            duplicated: (all - got) + self.window_excess(like)?,
            recovery,
        })
    }

    /// `n` readings of `sensors` sensors named `prefix-i`, one per second of
    /// event time from `from`, straight into Kafka; the (sensor, ts) sent.
    fn produce(
        &self,
        prefix: &str,
        sensors: usize,
        n: usize,
        from: i64,
    ) -> Result<Vec<(String, i64, f64)>, Error> {
        let topic = self.topic("readings");
        let mut sent = Vec::new();
        for i in 0..n {
            let id = format!("{prefix}-{}", i % sensors);
            let ts = from + (i / sensors) as i64 * 1_000 + (i % sensors) as i64;
            let value = 20.0 + (i % 11) as f64 / 4.0;
            self.producer
                .send(&topic, id.as_bytes(), Some(&json(&id, ts, value)), None)?;
            sent.push((id, ts, value));
        }
        self.producer.flush()?;
        Ok(sent)
    }
}

fn keys(sent: &[(String, i64, f64)]) -> BTreeSet<(String, i64)> {
    sent.iter().map(|(s, t, _)| (s.clone(), *t)).collect()
}

fn duplicates(world: &mut World) -> Result<Row, Error> {
    let since = Instant::now();
    let sent = world.produce("tmp-cdup", 5, 300, now_ms() - 300_000)?;
    let topic = world.topic("readings");
    // 100 exact repeats and 20 conflicting ones, as retrying clients send them.
    for (n, (id, ts, value)) in sent.iter().take(120).enumerate() {
        let value = if n < 100 { *value } else { value + 50.0 };
        world
            .producer
            .send(&topic, id.as_bytes(), Some(&json(id, *ts, value)), None)?;
    }
    world.producer.flush()?;
    let want = keys(&sent);
    let mut row = world.row(
        "duplicates: 100 exact, 20 conflicting (Kafka)",
        420,
        "tmp-cdup-%",
        &want,
        0,
        since,
    )?;
    row.dead = world.dead_in_store("tmp-cdup-%")?;
    Ok(row)
}

fn poison(world: &mut World) -> Result<Row, Error> {
    let since = Instant::now();
    let (readings, registry) = (world.topic("readings"), world.topic("registry"));
    let t = now_ms();
    let p = &world.producer;
    p.send(
        &registry,
        b"tmp-cpsn-0",
        Some(br#"{"sensor_id":"tmp-cpsn-0","kind":"temperature","zone":"z\u0000"}"#),
        Some(t - 60_000),
    )?;
    p.send(
        &readings,
        b"tmp-cpsn-\0key",
        Some(&json("tmp-cpsn-0", t, 1.0)),
        None,
    )?;
    p.send(
        &readings,
        b"tmp-cpsn-x",
        Some(br#"{"sensorId":"tmp-cpsn-x\u0000y","timestamp":1,"value":1}"#),
        None,
    )?;
    p.send(
        &readings,
        b"tmp-cpsn-0",
        Some(br#"{"sensorId":"tmp-cpsn-0","timestamp":1,"value":"high"}"#),
        Some(9_000_000_000_000_000),
    )?;
    p.flush()?;
    let sent = world.produce("tmp-cpsn", 3, 300, t - 300_000)?;
    let want = keys(&sent);
    let mut row = world.row(
        "poison: NUL key, NUL id, NUL zone, ts out of range (Kafka)",
        304,
        "tmp-cpsn%",
        &want,
        0,
        since,
    )?;
    row.dead = world.dead_in_store("tmp-cpsn%")?;
    Ok(row)
}

fn skewed_clock(world: &mut World) -> Result<Row, Error> {
    let since = Instant::now();
    let topic = world.topic("readings");
    let ahead = now_ms() + 3_600_000;
    world.producer.send(
        &topic,
        b"tmp-cskw-0",
        Some(&json("tmp-cskw-0", ahead, 1.0)),
        Some(ahead),
    )?;
    world.producer.flush()?;
    let mut sent = world.produce("tmp-cskw", 3, 300, now_ms() - 300_000)?;
    sent.push(("tmp-cskw-0".into(), ahead, 1.0));
    let want = keys(&sent);
    world.row(
        "clock: one record stamped 1 h ahead (Kafka)",
        301,
        "tmp-cskw-%",
        &want,
        0,
        since,
    )
}

fn kill_run(world: &mut World) -> Result<Row, Error> {
    let from = now_ms() - 600_000;
    let mut sent = world.produce("tmp-ckil", 4, 400, from)?;
    std::thread::sleep(Duration::from_millis(1_500));
    let since = Instant::now();
    if let Some(mut run) = world.run.take() {
        let _ = run.kill();
        let _ = run.wait();
    }
    sent.extend(world.produce("tmp-ckil", 4, 400, from + 100_000 + 7)?);
    world.start_run()?;
    let want = keys(&sent);
    world.row(
        "kill -9 of weir run mid-stream, restart",
        800,
        "tmp-ckil-%",
        &want,
        0,
        since,
    )
}

fn broker_restart(world: &mut World) -> Result<Row, Error> {
    let from = now_ms() - 600_000;
    let mut sent = world.produce("tmp-cbrk", 4, 400, from)?;
    let since = Instant::now();
    world.broker.restart()?;
    sent.extend(world.produce("tmp-cbrk", 4, 400, from + 100_000 + 7)?);
    let want = keys(&sent);
    world.row(
        "broker restart mid-stream",
        800,
        "tmp-cbrk-%",
        &want,
        0,
        since,
    )
}

fn late_upload(world: &mut World) -> Result<Row, Error> {
    // A restart, then a store-and-forward logger's 6-hour-old readings.
    if let Some(mut run) = world.run.take() {
        common::store::interrupt(&mut run)?;
    }
    world.start_run()?;
    let since = Instant::now();
    let sent = world.produce("tmp-clat", 3, 600, now_ms() - 6 * 3_600_000)?;
    let want = keys(&sent);
    world.row(
        "restart, then 6 h old readings (late upload)",
        600,
        "tmp-clat-%",
        &want,
        0,
        since,
    )
}

fn mqtt_publish(
    port: &str,
    topic: &str,
    args: &[&str],
    stdin: Option<std::fs::File>,
) -> Result<(), Error> {
    let mut command = Command::new("mosquitto_pub");
    command
        .args(["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic])
        .args(args);
    if let Some(file) = stdin {
        command.stdin(file);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!("mosquitto_pub: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(())
}

fn mqtt_oversized(world: &mut World) -> Result<Row, Error> {
    let since = Instant::now();
    let port = world
        .mosquitto
        .address
        .rsplit(':')
        .next()
        .unwrap_or("1883")
        .to_string();
    for (i, size) in [1_000_100usize, 2_000_000].iter().enumerate() {
        let path = world.ingest.dir.join(format!("chaos-big-{i}"));
        std::fs::write(&path, vec![b'{'; *size])?;
        let topic = world.ingest.topic(&format!("mq-cbig-{i}"));
        mqtt_publish(&port, &topic, &["-f", &path.display().to_string()], None)?;
    }
    let t = now_ms() - 200_000;
    let lines: Vec<String> = (0..200)
        .map(|i| reading("mq-cbig-ok", t + i * 1_000, 1.0))
        .collect();
    let path = world.ingest.dir.join("chaos-lines");
    std::fs::write(&path, lines.join("\n") + "\n")?;
    mqtt_publish(
        &port,
        &world.ingest.topic("mq-cbig-ok"),
        &["-l"],
        Some(std::fs::File::open(&path)?),
    )?;
    let want: BTreeSet<(String, i64)> = (0..200)
        .map(|i| ("mq-cbig-ok".to_string(), t + i * 1_000))
        .collect();
    let mut row = world.row(
        "MQTT publishes of 1,000,100 B and 2 MB, QoS 1",
        202,
        "mq-cbig-%",
        &want,
        0,
        since,
    )?;
    row.dead = read_topic(&world.broker.address, &world.topic("dlq"), 12, 2)?
        .iter()
        .filter(|r| r.key.starts_with("mq-cbig-") && r.header("x-weir-reason") == Some("too_large"))
        .count() as i64;
    Ok(row)
}

fn kill_ingest(world: &mut World) -> Result<Row, Error> {
    // A client that retries each batch until it is answered 202, under
    // load, while weir ingest is killed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new((Vec::<(String, i64)>::new(), 0usize)));
    let address = world.ingest.http.clone();
    let from = now_ms() - 300_000;
    let client = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        std::thread::spawn(move || {
            let auth = format!("Bearer {TOKEN}");
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ];
            for b in 0..150i64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let batch: Vec<(String, i64)> = (0..20)
                    .map(|i| {
                        (
                            format!("load-ckin-{}", i % 4),
                            from + b * 20_000 + i * 1_000,
                        )
                    })
                    .collect();
                let body = format!(
                    "[{}]",
                    batch
                        .iter()
                        .map(|(s, t)| reading(s, *t, 1.0))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let status = post(&address, "/ingest/batch", &headers, body.as_bytes())
                        .map_or(0, |r| r.0);
                    if let Ok(mut s) = sent.lock() {
                        s.1 += batch.len();
                    }
                    if status == 202 || Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                if let Ok(mut s) = sent.lock() {
                    s.0.extend(batch.iter().cloned());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let since = Instant::now();
    world.ingest.kill();
    std::thread::sleep(Duration::from_millis(500));
    world.ingest.start()?;
    let _ = client.join();
    stop.store(true, Ordering::Relaxed);
    let (batches, attempts) = sent.lock().map(|s| (s.0.clone(), s.1)).unwrap_or_default();
    let want: BTreeSet<(String, i64)> = batches.into_iter().collect();
    world.row(
        "kill -9 of weir ingest under HTTP load, client retries",
        attempts,
        "load-ckin-%",
        &want,
        0,
        since,
    )
}

fn main() -> Result<(), Error> {
    let started = Instant::now();
    let mut world = World::start()?;
    // The pipeline is up once a first reading is stored.
    let warm = world.produce("tmp-cwarm", 1, 5, now_ms() - 10_000)?;
    let want = keys(&warm);
    world.wait("tmp-cwarm-%", &want, Instant::now())?;
    type Phase = fn(&mut World) -> Result<Row, Error>;
    let phases: [Phase; 8] = [
        duplicates,
        poison,
        skewed_clock,
        mqtt_oversized,
        kill_ingest,
        kill_run,
        broker_restart,
        late_upload,
    ];
    let mut rows = Vec::new();
    for phase in phases {
        let row = phase(&mut world)?;
        eprintln!("chaos: {} done ({:.1} s)", row.fault, row.recovery);
        rows.push(row);
    }
    let mut table = String::from(
        "| fault | readings sent | stored | dead-lettered | lost | duplicated | time to recover (s) |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} |\n",
            r.fault, r.sent, r.stored, r.dead, r.lost, r.duplicated, r.recovery
        ));
    }
    println!("{table}");
    println!(
        "(one live pipeline, {} s in all)",
        started.elapsed().as_secs()
    );
    let bad = rows
        .iter()
        .filter(|r| r.lost != 0 || r.duplicated != 0 || r.recovery.is_nan())
        .count();
    if bad > 0 {
        eprintln!("chaos: {bad} faults lost or duplicated readings, or never recovered");
        eprintln!("weir run log tail:\n{}", tail(&world.run_log()));
        std::process::exit(1);
    }
    Ok(())
}
