//! [`MongoStorage`]: one document per entry.

use std::fmt;

use std::time::SystemTime;

use async_trait::async_trait;
use mongodb::Collection;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use reqcache::storage::backend::{
    ByteStore, ChunkStore, Record, StorageUsage, counted_bytes, fits_bound,
};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

use crate::bound::{SharedBound, in_background, stamp_of};
use crate::document::{self, BODY, BYTES, VALUE, backend};

/// How a plain BSON record starts: reqcache's `RQB` magic and format version.
const BSON_RECORD_PREFIX: &[u8; 4] =
    &[b'R', b'Q', b'B', reqcache::storage::backend::FORMAT_VERSION];

/// A stored BSON document back into the bytes of a plain BSON record.
fn native_bson_record(record: &Document) -> Result<Vec<u8>, StorageError> {
    let mut bytes = BSON_RECORD_PREFIX.to_vec();
    record.to_writer(&mut bytes).map_err(|e| {
        StorageError::with_source(StorageErrorKind::Decode, "unwritable BSON record", e)
    })?;
    Ok(bytes)
}

/// A [`Storage`](reqcache::storage::Storage) in a MongoDB collection, one
/// document per entry: a [`ByteStore`] with native expiry (a TTL index),
/// encoded by reqcache's adapter (plain MessagePack, or any codec through
/// [`Encoded`](reqcache::storage::Encoded); BSON records are stored as
/// documents).
#[derive(Clone)]
pub struct MongoStorage {
    pub(crate) collection: Collection<Document>,
    /// Bodies kept in chunks (`{collection}_chunks`).
    pub(crate) chunks: Collection<Document>,
    /// The size bound, if any.
    pub(crate) bound: SharedBound,
}

impl fmt::Debug for MongoStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStorage")
            .field("namespace", &self.collection.namespace().to_string())
            .finish()
    }
}

impl MongoStorage {
    /// The collection.
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// The size bound, if any ([`max_size`](crate::MongoStorageBuilder::max_size)).
    pub fn max_size(&self) -> Option<u64> {
        self.bound.as_ref().map(|bound| bound.max_size)
    }

