//! [`StorageUsage`]: how much a storage keeps, against its size bound.

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
