//! [`Storage`]: the contract every backend keeps.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use super::entry::{CachedResponse, EntryInfo};
use super::error::StorageError;

/// An async, object-safe key-value store for cached responses.
///
/// `Arc<dyn Storage>` works, so a backend can be chosen at run time. Keys are
/// the strings the layer computes ([`CacheKey`](crate::key::CacheKey)); values are
/// whole [`CachedResponse`]s, shared through an [`Arc`] so in-memory backends
/// keep them decoded.
///
/// # Contract
/// - [`get`](Self::get) returns expired entries (the layer revalidates them or
///   serves them on error) but not entries past their
///   [`retain_until`](CachedResponse::retain_until).
/// - A stored value that does not decode (garbage, a record of another format
///   version) is a miss: `get` deletes it, logs it, and returns `Ok(None)`.
/// - Listing, counting and removal work on metadata and never decode bodies
///   where the backend can avoid it.
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
    /// The entry under `key`, unless it is absent, undecodable, or past its
    /// retention at `now`.
    async fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<CachedResponse>>, StorageError>;

    /// Stores `entry` under `key`, replacing what was there.
    async fn put(&self, key: &str, entry: Arc<CachedResponse>) -> Result<(), StorageError>;

    /// Deletes the entry under `key`; `true` if there was one.
    async fn delete(&self, key: &str) -> Result<bool, StorageError>;

    /// Deletes every entry whose stored (normalized) URL is `url`, whatever its
    /// method; returns how many.
    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for info in self.entries().await? {
            if info.url == url && self.delete(&info.key).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes every entry.
    async fn clear(&self) -> Result<(), StorageError>;

    /// How many entries are stored, expired ones included.
    async fn len(&self) -> Result<u64, StorageError>;

    /// `true` when nothing is stored.
    async fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.len().await? == 0)
    }

    /// The metadata of every entry, bodies left out.
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError>;

    /// The estimated total size of all entries, in bytes.
    async fn size(&self) -> Result<u64, StorageError> {
        Ok(self.entries().await?.iter().map(|e| e.size).sum())
    }

    /// Deletes the entries expired or past their retention at `now`; returns
    /// how many.
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError>;

    /// `true` when `get(key, now)` would return an entry.
    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        Ok(self.get(key, now).await?.is_some())
    }
}

#[async_trait]
impl<T: Storage + ?Sized> Storage for Arc<T> {
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
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        (**self).remove_expired(now).await
    }
    async fn contains(&self, key: &str, now: SystemTime) -> Result<bool, StorageError> {
        (**self).contains(key, now).await
    }
}
