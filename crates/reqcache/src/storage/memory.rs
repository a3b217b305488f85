//! [`MemoryStorage`]: a bounded, in-process, least-recently-used store.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use lru::LruCache;

use super::contract::Storage;
use super::entry::EntryInfo;
use super::error::{StorageError, StorageErrorKind};
use super::record::{RecordChain, StoredRecord};

/// The default bound on the number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// The default bound on the total estimated size: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// An in-process cache store, bounded by entry count and by total size,
/// evicting the least recently used entry first.
///
/// Entries are kept decoded: a hit clones an [`Arc`](std::sync::Arc), no serialization.
/// A single entry larger than the size bound is refused with
/// [`StorageErrorKind::TooLarge`] (the layer then answers uncached).
///
/// # Example
/// ```
/// use reqcache::MemoryStorage;
///
/// let storage = MemoryStorage::builder()
///     .max_entries(1_000)
///     .max_bytes(64 * 1024 * 1024)
///     .build();
/// assert_eq!(storage.max_entries(), Some(1_000));
/// ```
pub struct MemoryStorage {
    state: Mutex<State>,
    max_entries: Option<usize>,
    max_bytes: Option<u64>,
}

struct State {
    entries: LruCache<String, Stored>,
    bytes: u64,
    /// How many of `entries` are responses (what `len` counts).
    responses: u64,
}

struct Stored {
    record: StoredRecord,
    size: u64,
    /// When this copy stops being returned, besides the entry's own
    /// retention: set by [`TieredStorage`](super::TieredStorage) for its L1.
    until: Option<SystemTime>,
}

impl Stored {
    fn is_gone(&self, now: SystemTime) -> bool {
        self.record.is_past_retention(now) || self.until.is_some_and(|until| until <= now)
    }
}

impl MemoryStorage {
    /// A store bounded by [`DEFAULT_MAX_ENTRIES`] and [`DEFAULT_MAX_BYTES`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to choose the bounds.
    pub fn builder() -> MemoryStorageBuilder {
        MemoryStorageBuilder {
            max_entries: Some(DEFAULT_MAX_ENTRIES),
            max_bytes: Some(DEFAULT_MAX_BYTES),
        }
    }

    /// The entry-count bound, if any.
    pub fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }

    /// The size bound in bytes, if any.
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// [`put`](Storage::put), the copy returned only until `until` (the
    /// entry's own retention still applies).
    pub(crate) fn put_until(
        &self,
        key: &str,
        record: StoredRecord,
        until: Option<SystemTime>,
    ) -> Result<(), StorageError> {
        let size = record.size();
        if self.max_bytes.is_some_and(|max| size > max) || self.max_entries == Some(0) {
            return Err(StorageError::new(
                StorageErrorKind::TooLarge,
                format!("entry of {size} bytes exceeds the memory storage bound"),
            ));
        }
        let mut state = self.state();
        state.remove(key);
        state.responses += u64::from(record.kind().is_response());
        state.entries.put(
            key.to_owned(),
            Stored {
                record,
                size,
                until,
            },
        );
        state.bytes += size;
        while self
            .max_entries
            .is_some_and(|max| state.entries.len() > max)
            || self.max_bytes.is_some_and(|max| state.bytes > max)
        {
            match state.entries.pop_lru() {
                Some((_, evicted)) => state.forget(&evicted),
                None => break,
            }
        }
        Ok(())
    }

    /// Removes `key` without awaiting (for bus messages).
    pub(crate) fn remove_now(&self, key: &str) -> bool {
        self.state().remove(key)
    }

    /// Removes every entry of `url` without awaiting.
    pub(crate) fn remove_url_now(&self, url: &str) -> u64 {
        self.state()
            .remove_where(|record| record.request().url == url)
    }

    /// Removes everything without awaiting.
    pub(crate) fn clear_now(&self) {
        let mut state = self.state();
        state.entries.clear();
        state.bytes = 0;
        state.responses = 0;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent in a
        // way that matters for a cache, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryStorage")
            .field("records", &state.entries.len())
            .field("responses", &state.responses)
            .field("bytes", &state.bytes)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

/// Builds a [`MemoryStorage`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStorageBuilder {
    max_entries: Option<usize>,
    max_bytes: Option<u64>,
}

impl MemoryStorageBuilder {
    /// At most this many entries (default [`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = Some(max);
        self
    }

    /// At most this many bytes in all, by [`StoredRecord::size`]
    /// (default [`DEFAULT_MAX_BYTES`]).
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = Some(max);
        self
    }

    /// No bound on the number of entries.
    pub fn unbounded_entries(mut self) -> Self {
        self.max_entries = None;
        self
    }

    /// No bound on the total size.
    pub fn unbounded_bytes(mut self) -> Self {
        self.max_bytes = None;
        self
    }

    /// The storage.
    pub fn build(self) -> MemoryStorage {
        MemoryStorage {
            state: Mutex::new(State {
                entries: LruCache::unbounded(),
                bytes: 0,
                responses: 0,
            }),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
        }
    }
}

