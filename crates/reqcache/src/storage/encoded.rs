//! The adapter under every byte store: the one [`Storage`] implementation
//! of every [`ByteStore`] — the one copy of encoding, of "a value that does
//! not decode is a miss and is deleted", of retention filtering and of the
//! native deadline — and [`Encoded`], a byte store with a codec of your
//! choice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::byte_store::{ByteStore, Record};
use super::codec::Codec;
use super::contract::Storage;
use super::entry::{CachedResponse, EntryInfo};
use super::error::StorageError;

/// How long past its expiry a store with native expiry keeps an entry when
/// the layer sets no [`stale_retention`](crate::CacheLayerBuilder::stale_retention):
/// one hour (requests-cache's `ttl_offset`), long enough for revalidation
/// and `stale_if_error`.
pub const DEFAULT_NATIVE_RETENTION: Duration = Duration::from_secs(3600);

/// A [`ByteStore`] that encodes entries with a [`Codec`] of your choice
/// (serializer, compression, signing); a byte store used alone encodes
/// with its own [`codec`](ByteStore::codec), plain MessagePack by default.
///
/// # Example
/// ```
/// use reqcache::storage::{Codec, Encoded, Serializer, Storage};
/// # use reqcache::storage::{ByteStore, EntryInfo, Record, StorageError};
/// # #[derive(Debug)] struct Files;
/// # #[async_trait::async_trait] impl ByteStore for Files {
/// #   async fn read(&self, _: &str, _: std::time::SystemTime) -> Result<Option<Vec<u8>>, StorageError> { Ok(None) }
/// #   async fn write(&self, _: Record) -> Result<(), StorageError> { Ok(()) }
/// #   async fn remove(&self, _: &str) -> Result<bool, StorageError> { Ok(false) }
/// #   async fn remove_all(&self) -> Result<(), StorageError> { Ok(()) }
/// #   async fn count(&self) -> Result<u64, StorageError> { Ok(0) }
/// #   async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> { Ok(Vec::new()) }
/// #   async fn purge_expired(&self, _: std::time::SystemTime) -> Result<u64, StorageError> { Ok(0) }
/// # }
///
/// // Human-readable files: JSON instead of MessagePack.
/// let storage = Encoded::new(Files, Codec::new(Serializer::Json));
/// assert_eq!(storage.codec().serializer(), Serializer::Json);
/// let _: &dyn Storage = &storage;
/// ```
#[derive(Debug, Clone)]
pub struct Encoded<B> {
    store: B,
    codec: Codec,
}

impl<B> Encoded<B> {
    /// `store`, encoding with `codec`.
    pub fn new(store: B, codec: impl Into<Codec>) -> Self {
        Self {
            store,
            codec: codec.into(),
        }
    }

    /// The byte store.
    pub fn store(&self) -> &B {
        &self.store
    }

    /// The byte store, unwrapped.
    pub fn into_store(self) -> B {
        self.store
    }
}

/// The store's own operations, with this codec.
#[async_trait]
impl<B: ByteStore> ByteStore for Encoded<B> {
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.read(key, now).await
    }
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        self.store.write(record).await
    }
    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        self.store.remove(key).await
    }
    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        self.store.remove_url(url).await
    }
    async fn remove_all(&self) -> Result<(), StorageError> {
        self.store.remove_all().await
    }
    async fn count(&self) -> Result<u64, StorageError> {
        self.store.count().await
    }
    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.store.list().await
    }
    async fn total_size(&self) -> Result<u64, StorageError> {
        self.store.total_size().await
    }
    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.store.purge_expired(now).await
    }
    fn expires_natively(&self) -> bool {
        self.store.expires_natively()
    }
    fn codec(&self) -> &Codec {
        &self.codec
    }
}

/// Every byte store is a [`Storage`]: values encoded with its
/// [`codec`](ByteStore::codec), metadata beside them.
#[async_trait]
impl<B: ByteStore> Storage for B {
    /// The entry under `key`: decoded; or a miss, deleted with a warning,
    /// when it does not decode; or a miss when past its retention.
    async fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<CachedResponse>>, StorageError> {
        let Some(bytes) = self.read(key, now).await? else {
            return Ok(None);
        };
        match self.codec().decode(&bytes) {
            Ok(entry) if entry.is_past_retention(now) => Ok(None),
            Ok(entry) => Ok(Some(Arc::new(entry))),
            Err(error) => {
                tracing::warn!(key, store = ?self, %error, "reqcache: undecodable stored entry deleted");
                self.remove(key).await?;
                Ok(None)
            }
        }
    }

    /// Encodes `entry` and writes it with its metadata and its deadline:
    /// its retention, or for stores with native expiry and no retention,
    /// [`DEFAULT_NATIVE_RETENTION`] past its expiry.
    async fn put(&self, key: &str, entry: Arc<CachedResponse>) -> Result<(), StorageError> {
        let offset = self.expires_natively().then_some(DEFAULT_NATIVE_RETENTION);
        let codec = self.codec();
        self.write(Record {
            info: entry.info(key),
            value: codec.encode(&entry)?,
            deadline: entry.native_expiry(offset),
            serializer: codec.serializer(),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.remove(key).await
    }

    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        self.remove_url(url).await
    }

    async fn clear(&self) -> Result<(), StorageError> {
        self.remove_all().await
    }

    async fn len(&self) -> Result<u64, StorageError> {
        self.count().await
    }

    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.list().await
    }

    async fn size(&self) -> Result<u64, StorageError> {
        self.total_size().await
    }

    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.purge_expired(now).await
    }
}
