//! [`AccessStamps`]: the recency a bounded store evicts by, stamped to the
//! minute behind the reads, never by them.

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::backend::unix_time::to_unix_nanos;

/// How stale an entry's access stamp must be before a read stamps it
/// again: recency to within a minute, for one write per entry per minute
/// at most, however hot the entry.
pub const ACCESS_STAMP_STEP: Duration = Duration::from_secs(60);

/// The most stamps waiting; reads past it are not stamped (their entries
/// will be, on a later read).
const MAX_PENDING: usize = 4096;

/// How many keys are remembered as stamped this minute.
const RECENT_SLOTS: usize = 4096;

/// Access stamps that a bounded store's reads leave, for a writer to write
/// in a batch later (SQLite's writer thread, a PostgreSQL or MongoDB
/// task): a hit never waits for a write.
///
/// A read calls [`note`](Self::note) with the stamp it found in the
/// entry's row; an entry stamped within [`ACCESS_STAMP_STEP`], or already
/// noted this minute, costs a comparison and an atomic load. The writer
/// [`take`](Self::take)s what is waiting.
///
/// # Example
/// ```
/// use std::time::{Duration, SystemTime};
/// use reqcache::storage::backend::AccessStamps;
/// use reqcache::storage::backend::unix_time::to_unix_nanos;
///
/// let stamps = AccessStamps::default();
/// let now = SystemTime::now();
/// let old = to_unix_nanos(now - Duration::from_secs(120));
/// assert!(stamps.note("k", Some(old), now), "the first waiting: wake the writer");
/// assert!(!stamps.note("k", Some(old), now), "noted this minute already");
/// assert!(!stamps.note("fresh", Some(to_unix_nanos(now)), now), "stamped lately");
/// assert_eq!(stamps.take(), vec![("k".to_owned(), to_unix_nanos(now))]);
/// ```
#[derive(Debug)]
pub struct AccessStamps {
    pending: Mutex<Vec<(String, i64)>>,
    /// The keys noted lately, by hash and minute: a hot entry read again
    /// before the writer wrote its stamp is not noted twice, and its reads
    /// take no lock.
    recent: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Default for AccessStamps {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
            recent: (0..RECENT_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl AccessStamps {
    /// Notes a read of `key` at `now`, whose stored stamp is `stamped`
    /// (Unix nanoseconds; `None`: never stamped), when the stamp is older
    /// than [`ACCESS_STAMP_STEP`] and `key` was not noted this minute.
    /// Returns `true` when this is the first stamp waiting: the writer
    /// should be woken.
    pub fn note(&self, key: &str, stamped: Option<i64>, now: SystemTime) -> bool {
        let now = to_unix_nanos(now);
        let step = i64::try_from(ACCESS_STAMP_STEP.as_nanos()).unwrap_or(i64::MAX);
        if stamped.is_some_and(|stamp| stamp > now.saturating_sub(step)) {
            return false;
        }
        let hash = self.hasher.hash_one(key);
        let tag = (hash ^ (now / step) as u64) | 1;
        let slot = &self.recent[hash as usize % RECENT_SLOTS];
        if slot.swap(tag, Ordering::Relaxed) == tag {
            return false;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING {
            return false;
        }
        pending.push((key.to_owned(), now));
        pending.len() == 1
    }

    /// The stamps waiting (key, Unix nanoseconds), taken.
    pub fn take(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
