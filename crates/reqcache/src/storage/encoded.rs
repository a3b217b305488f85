//! The adapter under every byte store: the one [`Storage`] implementation
//! of every [`ByteStore`] — the one copy of encoding, of "a value that does
//! not decode is a miss and is deleted", of retention filtering and of the
//! native deadline — and [`Encoded`], a byte store with a codec of your
//! choice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::byte_store::{ByteStore, ChainedRead, LARGE_VALUE, Record};
use super::chunks::ChunkStore;
use super::codec::Codec;
use super::contract::Storage;
use super::entry::EntryInfo;
use super::error::StorageError;
use super::record::{RecordChain, StoredRecord};
use super::serializer::ValueParts;
use super::usage::StorageUsage;

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
/// use reqcache::storage::{Codec, Serializer, Storage};
/// use reqcache::storage::Encoded;
/// # use reqcache::storage::{EntryInfo, StorageError};
/// # use reqcache::storage::backend::{ByteStore, Record};
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
    async fn read_then(
        &self,
        key: &str,
        now: SystemTime,
        then: &(dyn for<'v> Fn(&'v [u8]) -> Option<String> + Send + Sync),
    ) -> Result<Option<ChainedRead>, StorageError> {
        self.store.read_then(key, now, then).await
    }
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        self.store.write(record).await
    }
    async fn write_parts(&self, record: Record, parts: ValueParts) -> Result<(), StorageError> {
        self.store.write_parts(record, parts).await
    }
    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        self.store.remove(key).await
    }
    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        self.store.remove_url(url).await
    }
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        self.store.group_keys(group).await
    }
    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        self.store.remove_group(group).await
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
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        self.store.usage().await
    }
    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.store.purge_expired(now).await
    }
    fn expires_natively(&self) -> bool {
        self.store.expires_natively()
    }
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        self.store.chunks()
    }
    fn codec(&self) -> &Codec {
        &self.codec
    }
}

/// The record `decoded` from the value under `key`: `None` when it is past
/// its retention at `now`, or when it did not decode (then deleted, with a
/// warning: the one copy of "decode or delete").
async fn usable<B: ByteStore + ?Sized>(
    store: &B,
    key: &str,
    decoded: Result<StoredRecord, StorageError>,
    now: SystemTime,
) -> Result<Option<StoredRecord>, StorageError> {
    match decoded {
        Ok(record) if record.is_past_retention(now) => Ok(None),
        Ok(record) => Ok(Some(record)),
        Err(error) => {
            tracing::warn!(key, store = ?store, %error, "reqcache: undecodable stored entry deleted");
            store.remove(key).await?;
            Ok(None)
        }
    }
}

/// Every byte store is a [`Storage`]: values encoded with its
/// [`codec`](ByteStore::codec), metadata beside them.
#[async_trait]
impl<B: ByteStore> Storage for B {
    /// The record under `key`: decoded; or a miss, deleted with a warning,
    /// when it does not decode; or a miss when past its retention.
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        let Some(bytes) = self.read(key, now).await? else {
            return Ok(None);
        };
        usable(self, key, self.codec().decode_record(&bytes), now).await
    }

    /// Both records through [`read_then`](ByteStore::read_then): the first
    /// decoded once (for `next`, then kept), each decoded or deleted as
    /// [`get_record`](Storage::get_record) does.
    async fn get_chain(
        &self,
        key: &str,
        now: SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        let codec = self.codec();
        let first: Mutex<Option<Result<StoredRecord, StorageError>>> = Mutex::new(None);
        let then = |bytes: &[u8]| {
            let decoded = codec.decode_record(bytes);
            let named = match &decoded {
                Ok(record) if !record.is_past_retention(now) => next(record),
                _ => None,
            };
            *first.lock().unwrap_or_else(|e| e.into_inner()) = Some(decoded);
            named
        };
        let Some(read) = self.read_then(key, now, &then).await? else {
            return Ok(None);
        };
        let decoded = first
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| codec.decode_record(&read.value));
        let Some(record) = usable(self, key, decoded, now).await? else {
            return Ok(None);
        };
        let next = match read.next {
            Some((next, Some(bytes))) => {
                let found = usable(self, &next, codec.decode_record(&bytes), now).await?;
                Some((next, found))
            }
            other => other.map(|(next, _)| (next, None)),
        };
        Ok(Some(RecordChain::new(record, next)))
    }

    /// Encodes `record` and writes it with its metadata and its deadline:
    /// its retention, or for stores with native expiry and no retention,
    /// [`DEFAULT_NATIVE_RETENTION`] past its expiry.
    /// A response body of [`LARGE_VALUE`] bytes or more goes to
    /// [`write_parts`](ByteStore::write_parts) when the codec can leave it
    /// apart (see [`Codec::encode_parts`]): never copied into one value.
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        let offset = self.expires_natively().then_some(DEFAULT_NATIVE_RETENTION);
        let codec = self.codec();
        let mut write = Record {
            info: record.info(key),
            value: Vec::new(),
            deadline: record.native_expiry(offset),
            serializer: codec.serializer(),
            body: record
                .as_response()
                .and_then(|entry| entry.stored_body.clone()),
        };
        if let StoredRecord::Response(entry) = &record
            && entry.body.len() >= LARGE_VALUE
            && let Some(parts) = codec.encode_parts(entry)?
        {
            return self.write_parts(write, parts).await;
        }
        write.value = codec.encode_record(&record)?;
        self.write(write).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.remove(key).await
    }

    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        self.remove_url(url).await
    }

    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        ByteStore::group_keys(self, group).await
    }

    async fn delete_group(&self, group: &str) -> Result<u64, StorageError> {
        self.remove_group(group).await
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

    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        ByteStore::usage(self).await
    }

    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.purge_expired(now).await
    }

    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        ByteStore::chunks(self)
    }
}
