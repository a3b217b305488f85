//! # reqcache-redis
//!
//! [`RedisStorage`]: one cache shared by every process and machine that can
//! reach a Redis server or cluster, for [reqcache](https://docs.rs/reqcache).
//!
//! ```no_run
//! use std::time::Duration;
//! use reqcache::CacheLayer;
//! use reqcache_redis::RedisStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! let storage = RedisStorage::builder("redis://127.0.0.1:6379/0")
//!     .namespace("my_api_cache") // requests-cache's cache_name
//!     .open()
//!     .await?;
//! // Expired entries stay a day for revalidation (requests-cache's ttl_offset).
//! let layer = CacheLayer::builder(storage)
//!     .stale_retention(Duration::from_secs(86_400))
//!     .build();
//! # Ok(()) }
//! ```
//!
//! # Layout
//! Every key lives under the namespace, so two caches on one server never see
//! each other's entries and [`clear`](reqcache::storage::Storage::clear) touches only
//! its own. Entries are spread over 16 buckets by the first hex digit of their
//! cache key; each bucket's keys share a hash tag, `{namespace:b}`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{ns:b}:v:<key>` | string | the encoded entry, with a Redis TTL |
//! | `{ns:b}:m` | hash | key → metadata (kind, method, URL, status, size, times) |
//! | `{ns:b}:x` | sorted set | key, scored by expiry (ms; `+inf` for never) |
//! | `{ns:b}:u:<url hash>` | set | keys stored for a URL, for `delete_url` and invalidation |
//! | `{ns:b}:ui` | set | the bucket's URL sets, for `clear` |
//! | `{ns:b}:k` | set | the bucket's keys of aliases and vary indexes (not counted by `len`) |
//!
//! A write updates the three in one `MULTI`/`EXEC`. Because a bucket's keys
//! hash to one slot, that transaction works on a cluster too, and a bucket's
//! bookkeeping moves with its slot; the 16 buckets spread one cache over up to
//! 16 slots. Listing, `len`, `clear` and `remove_expired` page through the
//! metadata hashes (`HSCAN`) and sorted sets; `delete_url` (and so the
//! invalidation that unsafe requests cause) reads the URL's sets, checking
//! each member against its metadata, so its cost does not grow with the
//! cache. Nothing uses `KEYS` or loads entry bodies. URL sets may keep members
//! of deleted entries until the next `delete_url` for that URL or `clear`.
//!
//! # Expiry
//! An entry's value gets a Redis TTL at its `retain_until` if the layer set
//! one ([`stale_retention`](reqcache::CacheLayerBuilder::stale_retention)),
//! else at its expiry plus
//! [`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION)
//! (one hour, so revalidation and `stale_if_error` still find it), or no TTL
//! at all when it never expires. Entries past their retention are also
//! filtered on read. The metadata of an entry that Redis expired lingers until
//! [`remove_expired`](reqcache::storage::Storage::remove_expired) (listing hides it
//! already; `len` counts it until then).
//!
//! # Failures
//! The connection reconnects by itself. Commands time out after
//! [`response_timeout`](RedisStorageBuilder::response_timeout) (default
//! 500 ms), so a stopped server costs each request at most that long before
//! the layer answers from upstream. A value that does not decode is deleted
//! and read as a miss.

mod bus;
mod connection;
mod layout;
mod storage;

pub use bus::{DEFAULT_CHANNEL, RedisBus};
pub use storage::{CHUNK_SIZE, ORPHAN_GRACE, RedisStorage, RedisStorageBuilder};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
