//! Exactly-once into PostgreSQL under crashes (issue #4, criterion 1):
//! 200,000 readings are produced at a steady rate while `weir run` consumes
//! them; it is killed with SIGKILL at three random moments and restarted
//! each time; a last run reads to the end. Every reading must be stored
//! exactly once and the views must equal a recomputation.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir::simulate::SimulatorConfig;

use common::store::{
    Error, Fixture, check_exactly_once, expected, finish, start_ms, stored, wait_stored_beyond,
};

const RATE: &str = "6000"; // readings/s: production lasts ~33 s, well past the third kill

fn simulator(start: i64) -> SimulatorConfig {
    SimulatorConfig {
        sensors: 1_000,
        zones: 20,
        interval_ms: 5_000,
        count: 200_000,
        rate_per_sec: f64::INFINITY,
        seed: 7,
        start_ms: start,
        spike_rate: 0.001,
        ..SimulatorConfig::default()
    }
}

#[test]
fn every_reading_is_stored_exactly_once_across_kill_9() -> Result<(), Error> {
    let fixture = Fixture::new("crash")?;
    let sim = simulator(start_ms());
    let want = expected(&sim)?;

    // The moments: a random 0-1.5 s after a run has made new readings
    // durable. WEIR_TEST_SEED replays a failing run's moments.
    let seed: u32 = match std::env::var("WEIR_TEST_SEED") {
        Ok(seed) => seed.parse()?,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos(),
    };
    eprintln!("seed {seed} (WEIR_TEST_SEED={seed} repeats these kill moments)");
    let args = Fixture::simulate_args(&sim, RATE);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut producer = fixture.spawn("simulate", &args)?;

    let mut db = fixture.db()?;
    let mut durable = 0;
    for i in 0..3u32 {
        let name = format!("run-{i}");
        let mut child = fixture.spawn(&name, &["run", "-w", "2", "--report-secs", "2"])?;
        let progress = wait_stored_beyond(
            &fixture,
            &mut child,
            &name,
            durable,
            Duration::from_secs(120),
        );
        let progress = match progress {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = producer.kill();
                return Err(e);
            }
        };
        let pause = Duration::from_millis(u64::from(seed.rotate_left(i * 11) % 1_500));
        std::thread::sleep(pause);
        child.kill()?; // SIGKILL
        child.wait()?;
        durable = stored(&mut db);
        eprintln!("{name}: killed {pause:?} after {progress} were stored; {durable} stored then");
    }
    finish(
        &fixture,
        &mut producer,
        "simulate",
        Duration::from_secs(300),
    )?;
    assert!(
        durable < sim.count as i64,
        "every reading was stored before the last crash: the kills came too late"
    );

    let started = Instant::now();
    let mut child = fixture.spawn_run("final", &["-w", "2"])?;
    finish(&fixture, &mut child, "final", Duration::from_secs(600))?;
    eprintln!("final run took {:?}", started.elapsed());
    check_exactly_once(&mut db, &want)
}
