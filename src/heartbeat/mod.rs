//! `weir heartbeat`: monitoring the monitor. A process of its own (on
//! another host in production) that sends one known reading per path every
//! `interval_ms`, checks that each arrives where people look within
//! `deadline_ms`, listens for weir's Watchdog, and raises one incident —
//! by mail and a PagerDuty-shaped webhook, never through weir — while
//! anything fails.
//!
//! ```text
//!  every interval: round seq, ts
//!    send.rs  ─ http ─┐                      ┌─ ws (dashboard subscriber) ─┐
//!             ─ mqtt ─┼─► weir run ──► ... ──┼─ rest (history API)        ├─ check.rs ─► e2e per path × check
//!             ─ kafka ┘                      └─ postgres (readings)       ┘               │
//!  watchdog.rs: alerts topic ─► last `watchdog` event ───────────────────────────────────┤
//!                                                                                         ▼
//!  serve.rs: /metrics, /health ◄── status ◄── incident.rs (pure: trigger, remind, resolve) ─► notify.rs: mail, pagerduty
//! ```

pub mod check;
pub mod config;
pub mod http;
pub mod incident;
pub mod notify;
pub mod send;
pub mod serve;
pub mod watchdog;

pub use config::{Check, HeartbeatConfig, Path};
pub use incident::{Action, Incidents, Notice};
