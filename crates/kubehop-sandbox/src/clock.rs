//! Time as the sandbox writes it into objects (creationTimestamp, deletionTimestamp, condition
//! transition times, `startTime`). Injectable so tests and the TUI's frame snapshots get
//! reproducible clusters; timers (readiness delay, grace period) still run on tokio's clock.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Where timestamps come from.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system clock (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to: every timestamp the sandbox writes is reproducible.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(at),
        }
    }

    /// A clock standing at an RFC 3339 time (`"2025-05-12T08:00:00Z"`); the Unix epoch if the
    /// text does not parse.
    pub fn at(rfc3339: &str) -> Self {
        Self::new(rfc3339.parse().unwrap_or(Timestamp::UNIX_EPOCH))
    }

    pub fn set(&self, at: Timestamp) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at("2025-05-12T08:00:00Z");
        let first = clock.now();
        assert_eq!(clock.now(), first);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().to_string(), "2025-05-12T08:01:30Z");
    }
}
