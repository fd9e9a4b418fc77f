//! Per-source token buckets for inbound datagrams, so that one flooding address cannot
//! monopolise the node. Bounded: at most [`MAX_SOURCES`] addresses are tracked.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use vitals_core::Instant;

/// Most source addresses tracked at once.
pub(crate) const MAX_SOURCES: usize = 4096;
/// A bucket idle this long may be forgotten.
const IDLE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by source IP address.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: BTreeMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// Allows `per_second` datagrams per source on average, `burst` at once.
    pub(crate) fn new(per_second: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            per_second,
            burst,
            buckets: BTreeMap::new(),
        }
    }

    /// Whether a datagram from `source` at `now` may be processed.
    pub(crate) fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_SOURCES {
            self.buckets.retain(|_, b| now - b.last < IDLE);
            if self.buckets.len() >= MAX_SOURCES {
                return false;
            }
        }
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let refill = (now - bucket.last).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut limiter = RateLimiter::new(10.0, 5.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::ZERO;
        assert_eq!((0..10).filter(|_| limiter.allow(ip, t0)).count(), 5);
        let later = t0 + Duration::from_millis(300);
        assert_eq!((0..10).filter(|_| limiter.allow(ip, later)).count(), 3);
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.allow(other, later), "buckets are per source");
    }
}
