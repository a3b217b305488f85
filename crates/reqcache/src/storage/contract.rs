//! [`Storage`]: the contract every backend keeps.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use super::chunks::ChunkStore;
use super::entry::{CachedResponse, EntryInfo};
use super::error::StorageError;
use super::record::{RecordChain, StoredRecord};
use super::usage::StorageUsage;

/// An async, object-safe key-value store for cached responses.
///
/// `Arc<dyn Storage>` works, so a backend can be chosen at run time. Keys are
/// the strings the layer computes ([`CacheKey`](crate::key::CacheKey)); values are
/// [`StoredRecord`]s: whole [`CachedResponse`]s, shared through an [`Arc`] so
/// in-memory backends keep them decoded, and the small aliases and vary
/// indexes that lead lookups to them. [`get`](Self::get) and
/// [`put`](Self::put) are the response-only view of
/// [`get_record`](Self::get_record) and [`put_record`](Self::put_record).
///
/// # Contract
/// - [`get_record`](Self::get_record) returns expired records (the layer
///   revalidates them or serves them on error) but not records past their
///   [`retain_until`](StoredRecord::retain_until).
/// - A stored value that does not decode (garbage, a record of another format
///   version) is a miss: `get` deletes it, logs it, and returns `Ok(None)`.
/// - Listing, counting and removal work on metadata and never decode bodies
///   where the backend can avoid it. [`len`](Self::len) counts responses;
///   [`entries`](Self::entries) lists records of every kind, each with its
///   [`kind`](EntryInfo::kind).
/// - Errors are returned, never panicked; the layer turns every error into a
///   miss or a skipped write, so a broken backend never fails a request.
///
/// The conformance suite in the `reqcache-test` crate checks all of this.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use reqcache::MemoryStorage;
/// use reqcache::storage::Storage;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
/// assert_eq!(storage.len().await?, 0);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Storage: Debug + Send + Sync + 'static {
    /// The record under `key`, unless it is absent, undecodable, or past its
    /// retention at `now`.
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError>;

    /// Stores `record` under `key`, replacing what was there.
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError>;

    /// The record under `key` and, when `next` names a key from it, the
    /// record under that key: a lookup through a vary index or an alias in
    /// one call. `next` is called once, with the first record.
    ///
    /// The default makes two [`get_record`](Self::get_record) calls; a store
    /// that can read both at once overrides it (`MemoryStorage` reads both
    /// under one lock, byte stores through
    /// [`ByteStore::read_then`](super::backend::ByteStore::read_then), which SQLite
    /// answers on one connection in one read transaction).
    async fn get_chain(
        &self,
        key: &str,
        now: SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        let Some(record) = self.get_record(key, now).await? else {
            return Ok(None);
        };
        let next = match next(&record) {
            Some(key) => {
                let found = self.get_record(&key, now).await?;
                Some((key, found))
            }
            None => None,
        };
        Ok(Some(RecordChain::new(record, next)))
    }

    /// The response under `key`: as [`get_record`](Self::get_record), `None`
    /// for a record of another kind.
    async fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<CachedResponse>>, StorageError> {
        Ok(self
            .get_record(key, now)
            .await?
            .and_then(StoredRecord::into_response))
    }

    /// Stores the response `entry` under `key`, replacing what was there.
    async fn put(&self, key: &str, entry: Arc<CachedResponse>) -> Result<(), StorageError> {
        self.put_record(key, StoredRecord::Response(entry)).await
    }

    /// Deletes the record under `key`; `true` if there was one.
    async fn delete(&self, key: &str) -> Result<bool, StorageError>;

    /// Deletes every record whose stored (normalized) URL is `url`, whatever
    /// its method or kind; returns how many.
    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for info in self.entries().await? {
            if info.url == url && self.delete(&info.key).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// The keys of the responses in `group` (a
    /// [`group_id`](super::group_id)), expired ones included.
    ///
    /// The default lists every record ([`entries`](Self::entries)); a
    /// storage that indexes groups overrides it, so that the cost is the
    /// size of the group.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .entries()
            .await?
            .into_iter()
            .filter(|info| info.in_group(group))
            .map(|info| info.key)
            .collect())
    }

    /// Deletes every response in `group`; returns how many. The default
    /// deletes each of [`group_keys`](Self::group_keys).
    async fn delete_group(&self, group: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for key in self.group_keys(group).await? {
            if self.delete(&key).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes every record.
    async fn clear(&self) -> Result<(), StorageError>;

    /// How many responses are stored, expired ones included; aliases and
    /// vary indexes are not counted.
    async fn len(&self) -> Result<u64, StorageError>;

    /// `true` when nothing is stored.
    async fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.len().await? == 0)
    }

    /// The metadata of every record, responses and the aliases and vary
    /// indexes that lead to them, bodies left out.
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError>;

    /// The estimated total size of all records, in bytes.
    async fn size(&self) -> Result<u64, StorageError> {
        Ok(self.entries().await?.iter().map(|e| e.size).sum())
    }

    /// How much is kept, the size bound and the evictions it made. The
    /// default: [`size`](Self::size), no bound, no evictions.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        Ok(StorageUsage::new(self.size().await?, None, 0))
    }

    /// Deletes the records expired or past their retention at `now`; returns
    /// how many.
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError>;

    /// `true` when `get_record(key, now)` would return a record (of any
    /// kind: a vary index under a varying response's primary key counts).
    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        Ok(self.get_record(key, now).await?.is_some())
    }

    /// Where this storage keeps large bodies in chunks, if it does: the
    /// layer then writes a body past its first megabyte chunk by chunk as
    /// it streams, and answers hits on it chunk by chunk, so memory does
    /// not grow with the body. Default: `None`.
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        None
    }
}

#[async_trait]
impl<T: Storage + ?Sized> Storage for Arc<T> {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        (**self).get_record(key, now).await
    }
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        (**self).put_record(key, record).await
    }
    async fn get_chain(
        &self,
        key: &str,
        now: SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        (**self).get_chain(key, now, next).await
    }
    async fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<CachedResponse>>, StorageError> {
        (**self).get(key, now).await
    }
    async fn put(&self, key: &str, entry: Arc<CachedResponse>) -> Result<(), StorageError> {
        (**self).put(key, entry).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        (**self).delete(key).await
    }
    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        (**self).delete_url(url).await
    }
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        (**self).group_keys(group).await
    }
    async fn delete_group(&self, group: &str) -> Result<u64, StorageError> {
        (**self).delete_group(group).await
    }
    async fn clear(&self) -> Result<(), StorageError> {
        (**self).clear().await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        (**self).len().await
    }
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        (**self).entries().await
    }
    async fn size(&self) -> Result<u64, StorageError> {
        (**self).size().await
    }
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        (**self).usage().await
    }
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        (**self).remove_expired(now).await
    }
    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        (**self).contains(key, now).await
    }
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        (**self).chunks()
    }
}
