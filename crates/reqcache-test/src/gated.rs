//! [`Gated`]: a storage wrapper whose reads and writes the test holds back
//! (a hung backend) or delays (a slow one), to check that the layer bounds
//! every storage wait. Holding uses gates, not sleeps: a held call waits
//! until the test releases it, or until the layer's timeout gives up on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqcache::StorageError;
use reqcache::storage::backend::StoredRecord;
use reqcache::storage::{EntryInfo, Storage};
use tokio::sync::watch;

/// A storage whose hot-path calls (get, put, delete) can be held or delayed.
/// Clones share the gates and the storage. Admin calls (len, entries, ...)
/// always pass.
///
/// # Example
/// ```
/// use reqcache::MemoryStorage;
/// use reqcache_test::Gated;
///
/// let storage = Gated::new(MemoryStorage::new());
/// storage.hang(); // every get, put and delete now waits...
/// storage.recover(); // ...until this.
/// ```
#[derive(Debug)]
pub struct Gated<S> {
    inner: Arc<S>,
    reads: Arc<Gate>,
    writes: Arc<Gate>,
}

impl<S> Clone for Gated<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            reads: Arc::clone(&self.reads),
            writes: Arc::clone(&self.writes),
        }
    }
}

#[derive(Debug)]
struct Gate {
    open: watch::Sender<bool>,
    delay: std::sync::Mutex<Option<Duration>>,
    calls: AtomicUsize,
}

impl Gate {
    fn new() -> Self {
        Self {
            open: watch::Sender::new(true),
            delay: std::sync::Mutex::new(None),
            calls: AtomicUsize::new(0),
        }
    }

    async fn pass(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut open = self.open.subscribe();
        // The sender lives in `self`: waiting cannot fail.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl<S: Storage> Gated<S> {
    /// `inner`, with both gates open and no delay.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            reads: Arc::new(Gate::new()),
            writes: Arc::new(Gate::new()),
        }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Holds every read until [`release_reads`](Self::release_reads).
    pub fn hold_reads(&self) {
        self.reads.open.send_replace(false);
    }

    /// Lets held and later reads through.
    pub fn release_reads(&self) {
        self.reads.open.send_replace(true);
    }

    /// Holds every write and delete until [`release_writes`](Self::release_writes).
    pub fn hold_writes(&self) {
        self.writes.open.send_replace(false);
    }

    /// Lets held and later writes through.
    pub fn release_writes(&self) {
        self.writes.open.send_replace(true);
    }

    /// A hung backend: holds reads and writes.
    pub fn hang(&self) {
        self.hold_reads();
        self.hold_writes();
    }

    /// The backend answers again.
    pub fn recover(&self) {
        self.release_reads();
        self.release_writes();
    }

    /// A slow backend: every read and write first waits `delay` on Tokio's
    /// timer (`None`: no delay).
    pub fn delay(&self, delay: Option<Duration>) {
        for gate in [&self.reads, &self.writes] {
            *gate.delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
        }
    }

    /// Reads the layer has started, held or not.
    pub fn reads(&self) -> usize {
        self.reads.calls.load(Ordering::SeqCst)
    }

    /// Writes and deletes the layer has started, held or not.
    pub fn writes(&self) -> usize {
        self.writes.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<S: Storage> Storage for Gated<S> {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        self.reads.pass().await;
        self.inner.get_record(key, now).await
    }
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        self.writes.pass().await;
        self.inner.put_record(key, record).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.writes.pass().await;
        self.inner.delete(key).await
    }
    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        self.writes.pass().await;
        self.inner.delete_url(url).await
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.inner.clear().await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.inner.len().await
    }
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.inner.entries().await
    }
    async fn size(&self) -> Result<u64, StorageError> {
        self.inner.size().await
    }
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.inner.remove_expired(now).await
    }
    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        self.reads.pass().await;
        self.inner.contains(key, now).await
    }
}
