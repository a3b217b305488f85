//! [`Breaker`]: a circuit breaker in front of the storage.
//!
//! After `threshold` consecutive failures or timeouts the breaker opens: the
//! layer stops calling the storage (reads are misses, writes are dropped)
//! for `cool_down`. Then one call goes through as a probe: its success
//! closes the breaker, its failure keeps it open for another cool-down (so
//! does a probe that never reports back, cancelled with its request). Time
//! comes from the layer's clock, so tests advance it instead of sleeping.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakerSettings {
    /// Consecutive failures that open it; `0` turns the breaker off.
    pub(crate) threshold: u32,
    /// How long it stays open before a probe.
    pub(crate) cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            cool_down: Duration::from_secs(5),
        }
    }
}

/// The state of one cache's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    settings: BreakerSettings,
    failures: AtomicU32,
    /// `0` when closed; else the time (ms since the epoch) of the next probe.
    next_probe: AtomicU64,
}

/// What a failure did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tripped {
    /// It opened now.
    Opened,
    /// Nothing changed (still closed, or already open).
    No,
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            failures: AtomicU32::new(0),
            next_probe: AtomicU64::new(0),
        }
    }

    /// Whether a storage call may be made at `now`: always while closed;
    /// while open, only the one probe once the cool-down is over.
    pub(crate) fn allows(&self, now: SystemTime) -> bool {
        let next_probe = self.next_probe.load(Ordering::Acquire);
        if next_probe == 0 {
            return true;
        }
        let now = millis(now);
        now >= next_probe
            && self
                .next_probe
                .compare_exchange(
                    next_probe,
                    later(now, self.settings.cool_down),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// A storage call succeeded: the breaker closes; `true` if it was open.
    pub(crate) fn succeeded(&self) -> bool {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        self.next_probe.load(Ordering::Acquire) != 0
            && self.next_probe.swap(0, Ordering::AcqRel) != 0
    }

    /// A storage call failed or timed out at `now`.
    pub(crate) fn failed(&self, now: SystemTime) -> Tripped {
        let threshold = self.settings.threshold;
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if threshold == 0 || failures < threshold {
            return Tripped::No;
        }
        let next = later(millis(now), self.settings.cool_down);
        match self
            .next_probe
            .compare_exchange(0, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Tripped::Opened,
            // Open already (a failed probe): its next probe was set when it
            // was let through.
            Err(_) => Tripped::No,
        }
    }

    /// Whether the breaker is open (calls are skipped, or a probe is due).
    pub(crate) fn is_open(&self) -> bool {
        self.next_probe.load(Ordering::Acquire) != 0
    }
}

fn millis(time: SystemTime) -> u64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // `0` means closed.
    millis.max(1)
}

fn later(now: u64, by: Duration) -> u64 {
    now.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            threshold: 3,
            cool_down: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let breaker = breaker();
        assert_eq!(breaker.failed(at(0)), Tripped::No);
        assert_eq!(breaker.failed(at(0)), Tripped::No);
        assert!(breaker.allows(at(0)));
        assert_eq!(breaker.failed(at(0)), Tripped::Opened);
        assert!(breaker.is_open());
        assert!(!breaker.allows(at(1)));
        assert!(!breaker.allows(at(9)));
    }

    #[test]
    fn a_success_between_failures_resets_the_count() {
        let breaker = breaker();
        breaker.failed(at(0));
        breaker.failed(at(0));
        assert!(!breaker.succeeded());
        breaker.failed(at(0));
        breaker.failed(at(0));
        assert!(!breaker.is_open());
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_through_and_its_success_closes() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.failed(at(0));
        }
        assert!(breaker.allows(at(10)), "the probe");
        assert!(!breaker.allows(at(10)), "only one probe");
        assert!(breaker.succeeded());
        assert!(!breaker.is_open());
        assert!(breaker.allows(at(10)));
    }

    #[test]
    fn a_failed_or_lost_probe_keeps_it_open_for_another_cool_down() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.failed(at(0));
        }
        assert!(breaker.allows(at(10)));
        assert_eq!(breaker.failed(at(10)), Tripped::No);
        assert!(!breaker.allows(at(19)));
        // This probe never reports back; the next one comes anyway.
        assert!(breaker.allows(at(20)));
        assert!(!breaker.allows(at(29)));
        assert!(breaker.allows(at(30)));
    }

    #[test]
    fn a_threshold_of_zero_never_opens() {
        let breaker = Breaker::new(BreakerSettings {
            threshold: 0,
            cool_down: Duration::from_secs(1),
        });
        for _ in 0..100 {
            assert_eq!(breaker.failed(at(0)), Tripped::No);
        }
        assert!(breaker.allows(at(0)));
    }
}
