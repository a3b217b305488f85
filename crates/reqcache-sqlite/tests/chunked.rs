//! Bodies kept in chunks on SQLite: the shared checks with a 64 MiB body,
//! the chunks table emptied when a body is cut short or cleared, a row
//! refused when its chunks are not whole, and chunks no row names swept.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::Storage;
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache_sqlite::SqliteStorage;
use reqcache_test::chunked;

const LARGE: u64 = 64 << 20;

async fn open(dir: &tempfile::TempDir) -> SqliteStorage {
    SqliteStorage::builder(dir.path().join("c"))
        .max_size(1 << 30)
        .open()
        .await
        .expect("open")
}

async fn chunk_rows(storage: &SqliteStorage) -> i64 {
    storage
        .with_connection(|c| c.query_row("SELECT COUNT(*) FROM responses_chunks", [], |r| r.get(0)))
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_is_stored_in_chunks_and_streamed_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(
        chunk_rows(&storage).await,
        0,
        "every chunk went with its row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_leaves_no_row_and_no_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    chunked::chunked_body_cut_short_is_never_stored(Arc::new(storage.clone()), 16 << 20).await;
    assert_eq!(
        chunk_rows(&storage).await,
        0,
        "the chunks written were removed"
    );
}

#[tokio::test]
async fn a_row_whose_chunks_are_not_whole_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    let chunk = bytes::Bytes::from(vec![1u8; 1000]);
    storage.write_chunk("b1", 0, chunk.clone()).await.unwrap();
    // Two chunks named, one stored.
    let mut entry = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    entry.stored_body = Some(BodyRef::new("b1", 2000, 1000));
    let error = storage.put("k", Arc::new(entry.clone())).await.unwrap_err();
    assert!(error.to_string().contains("not whole"), "{error}");
    assert!(storage.get("k", SystemTime::now()).await.unwrap().is_none());
    storage.write_chunk("b1", 1, chunk).await.unwrap();
    storage.put("k", Arc::new(entry)).await.unwrap();
    let stored = storage.get("k", SystemTime::now()).await.unwrap().unwrap();
    assert_eq!(stored.stored_body.as_ref().map(|b| b.len), Some(2000));
    assert_eq!(stored.body_len(), 2000);
    storage.clear().await.unwrap();
    assert_eq!(chunk_rows(&storage).await, 0);
}

#[tokio::test]
async fn chunks_no_row_names_are_swept_once_old() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
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
    // As if written more than the grace ago.
    let old = reqcache::storage::backend::unix_time::to_unix_nanos(
        SystemTime::now() - reqcache_sqlite::ORPHAN_GRACE - Duration::from_secs(1),
    );
    storage
        .with_connection(move |c| c.execute("UPDATE responses_chunks SET written = ?1", [old]))
        .await
        .unwrap();
    storage.sweep(SystemTime::now()).await.unwrap();
    assert_eq!(chunk_rows(&storage).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_moves_with_its_body_to_files_to_memory_and_to_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    let files = reqcache_fs::FileStorage::open(dir.path().join("files"))
        .await
        .unwrap();
    chunked::chunked_records_move_with_their_bodies(
        Arc::new(storage.clone()),
        Arc::new(files),
        16 << 20,
    )
    .await;
    // The rekeyed record has its own chunks; the old ones went with its key.
    assert_eq!(chunk_rows(&storage).await, 64);
}
