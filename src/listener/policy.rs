//! The listener's decisions, as plain functions: how long to pause after a failed accept, how
//! often to log a repeated condition, and when a connection has waited too long.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

/// First pause after a failed accept, doubled on every further failure up to
/// [`MAX_ACCEPT_PAUSE`].
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
/// A process out of file descriptors retries at least once a second: one closed connection
/// lets the next client in within that.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// How long to wait before accepting again after `failures` accepts in a row failed with an
/// error that retrying at once would repeat (`failures` ≥ 1).
pub fn accept_pause(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_ACCEPT_PAUSE
        .saturating_mul(1 << doublings)
        .min(MAX_ACCEPT_PAUSE)
}

/// Whether an accept error concerns only the connection being accepted (the peer gave up
/// before it was accepted), so the next accept may follow at once. Anything else, above all
/// running out of file descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), fails again
/// until something is released, and must not be retried in a busy loop.
pub fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(
        error.raw_os_error(),
        Some(libc::EPROTO) | Some(libc::ECONNABORTED)
    )
}

/// Logs a condition that may repeat thousands of times a second at most once per interval,
/// counting what it left out.
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Another occurrence at `now`: `Some(n)` when it is to be logged, `n` the occurrences
    /// left unlogged since the last one logged.
    pub fn occurred(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Why the server closed a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The HTTP/2 preface, the first frame or a header block did not arrive in time.
    Handshake,
    /// No call for the idle timeout.
    Idle,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake_timeout",
            Self::Idle => "idle_timeout",
        }
    }
}

/// What a connection looks like to its timeouts at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionState {
    /// Since when the peer owes the rest of the preface, its first frame or a header block
    /// (`None` when it owes nothing).
    pub waiting_since: Option<Instant>,
    /// Calls open on the connection.
    pub streams: usize,
    /// When the last call ended (or the connection opened, before any call).
    pub idle_since: Instant,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub handshake: Duration,
    pub idle: Duration,
}

/// Whether the connection is to be closed at `now`; if not, when to look again (`None`: only
/// once something changes).
pub fn expiry(
    state: &ConnectionState,
    timeouts: &Timeouts,
    now: Instant,
) -> Result<Option<Instant>, Expiry> {
    let handshake = state.waiting_since.map(|since| since + timeouts.handshake);
    let idle = (state.streams == 0).then(|| state.idle_since + timeouts.idle);
    if handshake.is_some_and(|deadline| now >= deadline) {
        return Err(Expiry::Handshake);
    }
    if idle.is_some_and(|deadline| now >= deadline) {
        return Err(Expiry::Idle);
    }
    Ok(match (handshake, idle) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_pauses_double_up_to_a_second() {
        let pauses: Vec<u128> = (1..=9).map(|n| accept_pause(n).as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(accept_pause(u32::MAX), MAX_ACCEPT_PAUSE);
        assert_eq!(accept_pause(0), FIRST_ACCEPT_PAUSE);
    }

    #[test]
    fn running_out_of_descriptors_is_not_a_connection_error() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(!is_connection_error(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::ECONNABORTED, libc::EPROTO, libc::EINTR] {
            assert!(is_connection_error(&io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    fn a_throttled_log_speaks_once_per_interval_and_counts_the_rest() {
        let start = Instant::now();
        let mut log = LogThrottle::new(Duration::from_secs(10));
        assert_eq!(log.occurred(start), Some(0));
        for i in 1..=5 {
            assert_eq!(log.occurred(start + Duration::from_secs(i)), None);
        }
        assert_eq!(log.occurred(start + Duration::from_secs(10)), Some(5));
        assert_eq!(log.occurred(start + Duration::from_secs(11)), None);
        assert_eq!(log.occurred(start + Duration::from_secs(30)), Some(1));
    }

    fn timeouts() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_peer_that_owes_its_preface_has_the_handshake_timeout() {
        let opened = Instant::now();
        let state = ConnectionState {
            waiting_since: Some(opened),
            streams: 0,
            idle_since: opened,
        };
        let at = |s| opened + Duration::from_secs(s);
        assert_eq!(expiry(&state, &timeouts(), at(3)), Ok(Some(at(10))));
        assert_eq!(expiry(&state, &timeouts(), at(10)), Err(Expiry::Handshake));
    }

    #[test]
    fn a_header_block_left_unfinished_during_a_call_expires_too() {
        let opened = Instant::now();
        let at = |s| opened + Duration::from_secs(s);
        let state = ConnectionState {
            waiting_since: Some(at(100)),
            streams: 3,
            idle_since: opened,
        };
        assert_eq!(expiry(&state, &timeouts(), at(105)), Ok(Some(at(110))));
        assert_eq!(expiry(&state, &timeouts(), at(111)), Err(Expiry::Handshake));
    }

    #[test]
    fn only_a_connection_without_calls_goes_idle() {
        let opened = Instant::now();
        let at = |s| opened + Duration::from_secs(s);
        let busy = ConnectionState {
            waiting_since: None,
            streams: 1,
            idle_since: opened,
        };
        assert_eq!(expiry(&busy, &timeouts(), at(5000)), Ok(None));
        let idle = ConnectionState {
            streams: 0,
            idle_since: at(50),
            ..busy
        };
        assert_eq!(expiry(&idle, &timeouts(), at(600)), Ok(Some(at(650))));
        assert_eq!(expiry(&idle, &timeouts(), at(650)), Err(Expiry::Idle));
    }
}
