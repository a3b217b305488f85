//! Admission by frequency: a response is stored once its key has been
//! asked for `min_uses` times among the recent misses (nginx's
//! `proxy_cache_min_uses`), counted in a count-min sketch that ages, as
//! TinyLFU's does. A scan of keys asked for once never enters the storage,
//! so it cannot push out what is asked for often.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The default number of misses over which uses are counted.
pub(crate) const DEFAULT_WINDOW: usize = 100_000;

/// How many counters, each in its own row, a key has.
const ROWS: usize = 4;

/// The admission settings of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdmissionSettings {
    pub(crate) min_uses: u32,
    pub(crate) window: usize,
}

/// What decides whether a miss's response is stored.
#[derive(Debug)]
pub(crate) struct Admission {
    min_uses: u32,
    sketch: FrequencySketch,
}

impl Admission {
    pub(crate) fn new(settings: AdmissionSettings) -> Self {
        Self {
            min_uses: settings.min_uses,
            sketch: FrequencySketch::new(settings.window),
        }
    }

    /// Counts one more use of `key` and says whether it has now been used
    /// `min_uses` times within the window.
    pub(crate) fn admits(&self, key: &str) -> bool {
        self.sketch.increment(key) >= self.min_uses
    }
}

/// A count-min sketch of 8-bit counters, 4 rows, each as wide as the next
/// power of two above the window; every counter is halved once the window
/// has seen as many increments, so counts fade with time.
pub(crate) struct FrequencySketch {
    counters: Box<[AtomicU8]>,
    mask: usize,
    window: usize,
    added: AtomicUsize,
    hasher: RandomState,
}

impl std::fmt::Debug for FrequencySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrequencySketch")
            .field("width", &(self.mask + 1))
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl FrequencySketch {
    pub(crate) fn new(window: usize) -> Self {
        let width = window.max(64).next_power_of_two();
        Self {
            counters: (0..width * ROWS).map(|_| AtomicU8::new(0)).collect(),
            mask: width - 1,
            window: window.max(1),
            added: AtomicUsize::new(0),
            hasher: RandomState::new(),
        }
    }

    /// Adds one to `key`'s counters and returns its estimate: the least of
    /// them, at most 255.
    pub(crate) fn increment(&self, key: &str) -> u32 {
        let hash = self.hasher.hash_one(key);
        let width = self.mask + 1;
        let mut estimate = u8::MAX;
        for row in 0..ROWS {
            // Four indexes from one 64-bit hash: its halves, mixed per row.
            let mixed =
                (hash >> 32).wrapping_add((row as u64).wrapping_mul(hash & 0xffff_ffff | 1));
            let index = row * width + (mixed as usize & self.mask);
            let counter = &self.counters[index];
            let before = counter
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
                .unwrap_or(u8::MAX);
            estimate = estimate.min(before.saturating_add(1));
        }
        if self.added.fetch_add(1, Ordering::Relaxed) + 1 >= self.window {
            self.age();
        }
        u32::from(estimate)
    }

    /// Halves every counter, once per window (whoever crosses it).
    fn age(&self) {
        if self
            .added
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n >= self.window).then_some(0)
            })
            .is_err()
        {
            return;
        }
        for counter in self.counters.iter() {
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n / 2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_admitted_at_its_min_uses() {
        let admission = Admission::new(AdmissionSettings {
            min_uses: 3,
            window: 1000,
        });
        assert!(!admission.admits("a"));
        assert!(!admission.admits("a"));
        assert!(admission.admits("a"));
        assert!(admission.admits("a"));
        assert!(!admission.admits("b"), "counted per key");
    }

    #[test]
    fn one_use_each_of_many_keys_admits_almost_none() {
        let admission = Admission::new(AdmissionSettings {
            min_uses: 2,
            window: 100_000,
        });
        let admitted = (0..50_000)
            .filter(|i| admission.admits(&format!("scan/{i}")))
            .count();
        // A key passes only when all four of its counters were hit by
        // others: about 1% at this load (50,000 keys in 131,072 counters).
        assert!(admitted < 500, "{admitted} of 50,000 admitted");
    }

    #[test]
    fn counts_fade_once_per_window() {
        let sketch = FrequencySketch::new(100);
        for _ in 0..8 {
            sketch.increment("hot");
        }
        // 92 more increments complete the window: every count is halved.
        for i in 0..92 {
            sketch.increment(&format!("other/{i}"));
        }
        assert_eq!(sketch.increment("hot"), 5, "8 halved to 4, plus this one");
    }
}
