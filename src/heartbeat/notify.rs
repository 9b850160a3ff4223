//! The independent alert channel: mail over SMTP (lettre) and a webhook in
//! the PagerDuty Events v2 shape. Nothing here touches weir's outbox or its
//! Kafka topics: the heartbeat must be heard when those are what is broken.
//!
//! ```text
//!  Notice ─┬─ mail:      subject `[weir heartbeat <name>] TRIGGER|REMINDER|RESOLVED …`, reasons in the body
//!          └─ pagerduty: {routing_key, event_action: trigger|resolve, dedup_key: <incident>, payload{…}}
//!  each channel: up to 5 attempts (1, 2, 4, 8 s apart), counted by outcome
//! ```
//!
//! Plain SMTP without TLS or authentication (not built yet): a relay on
//! loopback. A reminder goes to PagerDuty as a `trigger`
//! with the same `dedup_key`, which PagerDuty folds into the open incident.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use lettre::message::header::ContentType;
use lettre::{Message, SmtpTransport, Transport};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::config::HeartbeatConfig;
use super::http;
use super::incident::{Action, Notice};
use super::serve::Status;

const ATTEMPTS: u32 = 5;

use weir_server::auth::rfc3339;

/// The mail for `notice` (with the latest round's error `details`): (subject, body).
pub fn mail(config: &HeartbeatConfig, notice: &Notice, details: &[String]) -> (String, String) {
    let word = match notice.action {
        Action::Trigger => "TRIGGER",
        Action::Remind => "REMINDER",
        Action::Resolve => "RESOLVED",
    };
    let headline = match notice.action {
        Action::Resolve => "every check passes again".to_string(),
        _ => format!("{} failing", notice.reasons.len()),
    };
    let subject = format!(
        "[weir heartbeat {}] {word} {}: {headline}",
        config.name, notice.incident
    );
    let mut body = format!(
        "weir heartbeat `{}` (zone `{}`)\nincident {} since {} ({})\n\n",
        config.name,
        config.zone,
        notice.incident,
        rfc3339(notice.since_ms),
        notice.action.name()
    );
    if !notice.reasons.is_empty() {
        body.push_str("failing now:\n");
        for reason in &notice.reasons {
            body.push_str(&format!("  - {reason}\n"));
        }
    }
    body.push_str("failed during the incident:\n");
    for reason in &notice.seen {
        body.push_str(&format!("  - {reason}\n"));
    }
    if !details.is_empty() {
        body.push_str("\ndetails of the latest round:\n");
        for detail in details {
            body.push_str(&format!("  - {detail}\n"));
        }
    }
    body.push_str(&format!("\nat {}\n", rfc3339(notice.at_ms)));
    (subject, body)
}

/// The PagerDuty Events v2 body for `notice` (with the latest round's error `details`).
pub fn pagerduty(config: &HeartbeatConfig, notice: &Notice, details: &[String]) -> Value {
    let action = match notice.action {
        Action::Trigger | Action::Remind => "trigger",
        Action::Resolve => "resolve",
    };
    let summary = match notice.action {
        Action::Resolve => format!("weir heartbeat {}: every check passes again", config.name),
        _ => format!(
            "weir heartbeat {}: {}",
            config.name,
            notice.reasons.join("; ")
        ),
    };
    json!({
        "routing_key": config.pagerduty_routing_key,
        "event_action": action,
        "dedup_key": notice.incident,
        "payload": {
            "summary": summary.chars().take(1024).collect::<String>(),
            "source": format!("weir-heartbeat-{}", config.name),
            "severity": "critical",
            "timestamp": rfc3339(notice.at_ms),
            "custom_details": {
                "reasons": notice.reasons,
                "seen": notice.seen,
                "details": details,
                "since": rfc3339(notice.since_ms),
                "notice": notice.action.name(),
            }
        }
    })
}

fn send_mail(config: &HeartbeatConfig, subject: &str, body: &str) -> anyhow::Result<()> {
    let (host, port) = config
        .smtp_server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            anyhow!(
                "heartbeat.smtp_server `{}`: not host:port",
                config.smtp_server
            )
        })?;
    let mut message = Message::builder()
        .from(config.smtp_from.parse().context("heartbeat.smtp_from")?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &config.smtp_to {
        message = message.to(to
            .parse()
            .with_context(|| format!("heartbeat.smtp_to `{to}`"))?);
    }
    let message = message.body(body.to_string()).context("build the mail")?;
    // Plain SMTP (no STARTTLS): a loopback relay; see the module docs.
    let mailer = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    mailer.send(&message).context("smtp send")?;
    Ok(())
}

