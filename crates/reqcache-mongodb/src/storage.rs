//! [`MongoStorage`]: one document per entry.

use std::fmt;

use std::time::SystemTime;

use async_trait::async_trait;
use mongodb::Collection;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use reqcache::storage::backend::{ByteStore, Record};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

use crate::document::{self, VALUE, backend};

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
        // A document without a readable value gives no bytes: it does not
        // decode, and the adapter deletes it.
        Ok(Some(match found.get(VALUE) {
            Some(Bson::Binary(value)) => value.bytes.clone(),
            Some(Bson::Document(record)) => native_bson_record(record).unwrap_or_default(),
            _ => Vec::new(),
        }))
    }

    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let mut document = document::metadata(&record.info, record.deadline);
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
        self.collection
            .replace_one(doc! { "_id": &record.info.key }, document)
            .upsert(true)
            .await
            .map_err(backend("write failed"))?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let result = self
            .collection
            .delete_one(doc! { "_id": key })
            .await
            .map_err(backend("delete failed"))?;
        Ok(result.deleted_count > 0)
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let result = self
            .collection
            .delete_many(doc! { "url": url })
            .await
            .map_err(backend("delete failed"))?;
        Ok(result.deleted_count)
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        self.collection
            .delete_many(doc! {})
            .await
            .map_err(backend("clear failed"))?;
        Ok(())
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
        let result = self
            .collection
            .delete_many(document::expired_filter(now))
            .await
            .map_err(backend("remove_expired failed"))?;
        Ok(result.deleted_count)
    }

    fn expires_natively(&self) -> bool {
        true
    }
}
