//! Bodies kept in chunks on a MongoDB-wire server, for documents and for
//! GridFS: the shared checks with a 64 MiB body, no chunk left when a body
//! is cut short or its record goes, a record refused when its chunks are
//! not whole, and chunks taking the record's deadline.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mongodb::bson::{Document, doc};
use reqcache::storage::Storage;
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache_mongodb::MongoStorage;
use reqcache_test::chunked;

const LARGE: u64 = 64 << 20;

/// The chunks' collection beside `collection`.
fn chunks_of(collection: &mongodb::Collection<Document>) -> mongodb::Collection<Document> {
    collection
        .client()
        .database(collection.namespace().db.as_str())
        .collection(&format!("{}_chunks", collection.name()))
}

async fn chunk_count(collection: &mongodb::Collection<Document>) -> u64 {
    chunks_of(collection)
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_is_stored_in_chunks_and_streamed_back() {
    let Some((storage, ())) = support::documents().await else {
        return;
    };
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(chunk_count(storage.collection()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gridfs_too() {
    let Some((storage, ())) = support::gridfs().await else {
        return;
    };
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(chunk_count(storage.collection()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_leaves_no_record_and_no_chunk() {
    let Some((storage, ())) = support::documents().await else {
        return;
    };
    chunked::chunked_body_cut_short_is_never_stored(Arc::new(storage.clone()), 16 << 20).await;
    assert_eq!(chunk_count(storage.collection()).await, 0);
}

#[tokio::test]
async fn a_record_whose_chunks_are_not_whole_is_refused_and_chunks_take_its_deadline() {
    let Some((storage, ())) = support::documents().await else {
        return;
    };
    let storage: MongoStorage = storage;
    let chunk = bytes::Bytes::from(vec![1u8; 1000]);
    storage.write_chunk("b1", 0, chunk.clone()).await.unwrap();
    assert_eq!(
        storage.read_chunk("b1", 0).await.unwrap(),
        Some(chunk.clone())
    );
    let mut entry = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    entry.expires = Some(SystemTime::now() + Duration::from_secs(600));
    entry.stored_body = Some(BodyRef::new("b1", 2000, 1000));
    let error = storage.put("k", Arc::new(entry.clone())).await.unwrap_err();
    assert!(error.to_string().contains("not whole"), "{error}");
    assert!(storage.get("k", SystemTime::now()).await.unwrap().is_none());
    storage.write_chunk("b1", 1, chunk).await.unwrap();
    storage.put("k", Arc::new(entry)).await.unwrap();
    assert_eq!(
        storage
            .get("k", SystemTime::now())
            .await
            .unwrap()
            .unwrap()
            .body_len(),
        2000
    );
    // The record's deadline (its expiry and the hour kept past it), not
    // the hour a chunk is written with.
    let chunk = chunks_of(storage.collection())
        .find_one(doc! { "body": "b1" })
        .await
        .unwrap()
        .unwrap();
    let expires = chunk.get_datetime("expires_at").unwrap().to_system_time();
    assert!(expires > SystemTime::now() + Duration::from_secs(3600 + 500));
    // Revalidated within the hour the chunks are kept past the record:
    // the record alone is rewritten.
    let chunk_expiry = || async {
        chunks_of(storage.collection())
            .find_one(doc! { "body": "b1" })
            .await
            .unwrap()
            .unwrap()
            .get_datetime("expires_at")
            .unwrap()
            .to_system_time()
    };
    let mut later = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    later.expires = Some(SystemTime::now() + Duration::from_secs(1200));
    later.stored_body = Some(BodyRef::new("b1", 2000, 1000));
    storage.put("k", Arc::new(later.clone())).await.unwrap();
    assert_eq!(chunk_expiry().await, expires, "chunks untouched");
    // Past it: the chunks are kept longer.
    later.expires = Some(SystemTime::now() + Duration::from_secs(7200));
    storage.put("k", Arc::new(later)).await.unwrap();
    assert!(chunk_expiry().await > expires);
    storage.delete("k").await.unwrap();
    assert_eq!(chunk_count(storage.collection()).await, 0);
}
