//! Counters of what the cache did, readable from the [`Cache`](crate::Cache) handle.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a cache's counters since its layer was built.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
///
/// let layer = CacheLayer::new(MemoryStorage::new());
/// let stats = layer.cache().stats();
/// assert_eq!(stats.hits, 0);
/// assert_eq!(stats.storage_errors(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Fresh hits answered from storage.
    pub hits: u64,
    /// Cacheable requests that went upstream because nothing fresh was
    /// stored (conditional revalidations included).
    pub misses: u64,
    /// Responses written to storage.
    pub stored: u64,
    /// Stale entries confirmed by a `304`.
    pub revalidated: u64,
    /// Stale entries served because upstream failed.
    pub stale_served: u64,
    /// Storage reads that failed (each treated as a miss).
    pub storage_read_errors: u64,
    /// Storage writes or deletes that failed (each skipped).
    pub storage_write_errors: u64,
}

impl CacheStats {
    /// All storage failures, reads and writes.
    pub fn storage_errors(&self) -> u64 {
        self.storage_read_errors + self.storage_write_errors
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) revalidated: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) storage_read_errors: AtomicU64,
    pub(crate) storage_write_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: read(&self.hits),
            misses: read(&self.misses),
            stored: read(&self.stored),
            revalidated: read(&self.revalidated),
            stale_served: read(&self.stale_served),
            storage_read_errors: read(&self.storage_read_errors),
            storage_write_errors: read(&self.storage_write_errors),
        }
    }
}
