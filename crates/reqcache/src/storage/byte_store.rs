//! [`ByteStore`]: the trait of storages that keep encoded bytes beside an
//! entry's metadata (SQLite, Redis, files, DynamoDB, MongoDB, GridFS), and
//! [`Record`], what they are given to write.
//!
//! A byte store knows nothing of codecs, decoding or retention: the core's
//! adapter does that once for every byte store, so that every backend keeps
//! the [`Storage`](super::Storage) contract the same way: every type that
//! implements `ByteStore` is a `Storage`, encoding with its
//! [`codec`](ByteStore::codec) (the default: plain MessagePack);
//! [`Encoded`](super::backend::Encoded) gives any byte store another codec.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use super::chunks::{BodyRef, ChunkStore};
use super::codec::Codec;
use super::entry::EntryInfo;
use super::error::StorageError;
use super::serializer::{Serializer, ValueParts};
use super::usage::StorageUsage;

/// An encoded entry, and what a byte store keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The record's metadata (key, kind, method, URL, status, size, times),
    /// for listings, counting, URL invalidation and expiry that never decode
    /// a value.
    pub info: EntryInfo,
    /// The encoded value.
    pub value: Vec<u8>,
    /// When the store may drop the entry by itself (Redis `PXAT`, a MongoDB
    /// TTL index, DynamoDB TTL); `None`: only by removal.
    pub deadline: Option<SystemTime>,
    /// The serializer of the value (for stores that name files by format).
    pub serializer: Serializer,
    /// The body the record names, kept in chunks by the store's
    /// [`ChunkStore`]: from this write on the chunks belong to the record
    /// (see [`ChunkStore`]'s contract). `None` for every other record.
    pub body: Option<BodyRef>,
}

/// The body size from which the adapter hands a response to
/// [`ByteStore::write_parts`]: 256 KiB. Below it, one encoded value costs
/// less than the parts.
pub const LARGE_VALUE: usize = 256 * 1024;

/// What [`ByteStore::read_then`] read: a value, and the value under the key
/// `then` named from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainedRead {
    /// The value under the key asked for.
    pub value: Vec<u8>,
    /// The key `then` named, and the value under it.
    pub next: Option<(String, Option<Vec<u8>>)>,
}

impl ChainedRead {
    /// `value`, and what `then` named.
    pub fn new(value: Vec<u8>, next: Option<(String, Option<Vec<u8>>)>) -> Self {
        Self { value, next }
    }
}

