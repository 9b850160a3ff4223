//! The CLI's contract: help, capacity, migrate (PostgreSQL), clear errors.

mod common;

use std::net::TcpListener;

use common::{run_weir, text};

#[test]
fn every_subcommand_has_help() -> std::io::Result<()> {
    for sub in [
        "run",
        "topics",
        "migrate",
        "simulate",
        "capacity",
        "heartbeat",
    ] {
        let output = run_weir(&[sub, "--help"], &[])?;
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{sub} --help: {stderr}");
        assert!(stdout.contains("Usage: weir"), "{sub}: {stdout}");
    }
    Ok(())
}

#[test]
fn heartbeat_refuses_bad_settings_naming_the_key() -> std::io::Result<()> {
    let env = [("WEIR_HEARTBEAT__INTERVAL_MS".to_string(), "10".to_string())];
    let output = run_weir(&["heartbeat", "--duration-secs", "1"], &env)?;
    let (_, stderr) = text(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("heartbeat.interval_ms"), "{stderr}");
    Ok(())
}

#[test]
fn capacity_prints_the_seed_example() -> std::io::Result<()> {
    let output = run_weir(
        &["capacity", "--sensors", "10000", "--interval", "60s"],
        &[],
    )?;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    for expected in [
        "14,400,000 (14.4M)",
        "7.2 GB",
        "167 events/s",
        "500 events/s",
        "partitions",
        "workers",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    Ok(())
}

#[test]
fn capacity_json_has_exact_figures() -> Result<(), Box<dyn std::error::Error>> {
    let output = run_weir(
        &[
            "capacity",
            "--sensors",
            "10000",
            "--interval",
            "1m",
            "--event-bytes",
            "500",
            "--json",
        ],
        &[],
    )?;
    assert!(output.status.success(), "{:?}", text(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(plan["events_per_day"], 14_400_000);
    assert_eq!(plan["bytes_per_day"], 7_200_000_000u64);
    let avg = plan["avg_events_per_sec"].as_f64().unwrap_or_default();
    assert!((avg - 166.666).abs() < 0.01, "{avg}");
    assert_eq!(plan["peak_events_per_sec"].as_f64(), Some(500.0));
    assert!(plan["partitions"].as_u64().unwrap_or_default() >= 12);
    Ok(())
}

#[test]
fn capacity_rejects_a_bad_interval_naming_it() -> std::io::Result<()> {
    let output = run_weir(&["capacity", "--sensors", "10", "--interval", "soon"], &[])?;
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--interval") && stderr.contains("soon"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn topics_without_a_broker_fails_with_one_clear_error() -> std::io::Result<()> {
    // A port nothing listens on: bind, note it, release it.
    let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
    let output = run_weir(
        &["topics"],
        &[("WEIR_KAFKA__BROKERS".into(), address.clone())],
    )?;
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "exited 0: {stdout}");
    assert!(stderr.contains("cannot reach Kafka"), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("scripts/services.sh"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, not a retry storm:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

#[test]
fn simulate_rejects_bad_settings_naming_them() -> std::io::Result<()> {
    for (args, named) in [
        (vec!["simulate", "--mix", "v9=1"], "--mix"),
        (vec!["simulate", "--garbage-rate", "2"], "garbage_rate"),
        (vec!["simulate", "--rate", "fast"], "--rate"),
        (vec!["simulate", "--interval", "0s"], "interval"),
    ] {
        let output = run_weir(
            &args,
            &[("WEIR_KAFKA__BROKERS".into(), "127.0.0.1:1".into())],
        )?;
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn unknown_config_key_is_named() -> std::io::Result<()> {
    let path = std::env::temp_dir().join(format!("weir-cli-{}.toml", std::process::id()));
    std::fs::write(&path, "[kafka]\npartitons = 12\n")?;
    let output = run_weir(&["topics", "--config", &path.display().to_string()], &[])?;
    std::fs::remove_file(&path)?;
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("partitons"), "{stderr}");
    Ok(())
}

#[test]
fn migrate_is_idempotent_and_names_a_bad_schema() -> Result<(), Box<dyn std::error::Error>> {
    let schema = common::schema_of(&common::unique("migrate"));
    let env = vec![("WEIR_POSTGRES__SCHEMA".to_string(), schema.clone())];
    for _ in 0..2 {
        let output = run_weir(&["migrate", "--log", "warn"], &env)?;
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stderr}");
        assert!(stdout.contains(&format!("schema     {schema}")), "{stdout}");
        assert!(stdout.contains("migrations 1, 2"), "{stdout}");
        assert!(stdout.contains("readings   NativePartitions"), "{stdout}");
        assert!(stdout.contains("readings_default"), "{stdout}");
    }
    let output = run_weir(
        &["migrate"],
        &[("WEIR_POSTGRES__SCHEMA".into(), "Bad-Name".into())],
    )?;
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("postgres.schema") && stderr.contains("Bad-Name"),
        "{stderr}"
    );
    Ok(())
}
