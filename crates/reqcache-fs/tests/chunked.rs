//! Bodies kept in chunks in a folder: the shared checks with a 64 MiB body,
//! no body file left when a body is cut short, an entry refused when its
//! body is not whole, the ledger counting bodies, and body files no entry
//! names swept once old.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::Storage;
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache_fs::FileStorage;
use reqcache_test::chunked;

const LARGE: u64 = 64 << 20;

async fn open(dir: &tempfile::TempDir) -> FileStorage {
    FileStorage::builder(dir.path().join("cache"))
        .max_size(1 << 30)
        .open()
        .await
        .expect("open")
}

fn body_files(storage: &FileStorage) -> usize {
    std::fs::read_dir(storage.dir().join("bodies")).map_or(0, |dir| dir.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_is_stored_in_chunks_and_streamed_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(body_files(&storage), 0, "every body went with its entry");
    let usage = storage.usage().await.unwrap();
    assert!(
        usage.bytes < 64 << 10,
        "the ledger let the bodies go: {usage:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_leaves_no_entry_and_no_body_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    chunked::chunked_body_cut_short_is_never_stored(Arc::new(storage.clone()), 16 << 20).await;
    assert_eq!(body_files(&storage), 0, "the part written was removed");
}

#[tokio::test]
async fn an_entry_whose_body_is_not_whole_is_refused_and_the_ledger_counts_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    let chunk = bytes::Bytes::from(vec![1u8; reqcache_fs::CHUNK_SIZE as usize]);
    storage.write_chunk("b1", 0, chunk.clone()).await.unwrap();
    // Readable before its entry is written: followers of the request
    // that fetched it read it while the entry's write is on its way.
    assert_eq!(
        storage.read_chunk("b1", 0).await.unwrap(),
        Some(chunk.clone())
    );
    let mut entry = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    let len = 2 * u64::from(reqcache_fs::CHUNK_SIZE);
    entry.stored_body = Some(BodyRef::new("b1", len, reqcache_fs::CHUNK_SIZE));
    let error = storage.put("k", Arc::new(entry.clone())).await.unwrap_err();
    assert!(error.to_string().contains("not whole"), "{error}");
    assert!(storage.get("k", SystemTime::now()).await.unwrap().is_none());
    storage.write_chunk("b1", 1, chunk).await.unwrap();
    storage.put("k", Arc::new(entry.clone())).await.unwrap();
    let stored = storage.get("k", SystemTime::now()).await.unwrap().unwrap();
    assert_eq!(stored.body_len(), len);
    let usage = storage.usage().await.unwrap();
    assert!(
        usage.bytes >= len && usage.bytes < len + (64 << 10),
        "{usage:?}"
    );
    // Written again with the same body (a revalidation): kept, counted once.
    storage.put("k", Arc::new(entry)).await.unwrap();
    assert_eq!(storage.usage().await.unwrap().bytes, usage.bytes);
    assert!(storage.read_chunk("b1", 1).await.unwrap().is_some());
    storage.delete("k").await.unwrap();
    assert_eq!(body_files(&storage), 0);
    assert!(storage.usage().await.unwrap().bytes < 1024);
}

#[tokio::test]
async fn body_files_no_entry_names_are_swept_once_old() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir).await;
    // Not an id the core makes (never a path): refused.
    storage
        .write_chunk("../0rphan", 0, bytes::Bytes::from_static(b"left behind"))
        .await
        .unwrap_err();
    storage
        .write_chunk("0abc", 0, bytes::Bytes::from_static(b"left behind"))
        .await
        .unwrap();
    storage.sweep(SystemTime::now()).await.unwrap();
    assert_eq!(body_files(&storage), 1, "a write may still be under way");
    let part = storage.dir().join("bodies/0abc.part");
    let old = SystemTime::now() - reqcache_fs::ORPHAN_GRACE - Duration::from_secs(1);
    std::fs::File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_modified(old)
        .unwrap();
    storage.sweep(SystemTime::now()).await.unwrap();
    assert_eq!(body_files(&storage), 0);
}