/// A store of encoded entries and their metadata.
///
/// Implement it for a backend and the backend is a [`Storage`](super::Storage):
/// the adapter encodes and decodes (a value that does not decode is a miss,
/// deleted with a warning), filters entries past their retention, and sets
/// the [`deadline`](Record::deadline) of stores that
/// [`expire natively`](Self::expires_natively).
///
/// # Contract
/// - [`read`](Self::read) returns the bytes last written under `key`, or
///   `None`; it may leave out entries past their retention at `now` when the
///   store can tell cheaply (the adapter checks anyway).
/// - [`list`](Self::list), [`count`](Self::count) and the removals work on
///   metadata, never on values. The metadata keeps each record's
///   [`kind`](EntryInfo::kind): `list` returns it, `count` counts responses
///   only.
/// - Errors are returned, never panicked.
///
/// The conformance suite in the `reqcache-test` crate checks all of this
/// through the adapter.
///
/// # Example
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::SystemTime;
/// use reqcache::storage::{EntryInfo, Storage, StorageError};
/// use reqcache::storage::backend::{ByteStore, Record};
///
/// /// A byte store in a map: enough to be a `Storage`.
/// #[derive(Debug, Default)]
/// struct MapStore(Mutex<HashMap<String, Record>>);
///
/// #[async_trait::async_trait]
/// impl ByteStore for MapStore {
///     async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
///         Ok(self.0.lock().unwrap().get(key).map(|r| r.value.clone()))
///     }
///     async fn write(&self, record: Record) -> Result<(), StorageError> {
///         self.0.lock().unwrap().insert(record.info.key.clone(), record);
///         Ok(())
///     }
///     async fn remove(&self, key: &str) -> Result<bool, StorageError> {
///         Ok(self.0.lock().unwrap().remove(key).is_some())
///     }
///     async fn remove_all(&self) -> Result<(), StorageError> {
///         self.0.lock().unwrap().clear();
///         Ok(())
///     }
///     async fn count(&self) -> Result<u64, StorageError> {
///         Ok(self.0.lock().unwrap().values().filter(|r| r.info.kind.is_response()).count() as u64)
///     }
///     async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
///         Ok(self.0.lock().unwrap().values().map(|r| r.info.clone()).collect())
///     }
///     async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
///         let mut map = self.0.lock().unwrap();
///         let before = map.len();
///         map.retain(|_, r| !r.info.is_expired(now) && !r.info.is_past_retention(now));
///         Ok((before - map.len()) as u64)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let storage: &dyn Storage = &MapStore::default();
/// assert_eq!(storage.len().await.unwrap(), 0);
/// # }
/// ```
#[async_trait]
pub trait ByteStore: Debug + Send + Sync + 'static {
    /// The value written under `key`, if any.
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError>;

    /// The value under `key` and, when `then` names another key from it,
    /// the value under that key (the adapter's
    /// [`get_chain`](super::Storage::get_chain)). `then` must be called
    /// once, with the first value, whenever there is one.
    ///
    /// The default makes two [`read`](Self::read)s; a store that can read
    /// both at once (one connection, one round trip, one snapshot)
    /// overrides it.
    async fn read_then(
        &self,
        key: &str,
        now: SystemTime,
        then: &(dyn for<'v> Fn(&'v [u8]) -> Option<String> + Send + Sync),
    ) -> Result<Option<ChainedRead>, StorageError> {
        let Some(value) = self.read(key, now).await? else {
            return Ok(None);
        };
        let next = match then(&value) {
            Some(next) => {
                let found = self.read(&next, now).await?;
                Some((next, found))
            }
            None => None,
        };
        Ok(Some(ChainedRead::new(value, next)))
    }

    /// Writes `record`, replacing what was under its key.
    async fn write(&self, record: Record) -> Result<(), StorageError>;

    /// Writes `record` whose value is `parts` (its [`value`](Record::value)
    /// is left empty): what the adapter calls for a response body of
    /// [`LARGE_VALUE`] bytes or more. The default joins the parts and
    /// [`write`](Self::write)s; a store that can write the body where it
    /// goes without that copy overrides it (SQLite: incremental blob I/O).
    async fn write_parts(&self, mut record: Record, parts: ValueParts) -> Result<(), StorageError> {
        record.value = parts.to_vec();
        self.write(record).await
    }

    /// Removes the record under `key`; `true` if there was one.
    async fn remove(&self, key: &str) -> Result<bool, StorageError>;

    /// Removes every record whose (normalized) URL is `url`; returns how
    /// many. The default lists every record: override it with an index.
    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let mut removed = 0;
        for info in self.list().await? {
            if info.url == url && self.remove(&info.key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The keys of the responses in `group` (a
    /// [`group_id`](super::group_id), one of a record's
    /// [`groups`](EntryInfo::groups)). The default lists every record:
    /// override it with an index.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|info| info.in_group(group))
            .map(|info| info.key)
            .collect())
    }

    /// Removes every response in `group`; returns how many. The default
    /// removes each of [`group_keys`](Self::group_keys).
    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let mut removed = 0;
        for key in self.group_keys(group).await? {
            if self.remove(&key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes every record.
    async fn remove_all(&self) -> Result<(), StorageError>;

    /// How many responses are stored, expired ones included: records of
    /// other [kinds](EntryInfo::kind) are not counted.
    async fn count(&self) -> Result<u64, StorageError>;

    /// The metadata of every record, of every kind.
    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError>;

    /// The total stored size, in bytes (the sum of the metadata's sizes).
    async fn total_size(&self) -> Result<u64, StorageError> {
        Ok(self.list().await?.iter().map(|e| e.size).sum())
    }

    /// How much is kept, the size bound and the evictions it made
    /// ([`Storage::usage`](super::Storage::usage)). The default:
    /// [`total_size`](Self::total_size), no bound, no evictions.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        Ok(StorageUsage::new(self.total_size().await?, None, 0))
    }

    /// Removes the records expired or past their retention at `now`;
    /// returns how many.
    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError>;

    /// `true` for stores that drop entries by themselves at their
    /// [`deadline`](Record::deadline) (Redis, MongoDB, DynamoDB): they get
    /// one even when the layer sets no retention, so that expired entries
    /// do not pile up ([`DEFAULT_NATIVE_RETENTION`](super::backend::DEFAULT_NATIVE_RETENTION)
    /// past their expiry). Default: `false`.
    fn expires_natively(&self) -> bool {
        false
    }

    /// The store's [`ChunkStore`], when it keeps large bodies in chunks
    /// apart from their records. Default: `None` (bodies are part of the
    /// value, up to the layer's `max_body_size`).
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        None
    }

    /// How the adapter encodes and decodes this store's values. Default:
    /// plain MessagePack (every serializer's records are read);
    /// [`Encoded`](super::backend::Encoded) sets another.
    fn codec(&self) -> &Codec {
        Codec::plain()
    }
}
