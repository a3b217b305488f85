//! The [`Storage`] trait every backend implements, and [`StorageError`].

use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::entry::{CachedResponse, EntryInfo};

/// The boxed error type carried as a [`StorageError`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An async, object-safe key-value store for cached responses.
///
/// `Arc<dyn Storage>` works, so a backend can be chosen at run time. Keys are
/// the strings the layer computes ([`CacheKey`](crate::CacheKey)); values are
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
/// use reqcache::{MemoryStorage, Storage};
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

/// What went wrong in a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// The backend could not be reached or refused the operation.
    Backend,
    /// A stored value did not decode.
    Decode,
    /// A value could not be encoded.
    Encode,
    /// The entry is larger than the backend accepts.
    TooLarge,
    /// The storage was configured wrongly (a bad path or URL).
    Config,
    /// A local I/O failure.
    Io,
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Backend => "storage backend error",
            Self::Decode => "stored value does not decode",
            Self::Encode => "value could not be encoded",
            Self::TooLarge => "entry too large for the storage",
            Self::Config => "storage configuration error",
            Self::Io => "storage I/O error",
        })
    }
}

/// A storage failure: a [`StorageErrorKind`], a message, and the driver's own
/// error as [`source`](std::error::Error::source).
///
/// # Example
/// ```
/// use reqcache::{StorageError, StorageErrorKind};
///
/// let error = StorageError::new(StorageErrorKind::Backend, "connection refused");
/// assert_eq!(error.kind(), StorageErrorKind::Backend);
/// assert_eq!(error.to_string(), "storage backend error: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StorageError {
    kind: StorageErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl StorageError {
    /// An error of `kind` with a message.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: StorageErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}
