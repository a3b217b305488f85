//! [`MemoryStorage`]: a bounded, in-process store whose reads scale with
//! the cores that make them.
//!
//! The records live in 64 hash tables (`SHARDS`), each behind its own
//! read-write lock: a hit takes one shard's read lock, so hits on different
//! keys rarely meet, and hits on one key share a read lock instead of
//! queueing for an exclusive one. Recency is a tick per record: a counter
//! that every write advances, copied into the record by the first read
//! after it moved (a read that finds it current writes nothing, so a hot
//! record's cache line is not bounced between cores). Writes go through one
//! `Ledger`: the totals and the eviction ring, a second-chance queue that
//! evicts the first record not read since it was queued and queues again
//! the ones that were: least recently used, to within the reads between two
//! writes, with no list to reorder on every hit.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::contract::Storage;
use super::entry::EntryInfo;
use super::error::{StorageError, StorageErrorKind};
use super::record::{RecordChain, StoredRecord};
use super::usage::StorageUsage;

/// The default bound on the number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// The default bound on the total estimated size: 256 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;
/// How many independently locked tables the records are spread over (a
/// power of two).
const SHARDS: usize = 64;

/// An in-process cache store, bounded by entry count and by total size,
/// evicting records that have not been read recently first.
///
/// Entries are kept decoded: a hit clones an [`Arc`](std::sync::Arc), no
/// serialization. A single entry larger than the size bound is refused with
/// [`StorageErrorKind::TooLarge`] (the layer then answers uncached).
///
/// Reads scale across cores: the records are spread over 64
/// tables, each with its own read-write lock, and a read takes only a read
/// lock. Eviction is least recently used, to within the reads between two
/// writes: when a write goes over a bound, the records are visited in the
/// order they were stored; one read since it was queued is queued again,
/// the first one not read is evicted.
///
/// # Example
/// ```
/// use reqcache::MemoryStorage;
///
/// let storage = MemoryStorage::builder()
///     .max_entries(1_000)
///     .max_size(64 * 1024 * 1024)
///     .build();
/// assert_eq!(storage.max_entries(), Some(1_000));
/// ```
pub struct MemoryStorage {
    shards: Box<[Shard]>,
    hasher: DefaultHashBuilder,
    /// Advanced by every write: what a read stamps a record with.
    tick: Tick,
    ledger: Mutex<Ledger>,
    max_entries: Option<usize>,
    max_size: Option<u64>,
}

/// One table and its lock, alone on its cache lines so that two cores
/// reading two shards do not contend.
#[repr(align(128))]
struct Shard(RwLock<HashTable<Slot>>);

/// The write counter, alone on its cache line: every hit reads it, only
/// writes change it.
#[repr(align(128))]
struct Tick(AtomicU64);

/// A record in a shard's table.
struct Slot {
    hash: u64,
    key: Box<str>,
    /// Which write stored it: the ring's handle on this very record.
    id: u64,
    record: StoredRecord,
    size: u64,
    /// When this copy stops being returned, besides the entry's own
    /// retention: set by [`TieredStorage`](super::TieredStorage) for its L1.
    until: Option<SystemTime>,
    /// The tick of its last read (or of its write).
    used: AtomicU64,
}

impl Slot {
    fn is_gone(&self, now: SystemTime) -> bool {
        self.record.is_past_retention(now) || self.until.is_some_and(|until| until <= now)
    }

    /// Stamps the record read at `tick`, writing only when the stamp moved
    /// (so a hot record does not bounce a cache line between cores).
    fn touch(&self, tick: u64) {
        if self.used.load(Ordering::Relaxed) != tick {
            self.used.store(tick, Ordering::Relaxed);
        }
    }
}

/// The write side: every change to the tables goes through it, one at a
/// time, so the totals are exact.
struct Ledger {
    /// The records in the order eviction visits them: hash, id, and the
    /// tick they were queued at. A record deleted or replaced leaves its
    /// place behind; eviction drops such places, and
    /// `MemoryStorage::compact_if_sparse` when they pile up.
    ring: VecDeque<(u64, u64, u64)>,
    next_id: u64,
    records: usize,
    bytes: u64,
    /// How many of the records are responses (what `len` counts).
    responses: u64,
    /// How many records the bounds evicted.
    evictions: u64,
    /// The keys of the responses in each cache group.
    groups: HashMap<Box<str>, HashSet<Box<str>>>,
}

