//! Counters of what the cache did, readable from the [`CacheHandle`](crate::CacheHandle).

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
    /// Storage calls that took longer than their timeout (each also counted
    /// as a read or write error).
    pub storage_timeouts: u64,
    /// Writes dropped without being tried: too many were pending, there was
    /// no runtime to finish them on, or the breaker was open.
    pub writes_dropped: u64,
    /// Storage reads skipped because the breaker was open (each a miss).
    pub reads_skipped: u64,
    /// Times a storage breaker (reads' or writes') opened.
    pub breaker_trips: u64,
    /// Whether the reads' breaker is open now (reads are skipped).
    pub read_breaker_open: bool,
    /// Whether the writes' breaker is open now (writes are dropped).
    pub write_breaker_open: bool,
    /// Writes in flight now (background fills included).
    pub pending_writes: u64,
    /// Storable bodies dropped unread by their callers that the cache went
    /// on reading, to store them
    /// ([`background_fill`](crate::CacheLayerBuilder::background_fill)).
    pub background_fills: u64,
    /// Background fills that stored nothing: out of time, the upstream
    /// body failed, or the body turned out unstorable.
    pub background_fills_failed: u64,
    /// Writes the storage refused for their size: an entry larger than its
    /// bound, or than a DynamoDB item (400 KB). Not failures of the
    /// storage: they are not in `storage_write_errors` and never open the
    /// breaker.
    pub writes_refused: u64,
}

impl CacheStats {
    /// All storage failures, reads and writes.
    pub fn storage_errors(&self) -> u64 {
        self.storage_read_errors + self.storage_write_errors
    }
}

/// One of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Hit,
    Miss,
    Stored,
    Revalidated,
    StaleServed,
    StorageReadError,
    StorageWriteError,
    StorageTimeout,
    WriteDropped,
    ReadSkipped,
    BreakerTrip,
    BackgroundFill,
    BackgroundFillFailed,
    WriteRefused,
}

impl Counter {
    /// The name it is exported under through the `metrics` facade.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn metric_name(self) -> &'static str {
        match self {
            Counter::Hit => "reqcache_hits_total",
            Counter::Miss => "reqcache_misses_total",
            Counter::Stored => "reqcache_stored_total",
            Counter::Revalidated => "reqcache_revalidated_total",
            Counter::StaleServed => "reqcache_stale_served_total",
            Counter::StorageReadError => "reqcache_storage_read_errors_total",
            Counter::StorageWriteError => "reqcache_storage_write_errors_total",
            Counter::StorageTimeout => "reqcache_storage_timeouts_total",
            Counter::WriteDropped => "reqcache_writes_dropped_total",
            Counter::ReadSkipped => "reqcache_reads_skipped_total",
            Counter::BreakerTrip => "reqcache_breaker_trips_total",
            Counter::BackgroundFill => "reqcache_background_fills_total",
            Counter::BackgroundFillFailed => "reqcache_background_fills_failed_total",
            Counter::WriteRefused => "reqcache_writes_refused_total",
        }
    }
}

/// A counter split over cache lines, one per group of threads: a thread
/// adds to its own stripe, and a read sums them. Two cores counting hits
/// then do not bounce one line between them on every request.
#[derive(Debug, Default)]
struct Striped([Stripe; STRIPES]);

/// One stripe, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

const STRIPES: usize = 8;

impl Striped {
    /// The calling thread's stripe.
    fn cell(&self) -> &AtomicU64 {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        }
        // A thread whose locals are being torn down counts on stripe 0.
        &self.0[STRIPE.try_with(|stripe| *stripe).unwrap_or(0)].0
    }

    fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|stripe| stripe.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// The live counters, and the cache's name for the `metrics` label.
#[derive(Debug)]
pub(crate) struct Counters {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    name: std::sync::Arc<str>,
    /// Counted on every request: striped, so that cores do not contend.
    hits: Striped,
    misses: Striped,
    stored: AtomicU64,
    revalidated: AtomicU64,
    stale_served: AtomicU64,
    storage_read_errors: AtomicU64,
    storage_write_errors: AtomicU64,
    storage_timeouts: AtomicU64,
    writes_dropped: AtomicU64,
    reads_skipped: AtomicU64,
    breaker_trips: AtomicU64,
    background_fills: AtomicU64,
    background_fills_failed: AtomicU64,
    writes_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            hits: Striped::default(),
            misses: Striped::default(),
            stored: AtomicU64::new(0),
            revalidated: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            storage_read_errors: AtomicU64::new(0),
            storage_write_errors: AtomicU64::new(0),
            storage_timeouts: AtomicU64::new(0),
            writes_dropped: AtomicU64::new(0),
            reads_skipped: AtomicU64::new(0),
            breaker_trips: AtomicU64::new(0),
            background_fills: AtomicU64::new(0),
            background_fills_failed: AtomicU64::new(0),
            writes_refused: AtomicU64::new(0),
        }
    }

    /// Counts one event, and exports it with the `metrics` feature.
    pub(crate) fn record(&self, counter: Counter) {
        let cell = match counter {
            Counter::Hit => self.hits.cell(),
            Counter::Miss => self.misses.cell(),
            Counter::Stored => &self.stored,
            Counter::Revalidated => &self.revalidated,
            Counter::StaleServed => &self.stale_served,
            Counter::StorageReadError => &self.storage_read_errors,
            Counter::StorageWriteError => &self.storage_write_errors,
            Counter::StorageTimeout => &self.storage_timeouts,
            Counter::WriteDropped => &self.writes_dropped,
            Counter::ReadSkipped => &self.reads_skipped,
            Counter::BreakerTrip => &self.breaker_trips,
            Counter::BackgroundFill => &self.background_fills,
            Counter::BackgroundFillFailed => &self.background_fills_failed,
            Counter::WriteRefused => &self.writes_refused,
        };
        cell.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!(counter.metric_name(), "cache" => self.name.clone()).increment(1);
    }

    /// Exports whether a storage breaker (`op`: `read` or `write`) is open,
    /// with the `metrics` feature (`reqcache_breaker_open`, 0 or 1).
    pub(crate) fn breaker_state(&self, op: &'static str, open: bool) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("reqcache_breaker_open", "cache" => self.name.clone(), "op" => op)
            .set(if open { 1.0 } else { 0.0 });
        #[cfg(not(feature = "metrics"))]
        let _ = (op, open);
    }

    /// The counters; the breaker's state and the pending writes are filled
    /// in by the caller.
    pub(crate) fn snapshot(&self) -> CacheStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: self.hits.sum(),
            misses: self.misses.sum(),
            stored: read(&self.stored),
            revalidated: read(&self.revalidated),
            stale_served: read(&self.stale_served),
            storage_read_errors: read(&self.storage_read_errors),
            storage_write_errors: read(&self.storage_write_errors),
            storage_timeouts: read(&self.storage_timeouts),
            writes_dropped: read(&self.writes_dropped),
            reads_skipped: read(&self.reads_skipped),
            breaker_trips: read(&self.breaker_trips),
            background_fills: read(&self.background_fills),
            background_fills_failed: read(&self.background_fills_failed),
            writes_refused: read(&self.writes_refused),
            read_breaker_open: false,
            write_breaker_open: false,
            pending_writes: 0,
        }
    }
}
