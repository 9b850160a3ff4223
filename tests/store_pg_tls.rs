//! PostgreSQL over TLS (issue #17): the local cluster has `ssl = on` with a
//! self-signed certificate for `localhost` (Debian's; `scripts/services.sh`
//! turns it on where it is off). `sslmode = verify-full` trusting that
//! certificate connects, and a live `weir run`'s sessions show as encrypted
//! in `pg_stat_ssl`; `require` connects without verifying; `verify-full`
//! refuses a server its CA does not vouch for, a host name the certificate
//! does not carry, and an unreadable `ssl_root_cert`, each with the reason.

mod common;

use std::time::{Duration, Instant};

use common::store::{Error, pg_url, tail};

/// The cluster's certificate file, as the server reports it (self-signed:
/// it is its own CA).
fn server_certificate(db: &mut postgres::Client) -> Result<String, Error> {
    let ssl: String = db.query_one("SHOW ssl", &[])?.get(0);
    if ssl != "on" {
        return Err("PostgreSQL has ssl = off (scripts/services.sh turns it on)".into());
    }
    Ok(db.query_one("SHOW ssl_cert_file", &[])?.get(0))
}

/// `weir migrate` with `env` added: (succeeded, stderr).
fn migrate(schema: &str, env: &[(&str, String)]) -> Result<(bool, String), Error> {
    let mut all: Vec<(String, String)> = vec![("WEIR_POSTGRES__SCHEMA".into(), schema.into())];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let output = common::run_weir(&["migrate"], &all)?;
    Ok((output.status.success(), common::text(&output).1))
}

#[test]
fn sslmode_verifies_what_it_says() -> Result<(), Error> {
    let mut db = postgres::Client::connect(&pg_url(), postgres::NoTls)?;
    let cert = server_certificate(&mut db)?;
    let schema = common::schema_of(&common::unique("pg-tls"));
    // The certificate names `localhost`: connect by that name.
    let by_name = pg_url().replacen("127.0.0.1", "localhost", 1);
    let app = format!("weir-tls-{}", std::process::id());
    let url = format!(
        "{by_name}{}application_name={app}",
        if by_name.contains('?') { "&" } else { "?" }
    );

    let (ok, stderr) = migrate(
        &schema,
        &[
            ("WEIR_POSTGRES__URL", url.clone()),
            ("WEIR_POSTGRES__SSLMODE", "verify-full".into()),
            ("WEIR_POSTGRES__SSL_ROOT_CERT", cert.clone()),
        ],
    )?;
    assert!(ok, "verify-full with the server's CA: {stderr}");
    let (ok, stderr) = migrate(
        &schema,
        &[
            ("WEIR_POSTGRES__URL", pg_url()),
            ("WEIR_POSTGRES__SSLMODE", "require".into()),
        ],
    )?;
    assert!(ok, "require (no verification) by address: {stderr}");

    // Refusals, each naming why.
    let dir = std::env::temp_dir().join(common::unique("pg-tls-ca"));
    std::fs::create_dir_all(&dir)?;
    common::tls::certificates(&dir, "not-the-server")?;
    let other_ca = dir.join("ca.pem").display().to_string();
    for (what, url, root, needle) in [
        ("another CA", url.clone(), other_ca.as_str(), "certificate"),
        (
            "a name the certificate lacks",
            pg_url(),
            cert.as_str(),
            "certificate",
        ),
        (
            "no such file",
            url.clone(),
            "/nonexistent/ca.pem",
            "ssl_root_cert",
        ),
    ] {
        let (ok, stderr) = migrate(
            &schema,
            &[
                ("WEIR_POSTGRES__URL", url),
                ("WEIR_POSTGRES__SSLMODE", "verify-full".into()),
                ("WEIR_POSTGRES__SSL_ROOT_CERT", root.to_string()),
            ],
        )?;
        assert!(!ok, "{what}: connected");
        assert!(stderr.contains(needle), "{what}: {stderr}");
    }

    // A live pipeline's sessions are encrypted.
    let port = common::free_port()?;
    let mut env = common::topic_env(&common::unique("pg-tls-run"));
    env.retain(|(k, _)| k != "WEIR_POSTGRES__URL" && k != "WEIR_POSTGRES__SCHEMA");
    env.extend([
        ("WEIR_POSTGRES__SCHEMA".to_string(), schema.clone()),
        ("WEIR_POSTGRES__URL".to_string(), url.clone()),
        (
            "WEIR_POSTGRES__SSLMODE".to_string(),
            "verify-full".to_string(),
        ),
        ("WEIR_POSTGRES__SSL_ROOT_CERT".to_string(), cert.clone()),
        (
            "WEIR_SERVER__LISTEN".to_string(),
            format!("127.0.0.1:{port}"),
        ),
    ]);
    assert!(common::run_weir(&["topics"], &env)?.status.success());
    let log = std::env::temp_dir().join(format!("{app}.log"));
    let mut run = common::weir()
        .args(["run", "--report-secs", "2"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let row = db.query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&app],
        )?;
        let (encrypted, all): (i64, i64) = (row.get(0), row.get(1));
        if all >= 2 {
            break if encrypted == all {
                Ok(())
            } else {
                Err(format!("{encrypted} of {all} sessions encrypted"))
            };
        }
        if Instant::now() > deadline {
            break Err(format!("{all} sessions after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = run.kill();
    let _ = run.wait();
    result.map_err(|e| format!("{e}\n{}", tail(&log)))?;
    db.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    Ok(())
}