impl State {
    fn remove(&mut self, key: &str) -> bool {
        match self.entries.pop(key) {
            Some(old) => {
                self.forget(&old);
                true
            }
            None => false,
        }
    }

    /// The record under `key`, touched as recently used; one past its
    /// retention (or its L1 copy's end) at `now` is removed instead.
    fn live(&mut self, key: &str, now: SystemTime) -> Option<StoredRecord> {
        match self.entries.get(key) {
            None => None,
            Some(stored) if !stored.is_gone(now) => Some(stored.record.clone()),
            Some(_) => {
                self.remove(key);
                None
            }
        }
    }

    /// Takes a record that left `entries` out of the totals.
    fn forget(&mut self, old: &Stored) {
        self.bytes -= old.size;
        self.responses -= u64::from(old.record.kind().is_response());
    }

    fn remove_where(&mut self, mut doomed: impl FnMut(&StoredRecord) -> bool) -> u64 {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, stored)| doomed(&stored.record))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            self.remove(key);
        }
        keys.len() as u64
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        Ok(self.state().live(key, now))
    }

    /// Both records under one lock: one call, and a consistent pair.
    async fn get_chain(
        &self,
        key: &str,
        now: SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        let mut state = self.state();
        let Some(record) = state.live(key, now) else {
            return Ok(None);
        };
        let next = next(&record).map(|next| {
            let found = state.live(&next, now);
            (next, found)
        });
        Ok(Some(RecordChain::new(record, next)))
    }

    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        self.put_until(key, record, None)
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.remove_now(key))
    }

    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        Ok(self.remove_url_now(url))
    }

    async fn clear(&self) -> Result<(), StorageError> {
        self.clear_now();
        Ok(())
    }

    async fn len(&self) -> Result<u64, StorageError> {
        Ok(self.state().responses)
    }

    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        Ok(self
            .state()
            .entries
            .iter()
            .map(|(key, stored)| stored.record.info(key))
            .collect())
    }

    async fn size(&self) -> Result<u64, StorageError> {
        Ok(self.state().bytes)
    }

    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        Ok(self
            .state()
            .remove_where(|record| record.is_expired(now) || record.is_past_retention(now)))
    }

    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        Ok(self
            .state()
            .entries
            .peek(key)
            .is_some_and(|stored| !stored.is_gone(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CachedRequest, CachedResponse};
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    fn entry(body: usize) -> Arc<CachedResponse> {
        Arc::new(CachedResponse::new(
            http::StatusCode::OK,
            http::HeaderMap::new(),
            Bytes::from(vec![b'x'; body]),
            CachedRequest::new(http::Method::GET, "http://example.com/"),
            UNIX_EPOCH,
        ))
    }

    #[tokio::test]
    async fn evicts_least_recently_used_by_count() {
        let storage = MemoryStorage::builder().max_entries(2).build();
        storage.put("a", entry(1)).await.unwrap();
        storage.put("b", entry(1)).await.unwrap();
        // Touch "a" so "b" is the least recently used.
        assert!(storage.get("a", UNIX_EPOCH).await.unwrap().is_some());
        storage.put("c", entry(1)).await.unwrap();
        assert!(storage.get("b", UNIX_EPOCH).await.unwrap().is_none());
        assert!(storage.get("a", UNIX_EPOCH).await.unwrap().is_some());
        assert!(storage.get("c", UNIX_EPOCH).await.unwrap().is_some());
        assert_eq!(storage.len().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn evicts_by_total_size_and_refuses_oversized_entries() {
        let one = entry(1000).size();
        let storage = MemoryStorage::builder().max_bytes(one * 2 + 10).build();
        storage.put("a", entry(1000)).await.unwrap();
        storage.put("b", entry(1000)).await.unwrap();
        storage.put("c", entry(1000)).await.unwrap();
        assert_eq!(storage.len().await.unwrap(), 2);
        assert!(!storage.contains("a", UNIX_EPOCH).await.unwrap());
        assert_eq!(storage.size().await.unwrap(), one * 2);
        let err = storage.put("huge", entry(10_000)).await.unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::TooLarge);
        assert_eq!(storage.len().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn overwriting_keeps_size_accounting_exact() {
        let storage = MemoryStorage::new();
        storage.put("a", entry(10)).await.unwrap();
        storage.put("a", entry(500)).await.unwrap();
        assert_eq!(storage.size().await.unwrap(), entry(500).size());
        storage.delete("a").await.unwrap();
        assert_eq!(storage.size().await.unwrap(), 0);
    }
}
