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
//! # Concurrency
//! The database runs in WAL mode, so readers never wait for the writer, with a
//! busy timeout (default 5 s) for writers that meet each other. A pool of
//! connections serves many tasks at once; several processes may share one
//! file.
//!
//! # Failures
//! A value that does not decode (garbage, another format version) is deleted
//! and read as a miss. Every other failure is a [`StorageError`], which the
//! layer logs and turns into a miss or a skipped write.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod path;
mod storage;

pub use path::resolve_cache_path;
pub use storage::{SqliteStorage, SqliteStorageBuilder};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
