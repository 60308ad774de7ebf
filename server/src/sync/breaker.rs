//! A circuit breaker for Salesforce: after repeated failures to reach it, syncs stop calling and
//! wait (retrying through the outbox's backoff), and one call at a time probes until Salesforce
//! answers again. Pure: the caller brings the clock.

use std::time::{Duration, Instant, SystemTime};

/// Failures to reach Salesforce in a row that open the breaker.
pub const OPEN_AFTER: u32 = 5;
/// While open, how often one call may go through to see whether Salesforce is back.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Breaker {
    failures_in_a_row: u32,
    /// Since when Salesforce has been unreachable (the first of the failures), once open.
    open_since: Option<SystemTime>,
    first_failure: Option<SystemTime>,
    next_probe: Option<Instant>,
}

/// What a change of the breaker's state is worth saying in the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    Opened { since: SystemTime },
    Closed { since: SystemTime },
}

impl Breaker {
    /// Whether a call may go to Salesforce now: always while closed; while open, one probe per
    /// [`PROBE_EVERY`].
    pub fn allows(&mut self, now: Instant) -> bool {
        if self.open_since.is_none() {
            return true;
        }
        match self.next_probe {
            Some(at) if now < at => false,
            _ => {
                self.next_probe = Some(now + PROBE_EVERY);
                true
            }
        }
    }

    pub fn unreachable_since(&self) -> Option<SystemTime> {
        self.open_since
    }

    /// Salesforce answered (any answer, errors included: it is reachable).
    pub fn answered(&mut self) -> Option<Transition> {
        self.failures_in_a_row = 0;
        self.first_failure = None;
        self.next_probe = None;
        self.open_since.take().map(|since| Transition::Closed { since })
    }

    /// A call did not reach Salesforce (timeout, connection, 5xx).
    pub fn unreached(&mut self, now: Instant, wall: SystemTime) -> Option<Transition> {
        self.failures_in_a_row += 1;
        let first = *self.first_failure.get_or_insert(wall);
        if self.open_since.is_none() && self.failures_in_a_row >= OPEN_AFTER {
            self.open_since = Some(first);
            self.next_probe = Some(now + PROBE_EVERY);
            return Some(Transition::Opened { since: first });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_opens_after_failures_in_a_row_and_says_since_the_first() {
        let (now, wall) = (Instant::now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
        let mut breaker = Breaker::default();
        for n in 1..OPEN_AFTER {
            assert_eq!(breaker.unreached(now, wall + Duration::from_secs(u64::from(n))), None);
            assert!(breaker.allows(now));
        }
        assert_eq!(
            breaker.unreached(now, wall + Duration::from_secs(99)),
            Some(Transition::Opened { since: wall + Duration::from_secs(1) })
        );
        assert!(!breaker.allows(now), "open: calls wait");
        assert_eq!(breaker.unreachable_since(), Some(wall + Duration::from_secs(1)));
    }

    #[test]
    fn while_open_one_probe_goes_through_per_interval_and_an_answer_closes_it() {
        let (now, wall) = (Instant::now(), SystemTime::UNIX_EPOCH);
        let mut breaker = Breaker::default();
        for _ in 0..OPEN_AFTER {
            breaker.unreached(now, wall);
        }
        assert!(!breaker.allows(now + PROBE_EVERY / 2));
        assert!(breaker.allows(now + PROBE_EVERY), "a probe");
        assert!(!breaker.allows(now + PROBE_EVERY), "only one");
        assert_eq!(breaker.answered(), Some(Transition::Closed { since: wall }));
        assert!(breaker.allows(now + PROBE_EVERY));
        assert_eq!(breaker.unreachable_since(), None);
    }

    #[test]
    fn an_answer_between_failures_starts_the_count_again() {
        let (now, wall) = (Instant::now(), SystemTime::UNIX_EPOCH);
        let mut breaker = Breaker::default();
        for _ in 1..OPEN_AFTER {
            breaker.unreached(now, wall);
        }
        assert_eq!(breaker.answered(), None);
        assert_eq!(breaker.unreached(now, wall), None);
        assert!(breaker.allows(now));
    }
}
