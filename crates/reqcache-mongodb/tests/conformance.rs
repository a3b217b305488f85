//! The storage conformance suite on a real MongoDB-wire-protocol server, for
//! documents and for GridFS.

mod support;

use std::sync::Arc;

use mongodb::bson::{Binary, doc, spec::BinarySubtype};
use reqcache::storage::Encoded;
use reqcache::storage::Storage;
use reqcache_mongodb::{GridFsStorage, MongoStorage};
use support::{bson_documents, documents, gridfs};

/// Stores a real entry through `storage`, then overwrites its value.
async fn write_raw_value(storage: &dyn Storage, mongo: &MongoStorage, key: &str, bytes: Vec<u8>) {
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    storage.put(key, Arc::new(entry)).await.unwrap();
    let value = Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    };
    mongo
        .collection()
        .update_one(doc! { "_id": key }, doc! { "$set": { "value": value } })
        .await
        .unwrap();
}

async fn write_raw_document((storage, ()): &(MongoStorage, ()), key: &str, bytes: Vec<u8>) {
    write_raw_value(storage, storage, key, bytes).await;
}

async fn write_raw_bson((storage, ()): &(Encoded<MongoStorage>, ()), key: &str, bytes: Vec<u8>) {
    write_raw_value(storage, storage.store(), key, bytes).await;
}

async fn write_raw_file((storage, ()): &(GridFsStorage, ()), key: &str, bytes: Vec<u8>) {
    use futures_util::io::AsyncWriteExt;
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    storage.put(key, Arc::new(entry)).await.unwrap();
    let mut upload = storage.bucket().open_upload_stream(key).await.unwrap();
    upload.write_all(&bytes).await.unwrap();
    upload.close().await.unwrap();
    let id = upload.id().clone();
    storage
        .collection()
        .update_one(doc! { "_id": key }, doc! { "$set": { "file_id": id } })
        .await
        .unwrap();
}

reqcache_test::conformance_tests!(documents_conformance = documents, write_raw_document);
reqcache_test::conformance_tests!(gridfs_conformance = gridfs, write_raw_file);
reqcache_test::conformance_tests!(bson_documents_conformance = bson_documents, write_raw_bson);
