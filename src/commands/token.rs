//! `weir token`: API tokens in PostgreSQL, managed from the database host
//! (the bootstrap: the first admin token comes from here). Each change is
//! in the audit log with the actor `cli:<user>`.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use weir_dataflow::capacity::parse_duration_ms;
use weir_server::auth::store::{self, NewToken, TokenInfo, bad_name};
use weir_server::auth::{Principal, Role, rfc3339};

use crate::cli::{TokenCommand, TokenCreateArgs};
use crate::config::Config;

/// Runs one `weir token` command.
pub fn run(config: &Config, command: &TokenCommand) -> anyhow::Result<()> {
    super::with_postgres(config, async |client| {
        let client = &client;
        match command {
            TokenCommand::Create(args) => create(client, args).await,
            TokenCommand::List(args) => {
                let tokens = store::list(client, args.all)
                    .await
                    .map_err(|e| anyhow::anyhow!("listing tokens: {}", store::db_detail(&e)))?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&tokens)?);
                } else {
                    print_table(&tokens);
                }
                Ok(())
            }
            TokenCommand::Revoke(args) => {
                let revoked = store::revoke(client, &args.id, &actor())
                    .await
                    .map_err(|e| anyhow::anyhow!("revoking: {}", store::db_detail(&e)))?;
                match revoked {
                    Some(t) => {
                        println!("revoked {} ({})", t.token_id, t.name);
                        Ok(())
                    }
                    None => bail!(
                        "no active token with id `{}` (see `weir token list`)",
                        args.id
                    ),
                }
            }
        }
    })
}

/// Who acts from the command line.
pub(crate) fn actor() -> Principal {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Principal {
        token_id: "cli".into(),
        name: format!("cli:{user}"),
        role: Role::Admin,
        zones: None,
    }
}

async fn create(client: &tokio_postgres::Client, args: &TokenCreateArgs) -> anyhow::Result<()> {
    if let Some(why) = bad_name(&args.name) {
        bail!("--name `{}`: {why}", args.name);
    }
    let role = Role::parse(&args.role)
        .with_context(|| format!("--role `{}`: expected viewer, operator or admin", args.role))?;
    let zones: BTreeSet<String> = args.zones.iter().cloned().collect();
    if let Some(zone) = zones
        .iter()
        .find(|z| z.is_empty() || z.len() > 64 || z.chars().any(char::is_control))
    {
        bail!(
            "--zone `{}`: 1 to 64 characters, none a control character",
            zone.escape_default()
        );
    }
    if role == Role::Admin && !zones.is_empty() {
        bail!("--zone: an admin token sees every zone (it can create any token)");
    }
    let expires_ms = match args.expires.as_str() {
        "never" => None,
        text => {
            let ms = parse_duration_ms(text)
                .with_context(|| format!("--expires `{text}`: a duration (90d, 12h) or never"))?;
            let ms = i64::try_from(ms).context("--expires: too long")?;
            Some(weir_dataflow::clock::now_ms().saturating_add(ms))
        }
    };
    let new = NewToken {
        name: args.name.clone(),
        role,
        zones: (!zones.is_empty()).then_some(zones),
        expires_ms,
    };
    let (info, token) = store::create(client, &new, &actor())
        .await
        .map_err(|e| anyhow::anyhow!("creating the token: {e}"))?;
    if args.json {
        println!("{}", serde_json::json!({"token": token, "info": info}));
    } else {
        println!("{token}");
        eprintln!(
            "token {} ({}, {}) created; expires {}. It is shown only now: store it somewhere safe.",
            info.token_id,
            info.name,
            info.role.name(),
            info.expires_ms.map_or("never".into(), rfc3339)
        );
    }
    Ok(())
}

fn print_table(tokens: &[TokenInfo]) {
    println!(
        "{:<12}  {:<24}  {:<8}  {:<20}  {:<24}  STATE",
        "ID", "NAME", "ROLE", "ZONES", "EXPIRES"
    );
    for t in tokens {
        let zones = t.zones.as_ref().map_or("all".into(), |z| z.join(","));
        let expires = t.expires_ms.map_or("never".into(), rfc3339);
        let state = if t.revoked_ms.is_some() {
            "revoked"
        } else if t
            .expires_ms
            .is_some_and(|e| e <= weir_dataflow::clock::now_ms())
        {
            "expired"
        } else {
            "active"
        };
        println!(
            "{:<12}  {:<24}  {:<8}  {:<20}  {:<24}  {state}",
            t.token_id,
            t.name,
            t.role.name(),
            zones,
            expires
        );
    }
}
