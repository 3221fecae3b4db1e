//! Refused calls, logged without letting one client fill the disk: the first refusal per peer
//! in each interval is logged at INFO with its reason, the rest are counted and summed up in
//! one line when the interval ends (a client retrying a bad token 3,500 times a second used to
//! write a line each time, ~1.4 GB an hour).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most peers remembered per interval; refusals from further peers are only counted.
const MAX_PEERS_PER_INTERVAL: usize = 10_000;

/// What happened in an interval beyond the lines already logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Refusals not logged on their own.
    pub unlogged: u64,
    /// Peers they came from (at most [`MAX_PEERS_PER_INTERVAL`] are told apart).
    pub peers: usize,
}

/// Decides which refusals are logged; pure, given the time.
#[derive(Debug)]
pub struct Sampler<K> {
    interval: Duration,
    started: Instant,
    /// Refusals per peer in this interval.
    seen: HashMap<K, u64>,
    unlogged: u64,
}

impl<K: Hash + Eq> Sampler<K> {
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            started: now,
            seen: HashMap::new(),
            unlogged: 0,
        }
    }

    /// Counts a refusal from `peer`; `true` when it is to be logged on its own line. May first
    /// close the interval, returning its summary with the decision.
    pub fn record(&mut self, peer: K, now: Instant) -> (bool, Option<Summary>) {
        let summary = self.roll(now);
        let room = self.seen.len() < MAX_PEERS_PER_INTERVAL;
        let first = match self.seen.get_mut(&peer) {
            Some(count) => {
                *count += 1;
                false
            }
            None if room => {
                self.seen.insert(peer, 1);
                true
            }
            None => false,
        };
        if !first {
            self.unlogged += 1;
        }
        (first, summary)
    }

    /// Closes the interval when it has ended: its summary when some refusals were not logged.
    pub fn roll(&mut self, now: Instant) -> Option<Summary> {
        if now.duration_since(self.started) < self.interval {
            return None;
        }
        let summary = Summary {
            unlogged: self.unlogged,
            peers: self.seen.values().filter(|&&n| n > 1).count(),
        };
        self.started = now;
        self.seen.clear();
        self.unlogged = 0;
        (summary.unlogged > 0).then_some(summary)
    }
}

/// A [`Sampler`] shared by the calls of one server, writing the lines.
pub struct RejectionLog<K> {
    what: &'static str,
    sampler: Mutex<Sampler<K>>,
}

impl<K: Hash + Eq + Clone + std::fmt::Display> RejectionLog<K> {
    /// `what` names the refusals in the summary ("tokens rejected").
    pub fn new(what: &'static str, interval: Duration) -> Self {
        Self {
            what,
            sampler: Mutex::new(Sampler::new(interval, Instant::now())),
        }
    }

    /// Logs (or counts) one refusal of a call to `path` from `peer` because of `reason`.
    pub fn record(&self, peer: K, path: &str, reason: &dyn std::fmt::Display) {
        let (log, summary) = self.lock().record(peer.clone(), Instant::now());
        if let Some(summary) = summary {
            self.summarise(&summary);
        }
        if log {
            tracing::info!(%peer, path, error = %reason, "{}; further ones from this peer are counted", self.what);
        }
    }

    /// Writes the summary of an interval that has ended (called periodically, so a burst is
    /// summed up even if no refusal follows it).
    pub fn flush(&self) {
        let summary = self.lock().roll(Instant::now());
        if let Some(summary) = summary {
            self.summarise(&summary);
        }
    }

    fn summarise(&self, summary: &Summary) {
        tracing::info!(
            count = summary.unlogged,
            peers = summary.peers,
            "{} and not logged one by one in the last interval",
            self.what
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sampler<K>> {
        self.sampler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_per_peer_and_interval_is_logged_the_rest_summed_up() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut sampler = Sampler::new(minute, start);
        assert_eq!(sampler.record("a", start), (true, None));
        for i in 0..1_000 {
            assert_eq!(
                sampler.record("a", start + Duration::from_millis(i)),
                (false, None)
            );
        }
        assert_eq!(
            sampler.record("b", start + Duration::from_secs(1)),
            (true, None)
        );
        // The interval ends: its summary comes with the next refusal, which is logged anew.
        let (logged, summary) = sampler.record("a", start + minute);
        assert!(logged);
        assert_eq!(
            summary,
            Some(Summary {
                unlogged: 1_000,
                peers: 1
            })
        );
        // An interval without unlogged refusals has nothing to sum up.
        assert_eq!(sampler.roll(start + minute * 2), None);
        assert_eq!(sampler.roll(start + minute * 3), None);
    }

    #[test]
    fn peers_beyond_the_bound_are_only_counted() {
        let start = Instant::now();
        let mut sampler = Sampler::new(Duration::from_secs(60), start);
        let logged = (0..MAX_PEERS_PER_INTERVAL + 5)
            .filter(|peer| sampler.record(*peer, start).0)
            .count();
        assert_eq!(logged, MAX_PEERS_PER_INTERVAL);
        let summary = sampler.roll(start + Duration::from_secs(60)).unwrap();
        assert_eq!(summary.unlogged, 5);
    }
}
