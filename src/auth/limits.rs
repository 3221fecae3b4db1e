//! Call rates: per subject once a token is verified, and per peer address for the calls that
//! make us verify a token (cache misses: new tokens, and every bad one).
//!
//! The peer limit counts only cache misses because many devices may share one address (a
//! carrier's NAT, the city's proxy or load balancer): their verified tokens pass on to their
//! own subjects' limits, while what an anonymous peer can make us do that costs CPU and log
//! lines, signature checks, is bounded per address.
//!
//! Both are GCRA token buckets (governor) keyed in sharded maps; keys that have been idle for
//! a full bucket's refill are dropped by [`Limits::forget_idle`], so the maps hold only
//! recent callers.

use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Calls per second and the burst allowed above that rate; `None` switches a limit off.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(Option<(NonZeroU32, NonZeroU32)>);

impl RateLimit {
    pub const OFF: Self = Self(None);

    pub fn new(per_second: u32, burst: u32) -> Self {
        Self(NonZeroU32::new(per_second).map(|rate| (rate, NonZeroU32::new(burst).unwrap_or(rate))))
    }

    fn quota(self) -> Option<Quota> {
        self.0
            .map(|(rate, burst)| Quota::per_second(rate).allow_burst(burst))
    }
}

/// `RATE:BURST` (calls per second, and calls allowed at once), `RATE` (a burst of the same),
/// or `0` (off).
impl FromStr for RateLimit {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let number = |part: &str| {
            part.trim().parse::<u32>().map_err(|_| {
                format!("{value:?}: expected RATE:BURST in calls, e.g. 100:1000, or 0 for off")
            })
        };
        let (rate, burst) = match value.split_once(':') {
            Some((rate, burst)) => (number(rate)?, number(burst)?),
            None => {
                let rate = number(value)?;
                (rate, rate)
            }
        };
        if rate > 0 && burst < rate {
            return Err(format!("{value:?}: the burst must be at least the rate"));
        }
        Ok(Self::new(rate, burst))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("0"),
            Some((rate, burst)) => write!(f, "{rate}:{burst}"),
        }
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One keyed limit; a call over it learns how long to wait.
struct Keyed<K: Hash + Eq + Clone>(Option<DefaultKeyedRateLimiter<K>>);

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(limit: RateLimit) -> Self {
        Self(limit.quota().map(DefaultKeyedRateLimiter::keyed))
    }

    fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The per-subject and per-peer limits of one server.
pub struct Limits {
    subjects: Keyed<String>,
    peers: Keyed<IpAddr>,
}

impl Limits {
    pub fn new(per_subject: RateLimit, per_peer: RateLimit) -> Self {
        Self {
            subjects: Keyed::new(per_subject),
            peers: Keyed::new(per_peer),
        }
    }

    /// Counts a call of `subject`; `Err` holds how long it should wait.
    pub fn check_subject(&self, subject: &str) -> Result<(), Duration> {
        // A lookup by &str would need a borrowed key type; an allocation per call is cheap
        // next to a gRPC call.
        self.subjects.check(&subject.to_owned())
    }

    /// Counts a token verification prompted by `peer`; `Err` holds how long it should wait.
    pub fn check_peer(&self, peer: IpAddr) -> Result<(), Duration> {
        self.peers.check(&peer)
    }

    /// Drops the state of callers whose buckets have refilled.
    pub fn forget_idle(&self) {
        self.subjects.forget_idle();
        self.peers.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(
            "100:1000".parse::<RateLimit>().unwrap(),
            RateLimit::new(100, 1000)
        );
        assert_eq!("20".parse::<RateLimit>().unwrap(), RateLimit::new(20, 20));
        assert_eq!("0".parse::<RateLimit>().unwrap(), RateLimit::OFF);
        assert_eq!("0:0".parse::<RateLimit>().unwrap(), RateLimit::OFF);
        for bad in ["", "fast", "10:", "-1:5", "100:10"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad:?}");
        }
        assert_eq!(RateLimit::new(100, 1000).to_string(), "100:1000");
        assert_eq!(RateLimit::OFF.to_string(), "0");
    }

    #[test]
    fn a_subject_over_its_burst_waits_while_others_are_served() {
        let limits = Limits::new(RateLimit::new(1, 3), RateLimit::OFF);
        for _ in 0..3 {
            limits.check_subject("phone-1").unwrap();
        }
        let wait = limits.check_subject("phone-1").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        limits.check_subject("phone-2").unwrap();
        // Peers are not limited when their limit is off.
        for _ in 0..100 {
            limits.check_peer("192.0.2.1".parse().unwrap()).unwrap();
        }
    }
}
