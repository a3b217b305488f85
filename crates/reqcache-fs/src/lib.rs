//! # reqcache-fs
//!
//! [`FileStorage`]: a [reqcache](https://docs.rs/reqcache) storage that keeps
//! one file per entry in a directory — with the JSON or YAML serializer, a
//! cache a person can read and edit.
//!
//! ```no_run
//! use reqcache::CacheLayer;
//! use reqcache::storage::Serializer;
//! use reqcache::storage::Encoded;
//! use reqcache_fs::FileStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! // `cache_name` is the directory: relative, absolute or `~/...`; or, with
//! // `use_cache_dir`, a folder in the platform's per-user cache directory.
//! let files = FileStorage::builder("http_cache")
//!     .use_cache_dir(true)
//!     .open()
//!     .await?;
//! // JSON files, readable and editable (MessagePack without `Encoded`).
//! let layer = CacheLayer::new(Encoded::new(files, Serializer::Json));
//! # Ok(()) }
//! ```
//!
//! # Layout
//! An entry under cache key `k` lives in `<dir>/<h>.<ext>`, where `h` is 32 hex
//! digits of a BLAKE3 hash of `k` (safe as a file name on every platform,
//! whatever the key) and `ext` the serializer's (`msgpack`, `json`, `yaml`,
//! `bson`). Beside it, `<h>.meta` holds the entry's metadata (key, method, URL,
//! status, size, times, kind) in MessagePack, so listing and
//! `remove_expired` read only those small files, never bodies. An alias or a
//! vary index (records that lead to a response, not responses) also has a
//! `<h>.kind` marker naming its kind: `len` counts `.meta` files less
//! `.kind` files, from the directory listing alone.
//!
//! `delete_url`, which the layer calls to invalidate a URL after a successful
//! `POST`, `PUT`, `PATCH` or `DELETE`, reads the URL index instead: an empty
//! marker file `<dir>/url-index/<hash of the URL>/<h>` per entry, written
//! before the entry, removed with it, and checked against the entry's
//! metadata before anything is deleted. Opening a directory written without
//! the index (by an earlier version) builds it once, from the sidecars. Do
//! not share a directory with a process of an earlier version still writing
//! to it: its entries would have no markers, and would escape invalidation
//! (they still expire as usual).
//!
//! # Atomic writes
//! Every file is written to a temporary file in the same directory, flushed
//! to disk (`fsync`), then renamed over the old one: a crash or a concurrent
//! writer leaves each entry either old or new, never torn. Temporary files
//! left by a crash are removed by `clear`, `remove_expired` and the sweeper
//! once they are an hour old.
//!
//! # Size bound
//! The length of every entry's files stays within
//! [`max_size`](FileStorageBuilder::max_size) (1 GiB by default). The
//! bytes are kept in `<dir>/.reqcache-usage`, which every process updates
//! under a file lock for each write and removal; a write that passes the
//! bound scans the folder and deletes entries past retention first, then
//! the least recently used (the entry file's modification time, which a
//! read sets again when it is a minute old), down to 90% of the bound.
//!
//! # Expiry
//! A sweeper on the Tokio runtime deletes the entries past their retention
//! every 10 minutes ([`FileStorageBuilder::sweep_interval`],
//! [`FileStorage::sweep`]), with the temporary files above; entries merely
//! expired stay for revalidation. The entry is written before its metadata, and reads use only the
//! entry, so a crash between the two can leave a listing one write behind, but
//! never serves wrong data.
//!
//! # Failures
//! A file that does not decode (garbage, an older format, a bad signature) is
//! deleted and read as a miss. Files in the directory that are not the
//! storage's own are left alone, even by `clear`.

mod bodies;
mod bound;
mod files;
mod marker_index;
mod storage;

pub use bodies::{CHUNK_SIZE, ORPHAN_GRACE};
pub use storage::{FileStorage, FileStorageBuilder};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
