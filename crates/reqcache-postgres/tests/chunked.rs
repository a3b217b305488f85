//! Bodies kept in chunks on a real server: the shared checks with a 64 MiB
//! body, the chunks table emptied when a body is cut short or its row goes,
//! a row refused when its chunks are not whole, the usage row counting a
//! body, an older table brought up to date, and chunks no row names swept.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::Storage;
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache_postgres::{PostgresStorage, sqlx};
use reqcache_test::chunked;
use support::{unique_table, url};

const LARGE: u64 = 64 << 20;

async fn open(url: &str) -> PostgresStorage {
    PostgresStorage::builder(url)
        .table(unique_table("chunked"))
        .max_size(1 << 30)
        .sweep_interval(None)
        .max_connections(8)
        .open()
        .await
        .expect("open")
}

async fn chunk_rows(storage: &PostgresStorage) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM \"{}_chunks\"",
        storage.table()
    ))
    .fetch_one(storage.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_is_stored_in_chunks_and_streamed_back() {
    let Some(url) = url() else { return };
    let storage = open(&url).await;
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(
        chunk_rows(&storage).await,
        0,
        "every chunk went with its row"
    );
    assert!(storage.usage().await.unwrap().bytes < 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_leaves_no_row_and_no_chunk() {
    let Some(url) = url() else { return };
    let storage = open(&url).await;
    chunked::chunked_body_cut_short_is_never_stored(Arc::new(storage.clone()), 16 << 20).await;
    assert_eq!(
        chunk_rows(&storage).await,
        0,
        "the chunks written were removed"
    );
}

#[tokio::test]
async fn a_row_whose_chunks_are_not_whole_is_refused_and_a_whole_one_counts_its_body() {
    let Some(url) = url() else { return };
    let storage = open(&url).await;
    let chunk = bytes::Bytes::from(vec![1u8; 1000]);
    storage.write_chunk("b1", 0, chunk.clone()).await.unwrap();
    assert_eq!(
        storage.read_chunk("b1", 0).await.unwrap(),
        Some(chunk.clone())
    );
    let mut entry = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    entry.stored_body = Some(BodyRef::new("b1", 2000, 1000));
    let error = storage.put("k", Arc::new(entry.clone())).await.unwrap_err();
    assert!(error.to_string().contains("not whole"), "{error}");
    assert!(storage.get("k", SystemTime::now()).await.unwrap().is_none());
    storage.write_chunk("b1", 1, chunk).await.unwrap();
    storage.put("k", Arc::new(entry.clone())).await.unwrap();
    let stored = storage.get("k", SystemTime::now()).await.unwrap().unwrap();
    assert_eq!(stored.body_len(), 2000);
    let counted = storage.usage().await.unwrap().bytes;
    assert!(counted >= 2000, "{counted}");
    // Written again with the same body (a revalidation): the chunks stay.
    storage.put("k", Arc::new(entry)).await.unwrap();
    assert_eq!(chunk_rows(&storage).await, 2);
    assert_eq!(storage.usage().await.unwrap().bytes, counted);
    storage.delete("k").await.unwrap();
    assert_eq!(chunk_rows(&storage).await, 0);
    assert_eq!(storage.usage().await.unwrap().bytes, 0);
}

#[tokio::test]
async fn chunks_no_row_names_are_swept_once_old() {
    let Some(url) = url() else { return };
    let storage = open(&url).await;
    storage
        .write_chunk("orphan", 0, bytes::Bytes::from_static(b"left behind"))
        .await
        .unwrap();
    storage.sweep(SystemTime::now()).await.unwrap();
    assert_eq!(
        chunk_rows(&storage).await,
        1,
        "a write may still be under way"
    );
    let old = reqcache::storage::backend::unix_time::to_unix_nanos(
        SystemTime::now() - reqcache_postgres::ORPHAN_GRACE - Duration::from_secs(1),
    );
    sqlx::query(&format!(
        "UPDATE \"{}_chunks\" SET written = $1",
        storage.table()
    ))
    .bind(old)
    .execute(storage.pool())
    .await
    .unwrap();
    storage.sweep(SystemTime::now()).await.unwrap();
    assert_eq!(chunk_rows(&storage).await, 0);
}
