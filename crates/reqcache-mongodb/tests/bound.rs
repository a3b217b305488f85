//! The size bound on the test server, for documents and GridFS: the usage
//! document, eviction past the bound (the least recently read first), and
//! one bound for two clients.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::doc;
use reqcache::storage::{Storage, StorageErrorKind};
use reqcache_test::{sized_entry, t0, yield_until};

const KIB: u64 = 1024;

/// Stores a 16 KiB response under `key`.
async fn put(storage: &impl Storage, key: &str) {
    let entry = sized_entry(key, 16 * 1024);
    storage.put(key, Arc::new(entry)).await.unwrap();
}

/// Waits until the eviction task has brought the storage within `max`.
async fn within(storage: &impl Storage, max: u64) {
    yield_until("the collection never came within its bound", || async {
        storage.usage().await.unwrap().bytes <= max
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_counts_writes_and_removals() {
    let Some(builder) = support::bounded("usage", 1 << 30) else {
        return;
    };
    let storage = builder.open().await.unwrap();
    for i in 0..6 {
        put(&storage, &format!("k{i}")).await;
    }
    put(&storage, "k0").await; // replaced: counted once
    storage.delete("k1").await.unwrap();
    storage.delete_url("https://example.com/k2").await.unwrap();
    let usage = storage.usage().await.unwrap();
    let one = usage.bytes / 4;
    assert_eq!(usage.bytes, 4 * one, "four entries of one size: {usage:?}");
    assert!(one > 16 * KIB && one < 17 * KIB, "{usage:?}");
    assert_eq!((usage.max_size, usage.evictions), (Some(1 << 30), 0));
    storage.clear().await.unwrap();
    assert_eq!(storage.usage().await.unwrap().bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_past_the_bound_are_evicted_least_recently_read_first() {
    let Some(builder) = support::bounded("evict", 512 * KIB) else {
        return;
    };
    let storage = builder.open().await.unwrap();
    for i in 0..25 {
        put(&storage, &format!("k{i}")).await;
    }
    assert_eq!(storage.usage().await.unwrap().evictions, 0);
    // Read two minutes after they were stored: k0's stamp is written by a
    // task behind the read.
    let later = t0() + Duration::from_secs(120);
    assert!(storage.get("k0", later).await.unwrap().is_some());
    let stamp = reqcache::storage::backend::unix_time::to_unix_nanos(later);
    yield_until("the read never stamped k0", || async {
        let found = storage
            .collection()
            .find_one(doc! { "_id": "k0" })
            .await
            .unwrap()
            .unwrap();
        found.get_i64("accessed").is_ok_and(|at| at >= stamp)
    })
    .await;
    for i in 25..60 {
        put(&storage, &format!("k{i}")).await;
    }
    within(&storage, 512 * KIB).await;
    let usage = storage.usage().await.unwrap();
    assert!(usage.evictions > 0, "{usage:?}");
    assert!(storage.contains("k0", t0()).await.unwrap(), "read lately");
    assert!(!storage.contains("k1", t0()).await.unwrap(), "never read");
    assert!(storage.contains("k59", t0()).await.unwrap(), "written last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridfs_evicts_the_files_with_their_documents() {
    let Some(builder) = support::bounded("gridfs_evict", 256 * KIB) else {
        return;
    };
    let storage = builder.open_gridfs().await.unwrap();
    for i in 0..40 {
        put(&storage, &format!("k{i}")).await;
    }
    within(&storage, 256 * KIB).await;
    storage.evict().await.unwrap();
    let kept = storage.len().await.unwrap();
    assert!((5..40).contains(&kept), "{kept} kept");
    // Every file left belongs to a document left.
    let files = storage.bucket().find(doc! {}).await.unwrap();
    use futures_util::StreamExt;
    let files: Vec<_> = files.collect().await;
    assert_eq!(files.len() as u64, kept);
    assert!(storage.contains("k39", t0()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_on_one_collection_keep_one_bound() {
    let Some(builder) = support::bounded("shared", 512 * KIB) else {
        return;
    };
    let a = builder.open().await.unwrap();
    let database = a.collection().namespace().db;
    let url = reqcache_test::server_url("REQCACHE_MONGODB_URL").unwrap();
    let b = reqcache_mongodb::MongoStorage::builder(&url, database)
        .max_size(512 * KIB)
        .open()
        .await
        .unwrap();
    tokio::join!(
        async {
            for i in 0..40 {
                put(&a, &format!("a{i}")).await;
            }
        },
        async {
            for i in 0..40 {
                put(&b, &format!("b{i}")).await;
            }
        }
    );
    a.evict().await.unwrap();
    within(&b, 512 * KIB).await;
    assert!(b.len().await.unwrap() < 80);
    assert!(b.usage().await.unwrap().evictions > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_larger_than_the_bound_is_refused() {
    let Some(builder) = support::bounded("large", 64 * KIB) else {
        return;
    };
    let storage = builder.open().await.unwrap();
    let entry = sized_entry("big", 100 * 1024);
    let error = storage.put("big", Arc::new(entry)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::TooLarge);
    assert_eq!(storage.len().await.unwrap(), 0);
}