async fn send_pagerduty(config: &HeartbeatConfig, body: &Value) -> anyhow::Result<()> {
    let target = http::Target::parse("pagerduty_url", &config.pagerduty_url, &config.ca_file)
        .map_err(|e| anyhow!(e))?;
    let bytes = serde_json::to_vec(body)?;
    let (status, answer) = http::request(
        &target,
        "POST",
        &target.url.path,
        &[("Content-Type", "application/json")],
        &bytes,
        Duration::from_secs(10),
    )
    .await?;
    if !(200..300).contains(&status) {
        bail!("{status} {}", String::from_utf8_lossy(&answer));
    }
    Ok(())
}

/// Sends `notice` on every configured channel in the background, retrying
/// each a few times; outcomes are counted in `status`.
pub fn send(
    config: &Arc<HeartbeatConfig>,
    notice: Notice,
    details: Vec<String>,
    status: &Arc<Status>,
) {
    if !config.smtp_server.is_empty() {
        let (config, status, notice, details) = (
            Arc::clone(config),
            Arc::clone(status),
            notice.clone(),
            details.clone(),
        );
        tokio::spawn(async move {
            let (subject, body) = mail(&config, &notice, &details);
            let outcome = retry("mail", &notice, || {
                let (config, subject, body) = (Arc::clone(&config), subject.clone(), body.clone());
                async move {
                    tokio::task::spawn_blocking(move || send_mail(&config, &subject, &body))
                        .await
                        .context("mail thread")?
                }
            })
            .await;
            status.notified("mail", notice.action, outcome);
        });
    }
    if !config.pagerduty_url.is_empty() {
        let (config, status) = (Arc::clone(config), Arc::clone(status));
        tokio::spawn(async move {
            let body = pagerduty(&config, &notice, &details);
            let outcome = retry("pagerduty", &notice, || send_pagerduty(&config, &body)).await;
            status.notified("pagerduty", notice.action, outcome);
        });
    }
}

async fn retry<F, Fut>(channel: &str, notice: &Notice, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for n in 1..=ATTEMPTS {
        match attempt().await {
            Ok(()) => {
                info!(channel, incident = %notice.incident, action = notice.action.name(), "heartbeat notice sent");
                return true;
            }
            Err(error) => {
                warn!(channel, attempt = n, error = %format!("{error:#}"), "heartbeat notice not sent");
                if n < ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(1 << (n - 1))).await;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(action: Action) -> Notice {
        Notice {
            action,
            incident: "hb-1764000000000".into(),
            since_ms: 1_764_000_000_000,
            at_ms: 1_764_000_060_000,
            reasons: if action == Action::Resolve {
                vec![]
            } else {
                vec![
                    "http → ws: not seen in time".into(),
                    "watchdog: quiet".into(),
                ]
            },
            seen: vec![
                "http → ws: not seen in time".into(),
                "watchdog: quiet".into(),
            ],
        }
    }

    #[test]
    fn mail_names_the_heartbeat_the_incident_and_the_reasons() {
        let config = HeartbeatConfig::default();
        let (subject, body) = mail(
            &config,
            &notice(Action::Trigger),
            &["http -> ws: not seen within 4000 ms: connect refused".into()],
        );
        assert_eq!(
            subject,
            "[weir heartbeat weir] TRIGGER hb-1764000000000: 2 failing"
        );
        assert!(body.contains("  - watchdog: quiet\n"), "{body}");
        assert!(
            body.contains(
                "latest round:\n  - http -> ws: not seen within 4000 ms: connect refused\n"
            ),
            "{body}"
        );
        assert!(body.contains("2025-11-24T16:00:00Z"), "{body}");
        let (subject, _) = mail(&config, &notice(Action::Resolve), &[]);
        assert!(subject.contains("RESOLVED hb-1764000000000"), "{subject}");
    }

    #[test]
    fn pagerduty_events_have_the_v2_shape() {
        let config = HeartbeatConfig {
            pagerduty_routing_key: "R0UT1NG".into(),
            ..HeartbeatConfig::default()
        };
        let trigger = pagerduty(&config, &notice(Action::Trigger), &["d".into()]);
        assert_eq!(trigger["routing_key"], "R0UT1NG");
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["dedup_key"], "hb-1764000000000");
        assert_eq!(trigger["payload"]["severity"], "critical");
        assert_eq!(trigger["payload"]["source"], "weir-heartbeat-weir");
        assert_eq!(trigger["payload"]["timestamp"], "2025-11-24T16:01:00Z");
        assert_eq!(
            trigger["payload"]["custom_details"]["reasons"][1],
            "watchdog: quiet"
        );
        let remind = pagerduty(&config, &notice(Action::Remind), &[]);
        assert_eq!(
            remind["event_action"], "trigger",
            "same dedup_key: folded in"
        );
        let resolve = pagerduty(&config, &notice(Action::Resolve), &[]);
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    }
}
