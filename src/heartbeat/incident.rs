//! The incident rules, as a pure state machine: one incident while anything
//! fails, a reminder every `remind_every_ms` while it lasts, a resolve when
//! a round passes with nothing failing. It knows no clock and no channel:
//! the caller passes the time and the failing reasons, and sends what it
//! returns.
//!
//! ```text
//!             reasons ≠ ∅ / Trigger
//!   Quiet ───────────────────────────► Open{id, since, reasons}
//!     ▲                                  │  reasons ≠ ∅, remind due / Remind
//!     └──────── reasons = ∅ / Resolve ───┘  reasons ≠ ∅, not due / nothing
//! ```

use std::collections::BTreeSet;

/// What a notice asks the channels to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A new incident.
    Trigger,
    /// The incident still lasts.
    Remind,
    /// The incident is over.
    Resolve,
}

impl Action {
    /// `trigger`, `remind`, `resolve`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Remind => "remind",
            Action::Resolve => "resolve",
        }
    }
}

/// One message for the alert channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// What to say.
    pub action: Action,
    /// The incident's id (the same for its trigger, reminders and resolve).
    pub incident: String,
    /// When the incident began (epoch ms).
    pub since_ms: i64,
    /// Now (epoch ms).
    pub at_ms: i64,
    /// What fails now (for a resolve: nothing).
    pub reasons: Vec<String>,
    /// Everything that failed during the incident.
    pub seen: Vec<String>,
}

#[derive(Clone, Debug)]
struct Open {
    id: String,
    since_ms: i64,
    last_notice_ms: i64,
    seen: BTreeSet<String>,
}

/// The incident state of one heartbeat.
#[derive(Clone, Debug)]
pub struct Incidents {
    name: String,
    remind_every_ms: i64,
    open: Option<Open>,
}

impl Incidents {
    /// No incident; incidents are named `<name>-<start ms>`; `remind_every_ms` 0: no reminders.
    pub fn new(name: &str, remind_every_ms: u64) -> Incidents {
        Incidents {
            name: name.to_string(),
            remind_every_ms: i64::try_from(remind_every_ms).unwrap_or(i64::MAX),
            open: None,
        }
    }

    /// The open incident's id and start, if any.
    pub fn open(&self) -> Option<(&str, i64)> {
        self.open.as_ref().map(|o| (o.id.as_str(), o.since_ms))
    }

    /// Takes one evaluation: what fails at `now_ms` (empty: everything passed).
    pub fn observe(&mut self, now_ms: i64, reasons: &BTreeSet<String>) -> Option<Notice> {
        let notice = |action, open: &Open, reasons: &BTreeSet<String>| Notice {
            action,
            incident: open.id.clone(),
            since_ms: open.since_ms,
            at_ms: now_ms,
            reasons: reasons.iter().cloned().collect(),
            seen: open.seen.iter().cloned().collect(),
        };
        match (&mut self.open, reasons.is_empty()) {
            (None, true) => None,
            (None, false) => {
                let open = Open {
                    id: format!("{}-{now_ms}", self.name),
                    since_ms: now_ms,
                    last_notice_ms: now_ms,
                    seen: reasons.clone(),
                };
                let out = notice(Action::Trigger, &open, reasons);
                self.open = Some(open);
                Some(out)
            }
            (Some(open), false) => {
                open.seen.extend(reasons.iter().cloned());
                let due = self.remind_every_ms > 0
                    && now_ms.saturating_sub(open.last_notice_ms) >= self.remind_every_ms;
                if !due {
                    return None;
                }
                open.last_notice_ms = now_ms;
                Some(notice(Action::Remind, open, reasons))
            }
            (Some(open), true) => {
                let out = notice(Action::Resolve, open, reasons);
                self.open = None;
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn actions(incidents: &mut Incidents, steps: &[(i64, &[&str])]) -> Vec<(i64, Action)> {
        steps
            .iter()
            .filter_map(|(t, r)| incidents.observe(*t, &set(r)).map(|n| (*t, n.action)))
            .collect()
    }

    #[test]
    fn quiet_while_everything_passes() {
        let mut incidents = Incidents::new("hb", 1_000);
        assert!(actions(&mut incidents, &[(0, &[]), (10_000, &[])]).is_empty());
        assert!(incidents.open().is_none());
    }

    #[test]
    fn one_trigger_per_incident_reminders_while_it_lasts_then_one_resolve() {
        let mut incidents = Incidents::new("hb", 30_000);
        let got = actions(
            &mut incidents,
            &[
                (0, &[]),
                (10_000, &["http→ws"]),
                (20_000, &["http→ws", "kafka→ws"]),
                (39_999, &["kafka→ws"]),
                (40_000, &["kafka→ws"]),
                (50_000, &["watchdog"]),
                (70_000, &["watchdog"]),
                (80_000, &[]),
                (90_000, &[]),
            ],
        );
        assert_eq!(
            got,
            [
                (10_000, Action::Trigger),
                (40_000, Action::Remind),
                (70_000, Action::Remind),
                (80_000, Action::Resolve)
            ]
        );
        assert!(incidents.open().is_none());
    }

    #[test]
    fn notices_carry_the_incident_its_reasons_and_all_it_saw() {
        let mut incidents = Incidents::new("hb", 0);
        let trigger = incidents.observe(5, &set(&["b", "a"]));
        assert_eq!(
            trigger,
            Some(Notice {
                action: Action::Trigger,
                incident: "hb-5".into(),
                since_ms: 5,
                at_ms: 5,
                reasons: vec!["a".into(), "b".into()],
                seen: vec!["a".into(), "b".into()],
            })
        );
        assert_eq!(incidents.observe(6, &set(&["c"])), None, "0: no reminders");
        assert_eq!(incidents.open(), Some(("hb-5", 5)));
        let resolve = incidents.observe(7, &set(&[]));
        assert_eq!(
            resolve.map(|n| (n.action, n.incident, n.reasons, n.seen)),
            Some((
                Action::Resolve,
                "hb-5".into(),
                vec![],
                vec!["a".into(), "b".into(), "c".into()]
            ))
        );
        // A later failure is a new incident.
        let again = incidents.observe(9, &set(&["a"]));
        assert_eq!(
            again.map(|n| (n.action, n.incident)),
            Some((Action::Trigger, "hb-9".into()))
        );
    }
}
