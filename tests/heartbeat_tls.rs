//! `weir heartbeat` with TLS on every connection that can have it (issue
//! 17): weir's server and HTTP ingest gateway serve HTTPS with a
//! certificate from the test's own CA, and Mosquitto takes only TLS with a
//! client certificate. The heartbeat posts to the gateway over `https://`,
//! publishes over MQTT/TLS (as the bridge subscribes), follows the
//! WebSocket over `wss://` and reads the history over `https://`, trusting
//! only `heartbeat.ca_file`: every path × check passes, and no page is sent.

mod common;

use std::time::Duration;

use common::heartbeat::World;
use common::ingest::curl;
use common::store::Error;

#[test]
fn every_probe_passes_over_tls() -> Result<(), Error> {
    let mut world = World::with_tls("hb-tls", true)?;
    let _run = world.start_weir()?;
    let _heartbeat = world.start_heartbeat()?;
    let health = world.wait_all_ok(Duration::from_secs(120))?;
    assert_eq!(health["status"], "ok", "{health:#}");
    world.assert_observed()?;
    assert!(world.mails("").is_empty(), "mail while healthy");

    // The probes really went over TLS: the WebSocket is `wss://`, and the
    // server and the gateway refuse plain HTTP.
    let log = world.log();
    assert!(
        log.contains("heartbeat websocket subscribed") && log.contains("wss://127.0.0.1:"),
        "{log}"
    );
    let plain = curl(&[&format!("http://127.0.0.1:{}/health", world.server_port)])?;
    assert_eq!(plain.0, 0, "plain HTTP answered: {plain:?}");
    Ok(())
}
