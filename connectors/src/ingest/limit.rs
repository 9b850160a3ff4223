//! Token buckets: one per gateway, one per device.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One bucket: `capacity` tokens, refilled at `per_sec`.
#[derive(Clone, Debug)]
pub struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_sec: f64) -> Bucket {
        Bucket {
            capacity,
            per_sec,
            tokens: capacity,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
    }

    /// Takes `n` tokens, or says how long until they would be there.
    pub fn take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if n <= self.tokens {
            self.tokens -= n;
            return Ok(());
        }
        let missing = n.min(self.capacity.max(n)) - self.tokens;
        Err(Duration::from_secs_f64((missing / self.per_sec).max(0.001)))
    }

    /// Gives back tokens taken for a request that was then refused elsewhere.
    pub fn give_back(&mut self, n: f64) {
        self.tokens = (self.tokens + n).min(self.capacity);
    }
}

/// A gateway's limits.
pub struct Limits {
    gateway: Mutex<Bucket>,
    devices: Mutex<HashMap<String, Bucket>>,
    device_burst: f64,
    device_per_sec: f64,
}

impl Limits {
    /// Limits with these rates.
    pub fn new(
        gateway_burst: f64,
        gateway_per_sec: f64,
        device_burst: f64,
        device_per_sec: f64,
    ) -> Limits {
        Limits {
            gateway: Mutex::new(Bucket::new(gateway_burst, gateway_per_sec)),
            devices: Mutex::new(HashMap::new()),
            device_burst,
            device_per_sec,
        }
    }

    /// Takes readings' worth for several devices at once (all or none).
    pub fn admit_many(
        &self,
        counts: &std::collections::BTreeMap<String, usize>,
    ) -> Result<(), Duration> {
        let mut taken: Vec<(&String, usize)> = Vec::new();
        for (device, n) in counts {
            if let Err(wait) = self.admit(device, *n) {
                // Give back what the others took.
                if let (Ok(mut devices), Ok(mut gateway)) =
                    (self.devices.lock(), self.gateway.lock())
                {
                    for (d, m) in taken {
                        if let Some(b) = devices.get_mut(d) {
                            b.give_back(m as f64);
                        }
                        gateway.give_back(m as f64);
                    }
                }
                return Err(wait);
            }
            taken.push((device, *n));
        }
        Ok(())
    }

    /// Takes `n` readings' worth for `device`, or says when to come back.
    pub fn admit(&self, device: &str, n: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let n = n as f64;
        let mut devices = self.devices.lock().map_err(|_| Duration::from_secs(1))?;
        if devices.len() > 100_000 {
            // Forget devices that have been quiet long enough to be full again.
            let full = Duration::from_secs_f64(self.device_burst / self.device_per_sec);
            devices.retain(|_, b| now.saturating_duration_since(b.at) < full);
        }
        let bucket = devices
            .entry(device.to_string())
            .or_insert_with(|| Bucket::new(self.device_burst, self.device_per_sec));
        bucket.take(n, now)?;
        let mut gateway = self.gateway.lock().map_err(|_| Duration::from_secs(1))?;
        if let Err(wait) = gateway.take(n, now) {
            bucket.give_back(n);
            return Err(wait);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_bursts_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10.0, 5.0);
        assert!(bucket.take(10.0, start).is_ok(), "the burst");
        let wait = bucket.take(5.0, start).err().unwrap_or_default();
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
        assert!(
            bucket.take(5.0, start + Duration::from_secs(1)).is_ok(),
            "refilled"
        );
        assert!(
            bucket
                .take(100.0, start + Duration::from_secs(100))
                .is_err(),
            "never more than the capacity"
        );
    }

    #[test]
    fn a_device_over_its_rate_does_not_spend_the_gateways() {
        let limits = Limits::new(100.0, 1.0, 10.0, 1.0);
        assert!(limits.admit("a", 10).is_ok());
        assert!(limits.admit("a", 1).is_err(), "device a is out");
        assert!(limits.admit("b", 10).is_ok(), "b has its own bucket");
        assert!(limits.admit("c", 10).is_ok());
        // 70 gateway tokens left: d (burst 10) may take 10, never 71.
        assert!(limits.admit("d", 11).is_err());
        assert!(limits.admit("d", 10).is_ok());
    }
}
