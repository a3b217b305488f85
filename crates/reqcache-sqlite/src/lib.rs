//! # reqcache-sqlite
//!
//! [`SqliteStorage`]: the default persistent storage for
//! [reqcache](https://docs.rs/reqcache), on an embedded SQLite database
//! (SQLite is compiled in through rusqlite; nothing to install).
//!
//! ```no_run
//! use reqcache::CacheLayer;
//! use reqcache_sqlite::SqliteStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! // `cache_name` is the database path: relative, absolute or `~/...`;
//! // `.sqlite` is added when it has no extension; parent folders are created.
//! let storage = SqliteStorage::open("~/.cache/my_app/http_cache").await?;
//! let layer = CacheLayer::new(storage);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! One table (`responses` by default): the key, the metadata (method, URL,
//! status, size, created, expires, retain-until) in columns, and the encoded
//! entry in a BLOB. Listing, counting, `remove_expired` and `delete_url` read
//! only the metadata columns, with indexes on the expiry and URL columns.
//! Entries past their retention are filtered out on read.
//!
//! # Concurrency and the async executor
//! The database runs in WAL mode, so readers never wait for the writer.
//! A hit is one primary-key lookup, run inline on the calling task on a
//! pooled read-only connection whose busy timeout is zero: it takes a few
//! microseconds and never waits for a lock (a database that is busy anyway
//! reads as a miss). Writes, listings and removals run on tokio's blocking
//! pool through one writing connection, whose busy timeout (default 5 s,
//! [`SqliteStorageBuilder::busy_timeout`]) covers other processes writing the
//! same file. Many tasks and several processes may share one file.
//!
//! # Why rusqlite and not sqlx
//! sqlx runs each SQLite connection on a worker thread and hands every query
//! across threads; a point read measured 50-70 µs that way, against about
//! 5 µs inline here (see BENCHMARKS.md). Both bundle the same SQLite.
//!
//! # Encoding and failures
//! `SqliteStorage` is a [`ByteStore`](reqcache::storage::ByteStore): reqcache's
//! adapter encodes entries (plain MessagePack by default; another serializer,
//! compression or signing through [`Encoded`](reqcache::storage::Encoded)),
//! and a value that does not decode (garbage, another format version) is
//! deleted and read as a miss. Every other failure is a [`StorageError`],
//! which the layer logs and turns into a miss or a skipped write.

mod path;
mod storage;

pub use path::resolve_cache_path;
pub use storage::{SqliteStorage, SqliteStorageBuilder};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
