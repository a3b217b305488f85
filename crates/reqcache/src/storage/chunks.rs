//! Large bodies kept apart from their records, in chunks: [`ChunkStore`],
//! what a storage implements to keep them, and [`BodyRef`], how a stored
//! response names its body.
//!
//! A body written in chunks is never whole in memory: the layer writes it
//! chunk by chunk as it streams from upstream, and a hit reads it back
//! chunk by chunk (a range, only the chunks the range covers). The record
//! that names the body, a [`CachedResponse`](super::CachedResponse) whose
//! [`stored_body`](super::CachedResponse::stored_body) is set, is written
//! last, and only once the store holds every chunk: a write cut short (the
//! process killed, the body failed upstream, the store full) leaves chunks
//! that no record names, never a record with a short body. A revalidation
//! (`304`) rewrites the record alone; the chunks stay.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use super::error::StorageError;

/// The body size past which a layer writes a response body in chunks, to
/// a storage that keeps them ([`Storage::chunks`](super::Storage::chunks)):
/// 1 MiB. A smaller body is copied in memory and stored in one value with
/// its record, which one read answers.
pub const CHUNKED_FROM: usize = 1 << 20;

/// How a stored response names its body when the body is kept in chunks.
///
/// # Example
/// ```
/// use reqcache::storage::backend::BodyRef;
///
/// let body = BodyRef::new("0123abcd", 600 * 1024, 256 * 1024);
/// assert_eq!(body.chunks(), 3);
/// assert_eq!(body.chunk_len(2), 88 * 1024);
/// assert_eq!(body.chunk_of(300 * 1024), (1, 44 * 1024));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BodyRef {
    /// The body's id, unique to the write that stored it: a record
    /// rewritten with a new body names another id, so a reader of the old
    /// record never reads the new body's chunks.
    pub id: String,
    /// The body's length in bytes.
    pub len: u64,
    /// The length of every chunk but the last, which has the rest.
    pub chunk_size: u32,
}

impl BodyRef {
    /// An id no other body of any process has: the time, the process and
    /// a counter, in hex digits and dashes (so never a path).
    ///
    /// ```
    /// use reqcache::storage::backend::BodyRef;
    ///
    /// assert_ne!(BodyRef::new_id(), BodyRef::new_id());
    /// ```
    pub fn new_id() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        format!(
            "{nanos:x}-{:x}-{:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The body `id` of `len` bytes, in chunks of `chunk_size` bytes (at
    /// least 1).
    pub fn new(id: impl Into<String>, len: u64, chunk_size: u32) -> Self {
        Self {
            id: id.into(),
            len,
            chunk_size: chunk_size.max(1),
        }
    }

    /// How many chunks the body has.
    pub fn chunks(&self) -> u64 {
        self.len.div_ceil(u64::from(self.chunk_size))
    }

    /// The length chunk `index` must have.
    pub fn chunk_len(&self, index: u64) -> u64 {
        let start = index.saturating_mul(u64::from(self.chunk_size));
        self.len
            .saturating_sub(start)
            .min(u64::from(self.chunk_size))
    }

    /// The chunk that holds byte `offset`, and where in it the byte is.
    pub fn chunk_of(&self, offset: u64) -> (u64, u64) {
        let size = u64::from(self.chunk_size);
        (offset / size, offset % size)
    }
}

/// A storage that keeps response bodies apart from their records, in
/// chunks: what lets a body of any size be cached with memory that does
/// not grow with it.
///
/// # Contract
/// - [`write_chunk`](Self::write_chunk) stores chunk `index` of body `id`;
///   every chunk but the last is [`chunk_size`](Self::chunk_size) long.
///   The layer writes a body's chunks in order, then the record that
///   names it ([`Record::body`](super::backend::Record::body)).
/// - A chunk is readable by [`read_chunk`](Self::read_chunk) once its
///   write returns, before the record is written: requests that follow
///   the one that fetched a body read it while the record's write is on
///   its way.
/// - From then on the chunks belong to the record: when the record is
///   removed, evicted, swept, or replaced by one that names another body,
///   the store removes them. A record rewritten with the same body (a
///   revalidation) keeps them.
/// - The write of a record that names a body fails, and leaves nothing
///   named, when the store does not hold every chunk of it (a sweep took
///   them, or a chunk write failed unnoticed).
/// - Chunks that no record names (a write cut short) are removed by the
///   store's own sweeps once they are older than any write could take, and
///   by [`discard`](Self::discard) when the layer gives a write up.
/// - Chunks count against the store's size bound.
#[async_trait]
pub trait ChunkStore: Debug + Send + Sync + 'static {
    /// The length of the chunks this store writes.
    fn chunk_size(&self) -> u32;

    /// The store's size bound, if any: a body larger than it is not
    /// written.
    fn max_size(&self) -> Option<u64>;

    /// Stores chunk `index` of body `id`.
    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError>;

    /// Chunk `index` of body `id`; `None` when the store does not have it.
    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError>;

    /// Removes the chunks of body `id`, whose record was never written.
    async fn discard(&self, id: &str) -> Result<(), StorageError>;
}
