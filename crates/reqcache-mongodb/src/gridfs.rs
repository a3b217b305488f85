//! [`GridFsStorage`]: metadata documents, values in a GridFS bucket.

use std::time::SystemTime;

use async_trait::async_trait;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use mongodb::bson::{Bson, Document, doc};
use mongodb::gridfs::GridFsBucket;
use mongodb::options::GridFsBucketOptions;
use reqcache::storage::backend::{ByteStore, Record, StorageUsage, counted_bytes, fits_bound};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

use crate::document::{self, BODY, BYTES, FILE, backend};
use crate::storage::MongoStorage;

/// A [`Storage`](reqcache::storage::Storage) for large responses (a
/// [`ByteStore`] with native expiry): the metadata documents of
/// [`MongoStorage`], and each value as a file in a GridFS bucket, so values
/// may exceed MongoDB's 16 MiB document limit. Deleting an entry deletes its
/// file and chunks; clearing drops the bucket.
///
/// Build it with [`MongoStorageBuilder::open_gridfs`](crate::MongoStorageBuilder::open_gridfs).
#[derive(Clone, Debug)]
pub struct GridFsStorage {
    metadata: MongoStorage,
    bucket: GridFsBucket,
}

impl GridFsStorage {
    pub(crate) fn new(metadata: MongoStorage, bucket_name: &str) -> Self {
        let bucket = metadata
            .collection
            .client()
            .database(metadata.collection.namespace().db.as_str())
            .gridfs_bucket(
                GridFsBucketOptions::builder()
                    .bucket_name(bucket_name.to_owned())
                    .build(),
            );
        Self { metadata, bucket }
    }

