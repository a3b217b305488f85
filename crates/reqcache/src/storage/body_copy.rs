//! [`portable_record`]: a record that moves (to another storage, to
//! another key, to an export) with its own copy of a body kept in chunks.

use std::sync::Arc;

use bytes::BytesMut;

use super::chunks::{BodyRef, ChunkStore};
use super::contract::Storage;
use super::entry::CachedResponse;
use super::error::{StorageError, StorageErrorKind};
use super::record::StoredRecord;

/// `record`, read from `source`, ready to be written elsewhere: a response
/// whose body `source` keeps in chunks gets a copy of the body, in
/// `destination`'s chunks under a new id (cut to its chunk size) when
/// there are any, else whole in memory. Any other record is returned as it
/// is. `None` when the body is gone or damaged in `source` (skip the
/// record).
///
/// The body is copied even within one storage: a record moved to another
/// key must not share its chunks with the one it leaves, whose removal
/// takes them.
///
/// # Errors
/// The storages' errors; a body in chunks in a `source` that keeps none.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use reqcache::MemoryStorage;
/// use reqcache::storage::{CachedRequest, CachedResponse, Storage};
/// use reqcache::storage::backend::{StoredRecord, portable_record};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let source = MemoryStorage::new();
/// let entry = CachedResponse::new(
///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::from_static(b"small"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"), std::time::UNIX_EPOCH);
/// // A body in memory moves as it is.
/// let record = StoredRecord::from(entry);
/// let moved = portable_record(&source, None, record.clone()).await?;
/// assert_eq!(moved, Some(record));
/// # Ok(()) }
/// ```
pub async fn portable_record(
    source: &dyn Storage,
    destination: Option<&dyn ChunkStore>,
    record: StoredRecord,
) -> Result<Option<StoredRecord>, StorageError> {
    let Some(entry) = record.as_response() else {
        return Ok(Some(record));
    };
    let Some(body) = entry.stored_body.clone() else {
        return Ok(Some(record));
    };
    let chunks = source.chunks().ok_or_else(|| {
        StorageError::new(
            StorageErrorKind::Config,
            format!(
                "a record names body {} in chunks, and the storage keeps none",
                body.id
            ),
        )
    })?;
    let mut copy = CachedResponse::clone(entry);
    match destination {
        Some(destination) => {
            let id = BodyRef::new_id();
            let size = destination.chunk_size().max(1) as usize;
            let mut pending = BytesMut::new();
            let mut index = 0;
            for from in 0..body.chunks() {
                let Some(chunk) = read_chunk(&*chunks, &body, from).await? else {
                    return Ok(None);
                };
                pending.extend_from_slice(&chunk);
                while pending.len() >= size {
                    let full = pending.split_to(size).freeze();
                    destination.write_chunk(&id, index, full).await?;
                    index += 1;
                }
            }
            if !pending.is_empty() {
                destination
                    .write_chunk(&id, index, pending.freeze())
                    .await?;
            }
            copy.stored_body = Some(BodyRef::new(id, body.len, size as u32));
        }
        None => {
            let mut whole = BytesMut::with_capacity(usize::try_from(body.len).unwrap_or(0));
            for from in 0..body.chunks() {
                let Some(chunk) = read_chunk(&*chunks, &body, from).await? else {
                    return Ok(None);
                };
                whole.extend_from_slice(&chunk);
            }
            copy.body = whole.freeze();
            copy.stored_body = None;
        }
    }
    Ok(Some(StoredRecord::Response(Arc::new(copy))))
}

/// Chunk `index` of `body`, when whole.
async fn read_chunk(
    chunks: &dyn ChunkStore,
    body: &BodyRef,
    index: u64,
) -> Result<Option<bytes::Bytes>, StorageError> {
    let chunk = chunks.read_chunk(&body.id, index).await?;
    let whole = chunk.filter(|chunk| chunk.len() as u64 == body.chunk_len(index));
    if whole.is_none() {
        tracing::warn!(body = %body.id, index, "reqcache: a body kept in chunks is damaged; its record is skipped");
    }
    Ok(whole)
}
