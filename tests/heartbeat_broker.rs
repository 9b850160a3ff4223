//! `weir heartbeat` with weir's Kafka broker stopped (issue #16, section
//! 1): one trigger mail and PagerDuty `trigger` while it is away, one
//! resolve of each once it is back.

mod common;

use std::time::Duration;

use common::heartbeat::World;
use common::store::Error;

#[test]
fn the_broker_stopped_pages_once_and_resolves_when_back() -> Result<(), Error> {
    let mut world = World::new("hb-broker")?;
    let _run = world.start_weir()?;
    let _heartbeat = world.start_heartbeat()?;
    world.wait_all_ok(Duration::from_secs(120))?;
    world.assert_observed()?;
    assert!(world.mails("").is_empty(), "mail while healthy");

    world.fixture.broker.stop();
    let (trigger, after) = world.wait_mail("TRIGGER", Duration::from_secs(60))?;
    eprintln!(
        "trigger mail {after:?} after the broker stopped: {}",
        trigger.subject
    );
    assert!(trigger.body.contains("kafka -> "), "{}", trigger.body);
    world.wait_pagerduty("trigger", Duration::from_secs(10))?;

    world.fixture.broker.restart()?;
    let (resolve, after) = world.wait_mail("RESOLVED", Duration::from_secs(240))?;
    eprintln!(
        "resolve mail {after:?} after the broker restarted: {}",
        resolve.subject
    );
    world.wait_pagerduty("resolve", Duration::from_secs(10))?;
    assert_eq!(world.mails("TRIGGER").len(), 1, "one incident");
    Ok(())
}
