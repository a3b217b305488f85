//! # reqcache-mongodb
//!
//! [`MongoStorage`] and [`GridFsStorage`]: [reqcache](https://docs.rs/reqcache)
//! storages on MongoDB (or a server speaking its wire protocol), with the
//! official `mongodb` driver.
//!
//! ```no_run
//! use reqcache::CacheLayer;
//! use reqcache_mongodb::MongoStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! // `cache_name` is the database.
//! let storage = MongoStorage::builder("mongodb://127.0.0.1:27017", "http_cache")
//!     .collection("responses")
//!     .open()
//!     .await?;
//! let layer = CacheLayer::new(storage);
//! # Ok(()) }
//! ```
//!
//! # Documents
//! One document per entry: the cache key as `_id`; the metadata as fields
//! (`url`, `method`, `status`, `size`, and times in nanoseconds: `created_ns`,
//! `expires_ns`, `retain_ns`; `kind`, 1 or 2, on an alias or a vary index,
//! which `len` does not count); `expires_at`, a BSON date for the TTL index
//! (the entry's retention limit, else its expiry plus
//! [`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION),
//! one hour; absent for entries that never expire); and the encoded entry as
//! `value`: binary, or, with the BSON serializer (reqcache's `bson` feature,
//! through [`Encoded`](reqcache::storage::Encoded), no compression or
//! signing), an embedded document that ordinary Mongo tools can query
//! (`{"value.status": 404}`). `open` creates, idempotently, a TTL index on
//! `expires_at` and indexes on `url`, `expires_ns` and `retain_ns`. TTL deletion runs only every minute or so, so reads filter expired
//! documents too. Listing reads the metadata fields only; `delete_url`,
//! `remove_expired` and `len` are server-side queries.
//!
//! Each document also holds `accessed` (its last read, to the minute) and
//! `bytes` (what it counts for against the size bound), indexed by
//! `accessed`.
//!
//! # Size bound
//! The documents' bytes stay within
//! [`max_size`](MongoStorageBuilder::max_size) (1 GiB by default): every
//! process adds its writes to a usage document in `{collection}_usage`; a
//! write that passes the bound starts a task that counts the collection
//! afresh and deletes documents past their deadline, then the least
//! recently read (with their GridFS files). Reads stamp their documents to
//! the minute on a task of their own.
//!
//! [`GridFsStorage`] keeps the same metadata documents, and the values in a
//! GridFS bucket, for responses larger than a document may hold (16 MiB).
//! Deleting and clearing remove the files and their chunks too.
//!
//! # Tested against SecantusDB
//! The tests run against SecantusDB 0.7.0b3 (PyPI `secantusdb`), a server
//! speaking MongoDB's wire protocol. The official driver needed no
//! work-arounds for it: indexes (TTL included), upserts, `findOneAndReplace`,
//! GridFS uploads, downloads, deletes and `drop`, and reconnection after a
//! restart all behaved as with MongoDB. One thing the tests do not show: that
//! the server enforces TTL deletion (reads filter expired entries either way),
//! or the 16 MiB document limit.
//!
//! # Failures
//! The driver reconnects by itself; server selection times out after
//! [`server_selection_timeout`](MongoStorageBuilder::server_selection_timeout)
//! (default 1 s), so a stopped server costs each request at most that before
//! the layer answers from upstream. A value that does not decode is deleted
//! and read as a miss.

mod bound;
mod builder;
mod chunks;
mod document;
mod gridfs;
mod storage;

pub use builder::MongoStorageBuilder;
pub use chunks::{CHUNK_SIZE, ORPHAN_GRACE};
pub use gridfs::GridFsStorage;
pub use storage::MongoStorage;

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
