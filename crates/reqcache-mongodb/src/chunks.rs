//! Bodies kept in chunks: a document per chunk in `{collection}_chunks`,
//! shared by [`MongoStorage`] and [`GridFsStorage`].

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc, spec::BinarySubtype};
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache::storage::{StorageError, StorageErrorKind};

use crate::document::{BODY, BODY_EXPIRES, backend};
use crate::gridfs::GridFsStorage;
use crate::storage::MongoStorage;

/// The length of the chunks of a body kept in chunks: 255 KiB, GridFS's
/// own chunk size (a document well within the 16 MiB limit).
pub const CHUNK_SIZE: u32 = 255 * 1024;

/// How long chunks whose record is not written yet are kept (their
/// `expires_at`, for the TTL index): one hour, longer than any body takes
/// to write. A write cut short leaves chunks that the TTL monitor removes
/// by then.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

impl MongoStorage {
    /// Gives `body`'s chunks a lifetime that covers the record about to
    /// be written under `key` with `deadline` (none: kept until the record
    /// goes); an error when one is missing. Returns the chunks' deadline,
    /// for the record to keep (`body_expires_at`).
    ///
    /// The chunks outlive the record by up to [`ORPHAN_GRACE`], so that a
    /// revalidation within that time rewrites the record alone: updating
    /// the chunks rewrites each chunk document on the server.
    pub(crate) async fn keep_chunks(
        &self,
        key: &str,
        body: &BodyRef,
        deadline: Option<SystemTime>,
    ) -> Result<Option<SystemTime>, StorageError> {
        let kept_until = deadline.map(|deadline| deadline + ORPHAN_GRACE);
        let previous = self
            .collection
            .find_one(doc! { "_id": key })
            .projection(doc! { BODY: 1, BODY_EXPIRES: 1 })
            .await
            .map_err(backend("read failed"))?;
        if let Some(previous) = previous
            && previous.get_str(BODY).ok() == Some(body.id.as_str())
        {
            let previous_until = previous
                .get_datetime(BODY_EXPIRES)
                .ok()
                .map(|until| until.to_system_time());
            let covered = match (deadline, previous_until) {
                (Some(deadline), Some(until)) => deadline <= until,
                // Kept with no deadline already.
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if covered {
                return Ok(previous_until);
            }
        }
        let update = match kept_until {
            Some(until) => doc! { "$set": { "expires_at": DateTime::from_system_time(until) } },
            None => doc! { "$unset": { "expires_at": "" } },
        };
        let result = self
            .chunks
            .update_many(doc! { "body": &body.id }, update)
            .await
            .map_err(backend("chunk update failed"))?;
        if result.matched_count == body.chunks() {
            return Ok(kept_until);
        }
        Err(StorageError::new(
            StorageErrorKind::Backend,
            format!(
                "body {} is not whole: {} of its {} chunks are stored",
                body.id,
                result.matched_count,
                body.chunks()
            ),
        ))
    }

    /// The bodies the documents `filter` selects keep in chunks.
    pub(crate) async fn bodies_of(&self, filter: Document) -> Result<Vec<String>, StorageError> {
        let mut filter = filter;
        filter.insert(BODY, doc! { "$exists": true });
        let mut cursor = self
            .collection
            .find(filter)
            .projection(doc! { BODY: 1 })
            .await
            .map_err(backend("delete failed"))?;
        let mut bodies = Vec::new();
        while cursor.advance().await.map_err(backend("delete failed"))? {
            let document: Document = cursor
                .deserialize_current()
                .map_err(backend("delete failed"))?;
            if let Ok(body) = document.get_str(BODY) {
                bodies.push(body.to_owned());
            }
        }
        Ok(bodies)
    }

    /// Deletes the chunks of `bodies`.
    pub(crate) async fn drop_bodies(&self, bodies: Vec<String>) -> Result<(), StorageError> {
        if bodies.is_empty() {
            return Ok(());
        }
        self.chunks
            .delete_many(doc! { "body": { "$in": bodies } })
            .await
            .map(drop)
            .map_err(backend("chunk delete failed"))
    }
}

/// Bodies past [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)
/// bytes are kept in `{collection}_chunks`, a document per chunk of
/// [`CHUNK_SIZE`], under the collection's TTL index: written to expire
/// after [`ORPHAN_GRACE`], they take their record's deadline when the
/// record is written (again with each revalidation), which is refused
/// unless every chunk is there. They are deleted with their record, and
/// when a new body replaces them; the record counts the body's bytes
/// against the bound.
#[async_trait]
impl ChunkStore for MongoStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        MongoStorage::max_size(self)
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        let expires = SystemTime::now() + ORPHAN_GRACE;
        let document = doc! {
            "_id": format!("{id}:{index}"),
            "body": id,
            "idx": i64::try_from(index).unwrap_or(i64::MAX),
            "data": Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() }),
            "expires_at": DateTime::from_system_time(expires),
        };
        self.chunks
            .replace_one(doc! { "_id": format!("{id}:{index}") }, document)
            .upsert(true)
            .await
            .map(drop)
            .map_err(backend("chunk write failed"))
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let found = self
            .chunks
            .find_one(doc! { "_id": format!("{id}:{index}") })
            .await
            .map_err(backend("chunk read failed"))?;
        Ok(found.and_then(|document| match document.get("data") {
            Some(Bson::Binary(data)) => Some(Bytes::from(data.bytes.clone())),
            _ => None,
        }))
    }

    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        self.drop_bodies(vec![id.to_owned()]).await
    }
}

/// As [`MongoStorage`]'s, in the metadata collection's chunks.
#[async_trait]
impl ChunkStore for GridFsStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        GridFsStorage::max_size(self)
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        self.metadata().write_chunk(id, index, data).await
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        self.metadata().read_chunk(id, index).await
    }

    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        self.metadata().discard(id).await
    }
}