impl Ledger {
    fn count(&mut self, slot: &Slot) {
        self.records += 1;
        self.bytes += slot.size;
        self.responses += u64::from(slot.record.kind().is_response());
        for group in slot_groups(slot) {
            self.groups
                .entry(group.as_str().into())
                .or_default()
                .insert(slot.key.clone());
        }
    }

    fn forget(&mut self, slot: &Slot) {
        self.records -= 1;
        self.bytes -= slot.size;
        self.responses -= u64::from(slot.record.kind().is_response());
        for group in slot_groups(slot) {
            if let Some(keys) = self.groups.get_mut(group.as_str()) {
                keys.remove(&slot.key);
                if keys.is_empty() {
                    self.groups.remove(group.as_str());
                }
            }
        }
    }
}

/// The cache groups of a slot's record (none but a response's).
fn slot_groups(slot: &Slot) -> &[String] {
    slot.record
        .as_response()
        .map_or(&[], |entry| entry.groups.as_slice())
}

impl MemoryStorage {
    /// A store bounded by [`DEFAULT_MAX_ENTRIES`] and [`DEFAULT_MAX_SIZE`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to choose the bounds.
    pub fn builder() -> MemoryStorageBuilder {
        MemoryStorageBuilder {
            max_entries: Some(DEFAULT_MAX_ENTRIES),
            max_size: Some(DEFAULT_MAX_SIZE),
        }
    }

