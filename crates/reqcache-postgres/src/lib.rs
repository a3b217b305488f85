//! # reqcache-postgres
//!
//! [`PostgresStorage`]: a cache in a PostgreSQL table, on a sqlx pool, for
//! [reqcache](https://docs.rs/reqcache): one cache for every process and
//! machine that reaches a database most services already run.
//!
//! ```no_run
//! use std::time::Duration;
//! use reqcache::CacheLayer;
//! use reqcache_postgres::PostgresStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! let storage = PostgresStorage::builder("postgres://cache:secret@127.0.0.1:5432/app")
//!     .table("my_api_cache") // requests-cache's cache_name
//!     .open()
//!     .await?;
//! let layer = CacheLayer::builder(storage)
//!     .stale_retention(Duration::from_secs(86_400))
//!     .build();
//! # Ok(()) }
//! ```
//!
//! # Layout
//! One table per cache, created with its indexes when missing (under an
//! advisory lock, so processes starting together do not race):
//!
//! | column | type | holds |
//! |---|---|---|
//! | `key` | `TEXT PRIMARY KEY` | the cache key |
//! | `method`, `url`, `status`, `size` | `TEXT`, `TEXT`, `SMALLINT`, `BIGINT` | metadata for listings and URL invalidation |
//! | `created_at`, `expires`, `retain_until`, `deadline` | `BIGINT` | Unix times in nanoseconds; `NULL`: never |
//! | `value` | `BYTEA` | the encoded record |
//! | `kind` | `SMALLINT` | 0 a response, 1 an alias, 2 a vary index ([`RecordKind`](reqcache::storage::backend::RecordKind)); `len` counts 0 |
//! | `accessed` | `BIGINT` | the last read, to the minute (the write's time at first) |
//! | `bytes` | `BIGINT` | what the row counts for against the size bound |
//!
//! Indexes: `url` (`delete_url`, and so the invalidation unsafe requests
//! cause), `expires` and `deadline` (partial, for expiry), `accessed`
//! (eviction). Beside the table, `{table}_usage` holds one row: the bytes
//! of every row, kept by statement triggers on the table, and the
//! evictions made. A table an older version created gets the new columns,
//! the ledger and the triggers when opened. A point read is
//! one primary-key lookup; listing, counting and removals never load a
//! value. A table that exists with other columns is refused with a
//! [`Config`](reqcache::storage::StorageErrorKind::Config) error naming it.
//! For operators, times read as timestamps with
//! `to_timestamp(expires / 1e9)`.
//!
//! `UNLOGGED` tables ([`unlogged`](PostgresStorageBuilder::unlogged)) skip
//! the write-ahead log: faster writes, emptied after a crash, not on
//! replicas.
//!
//! # Expiry
//! Like Redis's TTLs, every row gets a `deadline`: its `retain_until` if the
//! layer sets one ([`stale_retention`](reqcache::CacheLayerBuilder::stale_retention)),
//! else its expiry plus
//! [`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION)
//! (one hour, so revalidation and `stale_if_error` still find it), or none
//! when it never expires. Reads leave out rows past their deadline, and a
//! background task ([`sweep_interval`](PostgresStorageBuilder::sweep_interval),
//! every 10 minutes by default) deletes them, so the table does not grow
//! without bound. Listing and `len` count rows until they are swept.
//!
//! # Size bound
//! The rows' bytes stay within
//! [`max_size`](PostgresStorageBuilder::max_size) (1 GiB by default): a
//! write that passes it starts a task that deletes rows past their
//! deadline first, then the least recently read, one process at a time.
//! Reads stamp their rows to the minute through a task of their own, so a
//! hit never waits for a write.
//! [`Storage::usage`](reqcache::storage::Storage::usage) reports the
//! bytes, the bound and the evictions.
//!
//! # Failures
//! Every error is returned as a [`StorageError`] and the layer answers from
//! upstream: a down or hung server never fails a request, and the layer's
//! read and write timeouts bound how long one waits. Connections come from
//! the pool, which reconnects by itself; an operation waits at most
//! [`acquire_timeout`](PostgresStorageBuilder::acquire_timeout) for one.
//! [`open_lazily`](PostgresStorageBuilder::open_lazily) starts while the
//! server is down. A value that does not decode is deleted and read as a
//! miss. Messages name the server as `postgres://user@host:port/database`,
//! never with its password.

mod bound;
mod builder;
mod bus;
mod chunks;
mod queries;
mod storage;
mod sweep;

pub use builder::{DEFAULT_TABLE, PostgresStorageBuilder};
pub use bus::{DEFAULT_CHANNEL, PostgresBus};
pub use chunks::{CHUNK_SIZE, ORPHAN_GRACE};
pub use storage::PostgresStorage;

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;

/// Re-exported so users can build a pool of their own for
/// [`PostgresStorage::from_pool`] with the same sqlx.
pub use sqlx;
