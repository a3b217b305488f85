//! [`StorageUsage`]: how much a storage keeps, against its size bound.

use super::error::{StorageError, StorageErrorKind};

/// How much a storage keeps, its size bound, and how many entries the
/// bound has evicted: what [`Storage::usage`](super::Storage::usage)
/// returns, and what `reqcache stats` and the proxy's `/metrics` show.
///
/// Each storage counts `bytes` its own way, and says how in its docs:
/// [`MemoryStorage`](super::MemoryStorage) sums
/// [`CachedResponse::size`](super::CachedResponse::size) (headers
/// included); SQLite counts the database pages in use; files count the
/// length of every file an entry has. A storage without a bound of its own
/// (Redis, DynamoDB: the server's memory policy or TTL bounds them) has no
/// `max_size`.
///
/// # Example
/// ```
/// use reqcache::MemoryStorage;
/// use reqcache::storage::Storage;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = MemoryStorage::builder().max_size(1 << 20).build();
/// let usage = storage.usage().await?;
/// assert_eq!((usage.bytes, usage.max_size, usage.evictions), (0, Some(1 << 20), 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StorageUsage {
    /// What is kept, in bytes, as this storage counts them.
    pub bytes: u64,
    /// The size bound, if the storage has one.
    pub max_size: Option<u64>,
    /// How many entries the bound has evicted: since the storage was
    /// created where the count is stored with the data (SQLite, files),
    /// else since this process opened it.
    pub evictions: u64,
}

impl StorageUsage {
    /// `bytes` kept, under `max_size`, after `evictions`.
    pub fn new(bytes: u64, max_size: Option<u64>, evictions: u64) -> Self {
        Self {
            bytes,
            max_size,
            evictions,
        }
    }
}

/// The default size bound of the storages that keep entries on disk or on
/// a server (SQLite, files, PostgreSQL, MongoDB and GridFS): 1 GiB.
/// Squid's default cache is 100 MB and Traffic Server's 256 MB; a gigabyte
/// holds a busy service's working set and fits any disk it runs on. Set
/// each storage's `max_size` to the space you give it.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// The bytes an entry counts for against the bound of a storage that sums
/// them itself (PostgreSQL, MongoDB): its encoded value, its key and URL,
/// and 64 bytes for its other fields, as an `i64` for the server's column.
///
/// ```
/// assert_eq!(reqcache::storage::backend::counted_bytes(1000, 10, 30), 1104);
/// ```
pub fn counted_bytes(value: usize, key: usize, url: usize) -> i64 {
    i64::try_from(value + key + url + 64).unwrap_or(i64::MAX)
}

/// `Ok` when an entry of `len` bytes fits `max_size`; else the
/// [`TooLarge`](super::StorageErrorKind::TooLarge) error every bounded
/// storage refuses it with (the layer then answers uncached), naming
/// `storage` ("the SQLite storage", "the table").
///
/// ```
/// use reqcache::storage::backend::fits_bound;
///
/// assert!(fits_bound(10, Some(100), "the folder").is_ok());
/// assert!(fits_bound(10, None, "the folder").is_ok());
/// let error = fits_bound(200, Some(100), "the folder").unwrap_err();
/// assert_eq!(error.to_string(), "entry too large for the storage: entry of 200 bytes exceeds the folder's bound of 100");
/// ```
pub fn fits_bound(len: u64, max_size: Option<u64>, storage: &str) -> Result<(), StorageError> {
    match max_size.filter(|max| len > *max) {
        Some(max) => Err(StorageError::new(
            StorageErrorKind::TooLarge,
            format!("entry of {len} bytes exceeds {storage}'s bound of {max}"),
        )),
        None => Ok(()),
    }
}