    /// Brings the collection within its bound now (what the task a write
    /// that passes it starts does); returns how many documents went (0
    /// without a bound).
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`] when the server fails.
    pub async fn evict(&self) -> Result<u64, StorageError> {
        let Some(bound) = &self.bound else {
            return Ok(0);
        };
        bound
            .evict_over(&self.collection, |keys| self.delete_keys(keys))
            .await
    }

    /// Deletes the documents of `keys`, and their bodies' chunks; how many.
    async fn delete_keys(&self, keys: Vec<Bson>) -> Result<u64, StorageError> {
        self.delete_with_bodies(doc! { "_id": { "$in": keys } })
            .await
    }

    /// Deletes the documents `filter` selects, and their bodies' chunks;
    /// how many.
    pub(crate) async fn delete_with_bodies(&self, filter: Document) -> Result<u64, StorageError> {
        let bodies = self.bodies_of(filter.clone()).await?;
        let result = self
            .collection
            .delete_many(filter)
            .await
            .map_err(backend("delete failed"))?;
        self.drop_bodies(bodies).await?;
        Ok(result.deleted_count)
    }

    /// After a read of `found` under `key` at `now`: leaves an access stamp
    /// when its own is a minute old, written by a task.
    pub(crate) fn stamp_read(&self, key: &str, found: &Document, now: SystemTime) {
        if let Some(bound) = &self.bound
            && bound.stamps.note(key, stamp_of(found), now)
        {
            let (bound, collection) = (bound.clone(), self.collection.clone());
            in_background("writing access stamps", async move {
                bound.write_stamps(&collection).await
            });
        }
    }

    /// After a write that replaced `previous` (if any) with a document of
    /// `bytes`: adds the difference to the usage, and starts the eviction
    /// task with `evict` when the bound is passed.
    pub(crate) async fn account_write<E, F>(
        &self,
        previous: Option<&Document>,
        bytes: i64,
        evict: E,
    ) -> Result<(), StorageError>
    where
        E: Fn() -> F + Send + 'static,
        F: std::future::Future<Output = Result<u64, StorageError>> + Send + 'static,
    {
        let Some(bound) = &self.bound else {
            return Ok(());
        };
        let before = previous.and_then(|d| d.get_i64(BYTES).ok()).unwrap_or(0);
        let now = bound.add(bytes - before).await?;
        if bound.claim_eviction(now) {
            let bound = bound.clone();
            in_background("eviction", async move {
                loop {
                    let seen = bound.eviction_requests();
                    let result = evict().await;
                    if let Err(error) = result {
                        tracing::warn!(%error, "reqcache-mongodb: eviction failed");
                    }
                    if bound.eviction_done(seen) {
                        return Ok(());
                    }
                }
            });
        }
        Ok(())
    }

    /// After removals the usage does not know the size of: counts afresh.
    pub(crate) async fn recount(&self) -> Result<(), StorageError> {
        match &self.bound {
            Some(bound) => bound.recount(&self.collection).await.map(drop),
            None => Ok(()),
        }
    }

    /// The usage document's bytes and evictions, with the bound.
    pub(crate) async fn bound_usage(&self) -> Result<Option<StorageUsage>, StorageError> {
        let Some(bound) = &self.bound else {
            return Ok(None);
        };
        let (bytes, evictions) = bound.read().await?;
        Ok(Some(StorageUsage::new(
            bytes,
            Some(bound.max_size),
            evictions,
        )))
    }

    /// The keys of the documents `filter` selects.
    pub(crate) async fn keys_matching(
        &self,
        filter: Document,
    ) -> Result<Vec<String>, StorageError> {
        let mut cursor = self
            .collection
            .find(filter)
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend("lookup failed"))?;
        let mut keys = Vec::new();
        while cursor.advance().await.map_err(backend("lookup failed"))? {
            let found = cursor
                .deserialize_current()
                .map_err(backend("lookup failed"))?;
            if let Ok(key) = found.get_str("_id") {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    pub(crate) async fn metadata_entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let mut cursor = self
            .collection
            .find(doc! {})
            .projection(document::metadata_projection())
            .await
            .map_err(backend("listing failed"))?;
        let mut entries = Vec::new();
        while cursor.advance().await.map_err(backend("listing failed"))? {
            let raw = cursor
                .deserialize_current()
                .map_err(backend("listing failed"))?;
            match document::info(&raw) {
                Some(info) => entries.push(info),
                None => tracing::warn!("reqcache-mongodb: document with invalid metadata skipped"),
            }
        }
        Ok(entries)
    }
}

#[async_trait]
impl ByteStore for MongoStorage {
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(found) = self
            .collection
            .find_one(doc! { "_id": key })
            .await
            .map_err(backend("read failed"))?
        else {
            return Ok(None);
        };
        if document::past_retention(&found, now) {
            return Ok(None);
        }
        self.stamp_read(key, &found, now);
        // A document without a readable value gives no bytes: it does not
        // decode, and the adapter deletes it.
        Ok(Some(match found.get(VALUE) {
            Some(Bson::Binary(value)) => value.bytes.clone(),
            Some(Bson::Document(record)) => native_bson_record(record).unwrap_or_default(),
            _ => Vec::new(),
        }))
    }

    /// A record that names a body kept in chunks gives the chunks its
    /// deadline first, and is refused unless every chunk is there; it
    /// counts the body's bytes. The chunks of a body it replaces go.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let body_len = record.body.as_ref().map_or(0, |body| body.len);
        let counted = counted_bytes(
            record.value.len(),
            record.info.key.len(),
            record.info.url.len(),
        )
        .saturating_add(i64::try_from(body_len).unwrap_or(i64::MAX));
        fits_bound(counted as u64, self.max_size(), "the collection")?;
        let mut document = document::metadata(&record.info, record.deadline, counted);
        if let Some(body) = &record.body {
            let kept = self
                .keep_chunks(&record.info.key, body, record.deadline)
                .await?;
            document::name_body(&mut document, body, kept);
        }
        let bytes = record.value;
        // A plain BSON record (the BSON serializer, without compression or
        // signing) is stored as a document, queryable with Mongo tools.
        let value = match bytes.strip_prefix(BSON_RECORD_PREFIX) {
            Some(record) => match Document::from_reader(record) {
                Ok(record) => Bson::Document(record),
                Err(_) => Bson::Binary(Binary {
                    subtype: BinarySubtype::Generic,
                    bytes,
                }),
            },
            None => Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes,
            }),
        };
        document.insert(VALUE, value);
        let previous = self
            .collection
            .find_one_and_replace(doc! { "_id": &record.info.key }, document)
            .upsert(true)
            .projection(doc! { BYTES: 1, BODY: 1 })
            .await
            .map_err(backend("write failed"))?;
        if let Some(old) = previous.as_ref().and_then(|p| p.get_str(BODY).ok())
            && record.body.as_ref().is_none_or(|body| body.id != old)
        {
            self.drop_bodies(vec![old.to_owned()]).await?;
        }
        let this = self.clone();
        self.account_write(previous.as_ref(), counted, move || {
            let this = this.clone();
            async move { this.evict().await }
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let removed = self
            .collection
            .find_one_and_delete(doc! { "_id": key })
            .projection(doc! { BYTES: 1, BODY: 1 })
            .await
            .map_err(backend("delete failed"))?;
        if let Some(body) = removed.as_ref().and_then(|r| r.get_str(BODY).ok()) {
            self.drop_bodies(vec![body.to_owned()]).await?;
        }
        if let (Some(bound), Some(removed)) = (&self.bound, &removed) {
            bound.add(-removed.get_i64(BYTES).unwrap_or(0)).await?;
        }
        Ok(removed.is_some())
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let deleted = self.delete_with_bodies(doc! { "url": url }).await?;
        if deleted > 0 {
            self.recount().await?;
        }
        Ok(deleted)
    }

    /// One query on the multikey index of `groups`.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        self.keys_matching(document::group_filter(group)).await
    }

    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let deleted = self
            .delete_with_bodies(document::group_filter(group))
            .await?;
        if deleted > 0 {
            self.recount().await?;
        }
        Ok(deleted)
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        self.collection
            .delete_many(doc! {})
            .await
            .map_err(backend("clear failed"))?;
        // Chunks of bodies still being written, or given up, too.
        self.chunks
            .delete_many(doc! {})
            .await
            .map_err(backend("clear failed"))?;
        self.recount().await
    }

    async fn count(&self) -> Result<u64, StorageError> {
        self.collection
            .count_documents(document::responses_filter())
            .await
            .map_err(backend("count failed"))
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.metadata_entries().await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let deleted = self
            .delete_with_bodies(document::expired_filter(now))
            .await?;
        if deleted > 0 {
            self.recount().await?;
        }
        Ok(deleted)
    }

    /// With a bound: the usage document's bytes (each document's value, key
    /// and URL and 64 bytes; recounted when it says the bound is passed,
    /// since the TTL monitor deletes behind its back), the bound and every
    /// process's evictions.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        match self.bound_usage().await? {
            Some(usage) => Ok(usage),
            None => Ok(StorageUsage::new(self.total_size().await?, None, 0)),
        }
    }

    fn expires_natively(&self) -> bool {
        true
    }

    fn chunks(&self) -> Option<std::sync::Arc<dyn ChunkStore>> {
        Some(std::sync::Arc::new(self.clone()))
    }
}