    /// The entry-count bound, if any.
    pub fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }

    /// The size bound in bytes, if any.
    pub fn max_size(&self) -> Option<u64> {
        self.max_size
    }

    /// [`put`](Storage::put), the copy returned only until `until` (the
    /// entry's own retention still applies).
    pub(crate) fn put_until(
        &self,
        key: &str,
        record: StoredRecord,
        until: Option<SystemTime>,
    ) -> Result<(), StorageError> {
        // A record whose body is kept in chunks (a tiered L1's copy of
        // one) holds its head only.
        let size = record.size()
            - record
                .as_response()
                .and_then(|entry| entry.stored_body.as_ref())
                .map_or(0, |stored| stored.len);
        if self.max_size.is_some_and(|max| size > max) || self.max_entries == Some(0) {
            return Err(StorageError::new(
                StorageErrorKind::TooLarge,
                format!("entry of {size} bytes exceeds the memory storage bound"),
            ));
        }
        let hash = self.hasher.hash_one(key);
        let mut ledger = self.ledger();
        let id = ledger.next_id;
        ledger.next_id += 1;
        let tick = self.tick.0.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Slot {
            hash,
            key: key.into(),
            id,
            record,
            size,
            until,
            used: AtomicU64::new(tick),
        };
        {
            let mut table = self.write(hash);
            // The old record is forgotten first: the new one may share its
            // groups.
            if let Ok(old) = table.find_entry(hash, |s| *s.key == *key) {
                ledger.forget(&old.remove().0);
            }
            ledger.count(&slot);
            table.insert_unique(hash, slot, |s| s.hash);
        }
        ledger.ring.push_back((hash, id, tick));
        self.evict_over_bounds(&mut ledger, tick, id);
        self.compact_if_sparse(&mut ledger);
        Ok(())
    }

    /// Evicts until the totals are within the bounds. A record read since
    /// it was queued is queued again at `tick` (no read can stamp it later
    /// than that while the ledger is held), so two passes at most. The
    /// record just stored (`newest`) is spared: it is the most recently
    /// used, and it fits the bounds alone.
    fn evict_over_bounds(&self, ledger: &mut Ledger, tick: u64, newest: u64) {
        let over = |ledger: &Ledger| {
            self.max_entries.is_some_and(|max| ledger.records > max)
                || self.max_size.is_some_and(|max| ledger.bytes > max)
        };
        while over(ledger) {
            let Some((hash, id, queued)) = ledger.ring.pop_front() else {
                break;
            };
            if id == newest {
                let alone = ledger.ring.is_empty();
                ledger.ring.push_back((hash, id, queued));
                if alone {
                    break;
                }
                continue;
            }
            let mut table = self.write(hash);
            let Ok(found) = table.find_entry(hash, |s| s.id == id) else {
                continue; // deleted or replaced since
            };
            if found.get().used.load(Ordering::Relaxed) > queued {
                ledger.ring.push_back((hash, id, tick));
            } else {
                ledger.forget(&found.remove().0);
                ledger.evictions += 1;
            }
        }
    }

    /// Drops the ring's places of deleted and replaced records once they
    /// outnumber the live ones.
    fn compact_if_sparse(&self, ledger: &mut Ledger) {
        if ledger.ring.len() <= 2 * ledger.records + SHARDS {
            return;
        }
        let ring = std::mem::take(&mut ledger.ring);
        ledger.ring = ring
            .into_iter()
            .filter(|&(hash, id, _)| self.read(hash).find(hash, |s| s.id == id).is_some())
            .collect();
    }

    /// The record under `key`, marked read; one past its retention (or its
    /// L1 copy's end) at `now` is removed instead.
    fn live(&self, key: &str, now: SystemTime) -> Option<StoredRecord> {
        let hash = self.hasher.hash_one(key);
        {
            let table = self.read(hash);
            let slot = table.find(hash, |s| *s.key == *key)?;
            if !slot.is_gone(now) {
                slot.touch(self.tick.0.load(Ordering::Relaxed));
                return Some(slot.record.clone());
            }
        }
        self.remove_if(key, |slot| slot.is_gone(now));
        None
    }

    /// Removes `key` when `doomed` says so of its record.
    fn remove_if(&self, key: &str, doomed: impl FnOnce(&Slot) -> bool) -> bool {
        let hash = self.hasher.hash_one(key);
        let mut ledger = self.ledger();
        let mut table = self.write(hash);
        match table.find_entry(hash, |s| *s.key == *key) {
            Ok(found) if doomed(found.get()) => {
                ledger.forget(&found.remove().0);
                true
            }
            _ => false,
        }
    }

    /// Removes `key` without awaiting (for bus messages).
    pub(crate) fn remove_now(&self, key: &str) -> bool {
        self.remove_if(key, |_| true)
    }

    /// Removes every entry of `url` without awaiting.
    pub(crate) fn remove_url_now(&self, url: &str) -> u64 {
        self.remove_where(|record| record.request().url == url)
    }

    /// The keys of the responses in `group`.
    fn group_members(&self, group: &str) -> Vec<String> {
        self.ledger()
            .groups
            .get(group)
            .map(|keys| keys.iter().map(|key| key.to_string()).collect())
            .unwrap_or_default()
    }

    /// Removes every response in `group` without awaiting.
    pub(crate) fn remove_group_now(&self, group: &str) -> u64 {
        let mut removed = 0;
        for key in self.group_members(group) {
            // Still in the group: it may have been replaced since.
            removed += u64::from(
                self.remove_if(&key, |slot| slot_groups(slot).iter().any(|g| g == group)),
            );
        }
        removed
    }

    /// Removes everything without awaiting.
    pub(crate) fn clear_now(&self) {
        let mut ledger = self.ledger();
        for shard in &self.shards {
            write_lock(shard).clear();
        }
        ledger.ring.clear();
        ledger.records = 0;
        ledger.bytes = 0;
        ledger.responses = 0;
        ledger.groups.clear();
    }

    fn remove_where(&self, mut doomed: impl FnMut(&StoredRecord) -> bool) -> u64 {
        let mut ledger = self.ledger();
        let mut removed = 0;
        for shard in &self.shards {
            write_lock(shard).retain(|slot| {
                let gone = doomed(&slot.record);
                if gone {
                    ledger.forget(slot);
                    removed += 1;
                }
                !gone
            });
        }
        self.compact_if_sparse(&mut ledger);
        removed
    }

    fn shard(&self, hash: u64) -> &Shard {
        // The high bits: hashbrown uses the low ones within a table.
        &self.shards[(hash >> (64 - SHARDS.trailing_zeros())) as usize]
    }

    fn read(&self, hash: u64) -> RwLockReadGuard<'_, HashTable<Slot>> {
        // A panic while holding a lock cannot leave a table inconsistent in
        // a way that matters for a cache, so a poisoned lock is used as is.
        self.shard(hash).0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, HashTable<Slot>> {
        write_lock(self.shard(hash))
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn write_lock(shard: &Shard) -> RwLockWriteGuard<'_, HashTable<Slot>> {
    shard.0.write().unwrap_or_else(|e| e.into_inner())
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ledger = self.ledger();
        f.debug_struct("MemoryStorage")
            .field("records", &ledger.records)
            .field("responses", &ledger.responses)
            .field("bytes", &ledger.bytes)
            .field("max_entries", &self.max_entries)
            .field("max_size", &self.max_size)
            .finish()
    }
}

