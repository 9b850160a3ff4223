//! Reachability checks run before a client library starts retrying forever.
//!
//! librdkafka and most drivers retry an unreachable address silently (or with
//! a log line per attempt). A short TCP connect first turns that into one
//! error naming the service, the addresses tried and how to start it.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::ConnectorError;

/// A service weir depends on, as named in errors.
#[derive(Clone, Copy, Debug)]
pub struct Service {
    /// Human name, e.g. "Kafka".
    pub name: &'static str,
    /// The configuration key holding its address.
    pub setting: &'static str,
}

/// The Kafka-protocol broker.
pub const KAFKA: Service = Service {
    name: "Kafka",
    setting: "kafka.brokers",
};

/// PostgreSQL.
pub const POSTGRES: Service = Service {
    name: "PostgreSQL",
    setting: "postgres.url",
};

/// Succeeds when at least one of the comma-separated `host:port` addresses
/// accepts a TCP connection within `timeout`.
pub fn check_reachable(
    service: Service,
    addresses: &str,
    timeout: Duration,
) -> Result<(), ConnectorError> {
    let mut last_error = String::from("no address given");
    for address in addresses
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let resolved = resolve(service, address)?;
        for socket in resolved {
            match TcpStream::connect_timeout(&socket, timeout) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
        }
    }
    Err(ConnectorError::Unreachable {
        service: service.name,
        addresses: addresses.to_string(),
        reason: last_error,
        setting: service.setting,
    })
}

fn resolve(service: Service, address: &str) -> Result<Vec<SocketAddr>, ConnectorError> {
    let invalid = |reason: String| ConnectorError::InvalidAddress {
        setting: service.setting,
        value: address.to_string(),
        reason,
    };
    if !address.contains(':') {
        return Err(invalid("expected host:port".into()));
    }
    address
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn listening_port_is_reachable() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        assert!(check_reachable(KAFKA, &address, Duration::from_secs(1)).is_ok());
        Ok(())
    }

    #[test]
    fn closed_port_names_service_address_and_script() -> std::io::Result<()> {
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
        // The listener is dropped: nothing listens on `address` any more.
        let error = check_reachable(KAFKA, &address, Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("Kafka"), "{error}");
        assert!(error.contains(&address), "{error}");
        assert!(error.contains("scripts/services.sh"), "{error}");
        assert!(error.contains("kafka.brokers"), "{error}");
        Ok(())
    }

    #[test]
    fn address_without_port_is_rejected() {
        let error = check_reachable(KAFKA, "localhost", Duration::from_secs(1));
        assert!(matches!(error, Err(ConnectorError::InvalidAddress { .. })));
    }
}