    /// Brings the collection within its bound now, deleting the files of
    /// the documents that go; returns how many went (0 without a bound).
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`] when the server fails.
    pub async fn evict(&self) -> Result<u64, StorageError> {
        let Some(bound) = &self.metadata.bound else {
            return Ok(0);
        };
        bound
            .evict_over(&self.metadata.collection, |keys| {
                self.delete_matching(doc! { "_id": { "$in": keys } })
            })
            .await
    }

    /// The size bound, if any.
    pub fn max_size(&self) -> Option<u64> {
        self.metadata.max_size()
    }

    /// The GridFS bucket.
    pub fn bucket(&self) -> &GridFsBucket {
        &self.bucket
    }

    /// The metadata collection.
    pub fn collection(&self) -> &mongodb::Collection<Document> {
        &self.metadata.collection
    }

    /// The storage of the metadata (and of bodies kept in chunks).
    pub(crate) fn metadata(&self) -> &MongoStorage {
        &self.metadata
    }

    async fn delete_file(&self, id: Bson) -> Result<(), StorageError> {
        match self.bucket.delete(id).await {
            Ok(()) => Ok(()),
            // Already gone (a concurrent delete): nothing to do.
            Err(error) if matches!(*error.kind, mongodb::error::ErrorKind::GridFs(_)) => Ok(()),
            Err(error) => Err(backend("file delete failed")(error)),
        }
    }

    async fn read_file(&self, file: Bson) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        let mut stream = self
            .bucket
            .open_download_stream(file)
            .await
            .map_err(backend("file open failed"))?;
        stream.read_to_end(&mut bytes).await.map_err(|e| {
            StorageError::with_source(StorageErrorKind::Backend, "file read failed", e)
        })?;
        Ok(bytes)
    }

    /// Deletes the documents `filter` selects and their files.
    async fn delete_matching(&self, filter: Document) -> Result<u64, StorageError> {
        let mut cursor = self
            .metadata
            .collection
            .find(filter)
            .projection(doc! { "_id": 1, FILE: 1, BYTES: 1, BODY: 1 })
            .await
            .map_err(backend("delete failed"))?;
        let mut found = Vec::new();
        while cursor.advance().await.map_err(backend("delete failed"))? {
            found.push(
                cursor
                    .deserialize_current()
                    .map_err(backend("delete failed"))?,
            );
        }
        let mut deleted = 0;
        for document in found {
            let Some(key) = document.get("_id").cloned() else {
                continue;
            };
            let result = self
                .metadata
                .collection
                .delete_one(doc! { "_id": key })
                .await
                .map_err(backend("delete failed"))?;
            deleted += result.deleted_count;
            if let Some(file) = document.get(FILE) {
                self.delete_file(file.clone()).await?;
            }
            if let Ok(body) = document.get_str(BODY) {
                self.metadata.drop_bodies(vec![body.to_owned()]).await?;
            }
        }
        Ok(deleted)
    }
}

#[async_trait]
impl ByteStore for GridFsStorage {
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        // A concurrent write may replace the document and delete the file it
        // pointed to while this reads: read the document again, a few times.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(found) = self
                .metadata
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
            // A document without a file, or whose file stays missing, gives
            // no bytes: it does not decode, and the adapter deletes it.
            let Some(file) = found.get(FILE).cloned() else {
                tracing::warn!(key, "reqcache-mongodb: GridFS document without a file");
                return Ok(Some(Vec::new()));
            };
            match self.read_file(file).await {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(_) if attempts < 3 => continue,
                Err(error) => {
                    tracing::warn!(key, %error, "reqcache-mongodb: the GridFS entry's file is missing");
                    return Ok(Some(Vec::new()));
                }
            }
        }
    }

    /// As [`MongoStorage`]'s for a record that names a body kept in
    /// chunks: its chunks take its deadline first, and it is refused
    /// unless every chunk is there.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let key = record.info.key.as_str();
        let body_len = record.body.as_ref().map_or(0, |body| body.len);
        let counted = counted_bytes(record.value.len(), key.len(), record.info.url.len())
            .saturating_add(i64::try_from(body_len).unwrap_or(i64::MAX));
        fits_bound(counted as u64, self.metadata.max_size(), "the collection")?;
        let kept = match &record.body {
            Some(body) => Some(
                self.metadata
                    .keep_chunks(key, body, record.deadline)
                    .await?,
            ),
            None => None,
        };
        let mut upload = self
            .bucket
            .open_upload_stream(key)
            .await
            .map_err(backend("upload failed"))?;
        upload.write_all(&record.value).await.map_err(|e| {
            StorageError::with_source(StorageErrorKind::Backend, "upload failed", e)
        })?;
        upload.close().await.map_err(|e| {
            StorageError::with_source(StorageErrorKind::Backend, "upload failed", e)
        })?;
        let file = upload.id().clone();
        let mut document = document::metadata(&record.info, record.deadline, counted);
        document.insert(FILE, file);
        if let (Some(body), Some(kept)) = (&record.body, kept) {
            document::name_body(&mut document, body, kept);
        }
        // Swap the document, then delete the file it pointed to before.
        let previous = self
            .metadata
            .collection
            .find_one_and_replace(doc! { "_id": key }, document)
            .upsert(true)
            .await
            .map_err(backend("write failed"))?;
        if let Some(old) = previous.as_ref().and_then(|p| p.get(FILE).cloned()) {
            self.delete_file(old).await?;
        }
        if let Some(old) = previous.as_ref().and_then(|p| p.get_str(BODY).ok())
            && record.body.as_ref().is_none_or(|body| body.id != old)
        {
            self.metadata.drop_bodies(vec![old.to_owned()]).await?;
        }
        let this = self.clone();
        self.metadata
            .account_write(previous.as_ref(), counted, move || {
                let this = this.clone();
                async move { this.evict().await }
            })
            .await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let removed = self.delete_matching(doc! { "_id": key }).await?;
        if removed > 0 {
            self.metadata.recount().await?;
        }
        Ok(removed > 0)
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let removed = self.delete_matching(doc! { "url": url }).await?;
        if removed > 0 {
            self.metadata.recount().await?;
        }
        Ok(removed)
    }

    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        self.metadata
            .keys_matching(document::group_filter(group))
            .await
    }

    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let removed = self.delete_matching(document::group_filter(group)).await?;
        if removed > 0 {
            self.metadata.recount().await?;
        }
        Ok(removed)
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        self.metadata.remove_all().await?;
        self.bucket
            .drop()
            .await
            .map_err(backend("bucket drop failed"))
    }

    /// As [`MongoStorage`]'s: the metadata documents count the values.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        self.metadata.usage().await
    }

    async fn count(&self) -> Result<u64, StorageError> {
        self.metadata.count().await
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.metadata.metadata_entries().await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let removed = self.delete_matching(document::expired_filter(now)).await?;
        if removed > 0 {
            self.metadata.recount().await?;
        }
        Ok(removed)
    }

    fn expires_natively(&self) -> bool {
        true
    }

    fn chunks(&self) -> Option<std::sync::Arc<dyn reqcache::storage::backend::ChunkStore>> {
        Some(std::sync::Arc::new(self.clone()))
    }
}