/// Builds a [`MemoryStorage`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStorageBuilder {
    max_entries: Option<usize>,
    max_size: Option<u64>,
}

impl MemoryStorageBuilder {
    /// At most this many entries (default [`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = Some(max);
        self
    }

    /// At most this many bytes in all, by [`StoredRecord::size`]
    /// (a response's body, headers and URLs; default [`DEFAULT_MAX_SIZE`]).
    /// The same name as every storage's size bound.
    pub fn max_size(mut self, max: u64) -> Self {
        self.max_size = Some(max);
        self
    }

    /// No bound on the number of entries.
    pub fn unbounded_entries(mut self) -> Self {
        self.max_entries = None;
        self
    }

    /// No bound on the total size.
    pub fn unbounded_size(mut self) -> Self {
        self.max_size = None;
        self
    }

    /// The storage.
    pub fn build(self) -> MemoryStorage {
        MemoryStorage {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::new())))
                .collect(),
            hasher: DefaultHashBuilder::default(),
            tick: Tick(AtomicU64::new(0)),
            ledger: Mutex::new(Ledger {
                ring: VecDeque::new(),
                next_id: 0,
                records: 0,
                bytes: 0,
                responses: 0,
                evictions: 0,
                groups: HashMap::new(),
            }),
            max_entries: self.max_entries,
            max_size: self.max_size,
        }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        Ok(self.live(key, now))
    }

    /// Both records in one call. They may sit in two shards, read one after
    /// the other: a write between the two reads can pair a vary index with
    /// a variant newer or older than it, which the engine treats as it does
    /// any other backend's (a variant that does not fit is a miss).
    async fn get_chain(
        &self,
        key: &str,
        now: SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        let Some(record) = self.live(key, now) else {
            return Ok(None);
        };
        let next = next(&record).map(|next| {
            let found = self.live(&next, now);
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

    /// From the index: as many steps as the group has keys.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.group_members(group))
    }

    async fn delete_group(&self, group: &str) -> Result<u64, StorageError> {
        Ok(self.remove_group_now(group))
    }

    async fn clear(&self) -> Result<(), StorageError> {
        self.clear_now();
        Ok(())
    }

    async fn len(&self) -> Result<u64, StorageError> {
        Ok(self.ledger().responses)
    }

    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let mut entries = Vec::new();
        for shard in &self.shards {
            let table = shard.0.read().unwrap_or_else(|e| e.into_inner());
            entries.extend(table.iter().map(|slot| slot.record.info(&slot.key)));
        }
        Ok(entries)
    }

    async fn size(&self) -> Result<u64, StorageError> {
        Ok(self.ledger().bytes)
    }

    /// Exact: the ledger's sum of [`StoredRecord::size`], the bound, and
    /// the evictions since the storage was built.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        let ledger = self.ledger();
        Ok(StorageUsage::new(
            ledger.bytes,
            self.max_size,
            ledger.evictions,
        ))
    }

    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        Ok(self.remove_where(|record| record.is_expired(now) || record.is_past_retention(now)))
    }

    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        let hash = self.hasher.hash_one(key);
        Ok(self
            .read(hash)
            .find(hash, |s| *s.key == *key)
            .is_some_and(|slot| !slot.is_gone(now)))
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
    async fn eviction_spares_the_entry_just_stored_and_then_the_ones_read() {
        let one = entry(1000).size();
        let storage = MemoryStorage::builder().max_size(3 * one).build();
        // Two records, each read after a later write: both are queued again
        // before the new one comes up, yet the new one stays.
        storage.put("a", entry(1000)).await.unwrap();
        storage.put("b", entry(1000)).await.unwrap();
        storage.put("x", entry(1000)).await.unwrap();
        storage.delete("x").await.unwrap();
        assert!(storage.get("a", UNIX_EPOCH).await.unwrap().is_some());
        assert!(storage.get("b", UNIX_EPOCH).await.unwrap().is_some());
        let big = entry(1500);
        assert!(big.size() > one && big.size() < 2 * one);
        storage.put("c", big.clone()).await.unwrap();
        assert!(storage.contains("c", UNIX_EPOCH).await.unwrap());
        // "a" was read before "b": it goes, and only it.
        assert!(!storage.contains("a", UNIX_EPOCH).await.unwrap());
        assert!(storage.contains("b", UNIX_EPOCH).await.unwrap());
        assert_eq!(storage.size().await.unwrap(), one + big.size());
    }

    #[tokio::test]
    async fn a_read_record_outlives_ones_stored_after_it_but_never_read() {
        let storage = MemoryStorage::builder().max_entries(3).build();
        for key in ["hot", "b", "c"] {
            storage.put(key, entry(1)).await.unwrap();
        }
        for key in ["d", "e", "f", "g"] {
            assert!(storage.get("hot", UNIX_EPOCH).await.unwrap().is_some());
            storage.put(key, entry(1)).await.unwrap();
        }
        assert!(storage.contains("hot", UNIX_EPOCH).await.unwrap());
        assert!(storage.contains("g", UNIX_EPOCH).await.unwrap());
        assert_eq!(storage.len().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn places_left_by_deletes_do_not_pile_up() {
        let storage = MemoryStorage::builder().max_entries(4).build();
        for i in 0..10_000 {
            storage.put("same", entry(1)).await.unwrap();
            storage.put(&format!("k{i}"), entry(1)).await.unwrap();
            storage.delete(&format!("k{i}")).await.unwrap();
        }
        let ring = storage.ledger().ring.len();
        assert!(ring <= 2 + SHARDS + 2, "ring of {ring} places for 1 record");
        assert_eq!(storage.len().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn expired_records_are_removed_on_read_and_counted_out() {
        let storage = MemoryStorage::new();
        let later = UNIX_EPOCH + std::time::Duration::from_secs(60);
        storage
            .put_until("a", StoredRecord::Response(entry(1)), Some(later))
            .unwrap();
        assert!(storage.get("a", UNIX_EPOCH).await.unwrap().is_some());
        assert!(storage.get("a", later).await.unwrap().is_none());
        assert_eq!(storage.len().await.unwrap(), 0);
        assert_eq!(storage.size().await.unwrap(), 0);
    }

    #[test]
    fn hits_from_many_threads_keep_the_totals_exact() {
        let storage = std::sync::Arc::new(MemoryStorage::builder().max_entries(64).build());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let storage = std::sync::Arc::clone(&storage);
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let key = format!("k{}", (i * 7 + t) % 100);
                        if i % 3 == 0 {
                            storage
                                .put_until(&key, StoredRecord::Response(entry(1)), None)
                                .unwrap();
                        } else {
                            let _ = storage.live(&key, UNIX_EPOCH);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let ledger = storage.ledger();
        let live: usize = storage.shards.iter().map(|s| write_lock(s).len()).sum();
        assert_eq!(ledger.records, live);
        assert!(live <= 64);
        assert_eq!(ledger.bytes, live as u64 * entry(1).size());
    }

    #[tokio::test]
    async fn evicts_by_total_size_and_refuses_oversized_entries() {
        let one = entry(1000).size();
        let storage = MemoryStorage::builder().max_size(one * 2 + 10).build();
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
