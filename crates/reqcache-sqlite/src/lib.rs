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
//! status, size, created, expires, retain-until, the record's kind: 0 a
//! response, 1 an alias, 2 a vary index, and its access stamp) in columns,
//! and the encoded record in a BLOB, the last column; beside it,
//! `responses_counters` holds the evictions made. Listing, counting (responses: `kind = 0`),
//! `remove_expired` and `delete_url` read only the metadata columns, with
//! indexes on the expiry and URL columns. Entries past their retention are
//! filtered out on read, and a sweeper on the Tokio runtime deletes them
//! every 10 minutes ([`SqliteStorageBuilder::sweep_interval`],
//! [`SqliteStorage::sweep`]), in transactions of at most 10,000 rows;
//! SQLite reuses the pages they leave, so a cache whose entries expire
//! stops growing. A table from before the `kind` or `accessed` columns
//! gets them when opened (its rows are responses, without access stamps).
//!
//! # Size bound
//! The database's pages in use stay within
//! [`max_size`](SqliteStorageBuilder::max_size) (1 GiB by default): the
//! writer's transaction that passes it deletes rows past retention, then
//! the least recently read, before it commits, so every process writing
//! the file keeps the bound. A read restamps its row when the stamp is a
//! minute old, through the writer thread's next transaction: a hit never
//! writes. [`Storage::usage`](reqcache::storage::Storage::usage) reports
//! the bytes in use, the bound and the evictions.
//!
//! # Large bodies
//! A response body of [`LARGE_VALUE`](reqcache::storage::backend::LARGE_VALUE) bytes
//! or more (with the default codec, or a signing one) is written without a
//! copy of the whole value: the row is inserted with a `zeroblob` of the
//! value's length, which SQLite does not materialize, then the encoded head,
//! the body and the tail are written into it with incremental blob I/O, page
//! by page. A 200 MiB miss adds about 1.0× its size to the process's peak
//! memory, where writing one value added 4× (BENCHMARKS.md). In a table
//! that got its `kind` column added by `ALTER TABLE` the value is no longer
//! the last column, and SQLite fills the zeroblob in memory (one more copy);
//! a table created by this version does not.
//!
//! # Concurrency and the async executor
//! The database runs in WAL mode, so readers never wait for the writer.
//! A hit is one primary-key lookup, run inline on the calling task on a
//! read-only connection whose busy timeout is zero (the calling thread's
//! own, kept for its next read, so that reads on different runtime workers
//! share no lock of reqcache's; see
//! [`SqliteStorageBuilder::max_idle_readers`]): it takes a few
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
//! `SqliteStorage` is a [`ByteStore`](reqcache::storage::backend::ByteStore): reqcache's
//! adapter encodes entries (plain MessagePack by default; another serializer,
//! compression or signing through [`Encoded`](reqcache::storage::Encoded)),
//! and a value that does not decode (garbage, another format version) is
//! deleted and read as a miss. Every other failure is a [`StorageError`],
//! which the layer logs and turns into a miss or a skipped write.

mod bound;
mod database;
mod path;
mod storage;
mod writer;

pub use path::resolve_cache_path;
pub use reqcache::storage::backend::{DEFAULT_MAX_SIZE, DEFAULT_SWEEP_INTERVAL};
pub use storage::{
    CHUNK_SIZE, DEFAULT_MMAP_SIZE, ORPHAN_GRACE, SqliteStorage, SqliteStorageBuilder,
};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
