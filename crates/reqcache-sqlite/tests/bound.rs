//! The size bound: a bounded SQLite storage keeps its pages in use within
//! `max_size`, evicting what is past retention first, then what was read
//! least recently; several handles on one file keep one bound.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqcache::storage::{Storage, StorageErrorKind};
use reqcache_sqlite::SqliteStorage;
use reqcache_test::{sized_entry, t0};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

async fn bounded(path: &Path, max_size: u64) -> SqliteStorage {
    SqliteStorage::builder(path)
        .max_size(max_size)
        .sweep_interval(None)
        .open()
        .await
        .unwrap()
}

/// Stores a 16 KiB response under `key`.
async fn put(storage: &SqliteStorage, key: &str) {
    let entry = sized_entry(key, 16 * 1024);
    storage.put(key, Arc::new(entry)).await.unwrap();
}

/// How many rows the table has under `key`, whatever their retention.
async fn rows_named(storage: &SqliteStorage, key: &'static str) -> i64 {
    storage
        .with_connection(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM responses WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
        })
        .await
        .unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn wal(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[tokio::test]
async fn writes_past_the_bound_evict_and_the_file_stays_near_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(&dir.path().join("c"), 2 * MIB).await;
    let path = storage.path().to_owned();
    let mut largest = 0;
    // 600 entries of 16 KiB: 9.4 MiB through a 2 MiB bound.
    for i in 0..600 {
        put(&storage, &format!("k{i}")).await;
        largest = largest.max(file_len(&path) + file_len(&wal(&path)));
    }
    let usage = storage.usage().await.unwrap();
    assert!(usage.bytes <= 2 * MIB, "{usage:?}");
    assert_eq!(usage.max_size, Some(2 * MIB));
    let kept = storage.len().await.unwrap();
    assert!((80..600).contains(&kept), "{kept} entries kept");
    assert_eq!(usage.evictions, 600 - kept, "{usage:?}");
    // The most recent entries are there; the first ones went.
    for i in 590..600 {
        assert!(storage.contains(&format!("k{i}"), t0()).await.unwrap());
    }
    assert!(!storage.contains("k0", t0()).await.unwrap());
    // The file: within a tenth of the bound; with its log, a quarter.
    assert!(file_len(&path) <= 2 * MIB + MIB / 5, "{}", file_len(&path));
    assert!(
        largest <= 2 * MIB + MIB / 2,
        "file and log reached {largest}"
    );
}

#[tokio::test]
async fn entries_read_lately_outlive_those_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(&dir.path().join("c"), MIB).await;
    for i in 0..40 {
        put(&storage, &format!("k{i}")).await;
    }
    assert_eq!(storage.usage().await.unwrap().evictions, 0);
    // Read two minutes after they were stored: k0's stamp is stale, so the
    // read leaves a new one for the writer, written with the next write.
    let later = t0() + Duration::from_secs(120);
    assert!(storage.get("k0", later).await.unwrap().is_some());
    for i in 40..80 {
        put(&storage, &format!("k{i}")).await;
    }
    assert!(storage.usage().await.unwrap().evictions > 0);
    assert!(storage.contains("k0", t0()).await.unwrap(), "read lately");
    assert!(!storage.contains("k1", t0()).await.unwrap(), "never read");
}

#[tokio::test]
async fn entries_past_retention_go_before_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(&dir.path().join("c"), MIB).await;
    for i in 0..30 {
        put(&storage, &format!("k{i}")).await;
    }
    // Written last, so the most recently used, but past retention by the
    // real clock: the first to go.
    let old = reqcache_test::past_retention_by_the_real_clock("https://example.com/old");
    let old = reqcache::storage::CachedResponse {
        body: vec![1u8; 16 * 1024].into(),
        ..old
    };
    storage.put("old", Arc::new(old)).await.unwrap();
    assert_eq!(rows_named(&storage, "old").await, 1);
    for i in 30..60 {
        put(&storage, &format!("k{i}")).await;
        let evictions = storage.usage().await.unwrap().evictions;
        if evictions > 0 {
            assert_eq!(evictions, 1, "one eviction made room");
            break;
        }
    }
    assert_eq!(
        rows_named(&storage, "old").await,
        0,
        "the entry past retention went first"
    );
    assert!(storage.contains("k0", t0()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_keep_one_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    // Two handles: two writer threads and connections, as two processes.
    let a = bounded(&path, 2 * MIB).await;
    let b = bounded(&path, 2 * MIB).await;
    let (one, two) = tokio::join!(
        async {
            for i in 0..300 {
                put(&a, &format!("a{i}")).await;
            }
        },
        async {
            for i in 0..300 {
                put(&b, &format!("b{i}")).await;
            }
        }
    );
    let ((), ()) = (one, two);
    let usage = a.usage().await.unwrap();
    assert!(usage.bytes <= 2 * MIB, "{usage:?}");
    assert_eq!(usage.evictions, 600 - a.len().await.unwrap());
    assert_eq!(
        b.usage().await.unwrap().evictions,
        usage.evictions,
        "counted in the file"
    );
    assert!(file_len(a.path()) <= 2 * MIB + MIB / 5);
}

#[tokio::test]
async fn an_entry_larger_than_the_bound_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(&dir.path().join("c"), 64 * KIB).await;
    let entry = sized_entry("big", 100 * 1024);
    let error = storage.put("big", Arc::new(entry)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::TooLarge);
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unbounded_storage_evicts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path().join("c"))
        .unbounded_size()
        .open()
        .await
        .unwrap();
    assert_eq!(storage.max_size(), None);
    for i in 0..100 {
        put(&storage, &format!("k{i}")).await;
    }
    let usage = storage.usage().await.unwrap();
    assert_eq!((usage.max_size, usage.evictions), (None, 0));
    assert!(usage.bytes > 100 * 16 * KIB);
    assert_eq!(storage.len().await.unwrap(), 100);
}

#[tokio::test]
async fn a_table_without_access_stamps_gets_them_and_its_rows_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        // The table as the version before the bound wrote it.
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE responses (
                key TEXT PRIMARY KEY NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL,
                status INTEGER NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL,
                expires INTEGER, retain_until INTEGER, kind INTEGER NOT NULL DEFAULT 0,
                value BLOB NOT NULL)",
        )
        .unwrap();
    }
    let storage = bounded(&path, MIB).await;
    storage
        .with_connection(|c| {
            c.execute(
                "INSERT INTO responses (key, method, url, status, size, created_at, kind, value) \
                 VALUES ('unstamped', 'GET', 'https://example.com/u', 200, 1, 0, 0, zeroblob(16384))",
                [],
            )
        })
        .await
        .unwrap();
    for i in 0..70 {
        put(&storage, &format!("k{i}")).await;
    }
    assert!(storage.usage().await.unwrap().evictions > 0);
    assert!(!storage.contains("unstamped", t0()).await.unwrap());
    assert!(storage.contains("k69", t0()).await.unwrap());
}
