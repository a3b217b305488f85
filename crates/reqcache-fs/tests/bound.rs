//! The size bound: a bounded folder keeps the length of its entries'
//! files within `max_size`, evicting what is past retention first, then
//! what was read least recently; several handles on one folder keep one
//! bound through the ledger file.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::{Storage, StorageErrorKind};
use reqcache_fs::FileStorage;
use reqcache_test::{past_retention_by_the_real_clock, sized_entry, t0, yield_until};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

async fn bounded(dir: &Path, max_size: u64) -> FileStorage {
    FileStorage::builder(dir)
        .max_size(max_size)
        .sweep_interval(None)
        .open()
        .await
        .unwrap()
}

/// Stores a 16 KiB response under `key`.
async fn put(storage: &FileStorage, key: &str) {
    let entry = sized_entry(key, 16 * 1024);
    storage.put(key, Arc::new(entry)).await.unwrap();
}

/// The length of every file in the folder, the URL index included.
fn folder_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let metadata = entry.metadata().unwrap();
        total += if metadata.is_dir() {
            folder_bytes(&entry.path())
        } else {
            metadata.len()
        };
    }
    total
}

/// Sets every entry file's modification time to `when`, as if each had
/// been written or read then.
fn age_every_entry(
    storage: &FileStorage,
    keys: impl IntoIterator<Item = String>,
    when: SystemTime,
) {
    for key in keys {
        let path = storage.path_of(&key).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(when).unwrap();
    }
}

#[tokio::test]
async fn writes_past_the_bound_evict_and_the_folder_stays_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(dir.path(), 2 * MIB).await;
    let mut largest = 0;
    for i in 0..600 {
        put(&storage, &format!("k{i}")).await;
        largest = largest.max(folder_bytes(dir.path()));
    }
    let usage = storage.usage().await.unwrap();
    assert!(usage.bytes <= 2 * MIB, "{usage:?}");
    assert_eq!(usage.max_size, Some(2 * MIB));
    let kept = storage.len().await.unwrap();
    assert!((80..600).contains(&kept), "{kept} entries kept");
    assert_eq!(usage.evictions, 600 - kept, "{usage:?}");
    for i in 590..600 {
        assert!(storage.contains(&format!("k{i}"), t0()).await.unwrap());
    }
    // The ledger counts what is there.
    let listed: u64 = folder_bytes(dir.path())
        - std::fs::metadata(dir.path().join(".reqcache-usage"))
            .unwrap()
            .len();
    assert_eq!(usage.bytes, listed);
    assert!(
        largest <= 2 * MIB + 64 * KIB,
        "the folder reached {largest}"
    );
}

#[tokio::test]
async fn entries_read_lately_outlive_those_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(dir.path(), MIB).await;
    for i in 0..50 {
        put(&storage, &format!("k{i}")).await;
    }
    assert_eq!(storage.usage().await.unwrap().evictions, 0);
    // As if stored five minutes ago, k0 first and k1 next: the two least
    // recently used. Then k0 is read.
    let ago = SystemTime::now() - Duration::from_secs(300);
    age_every_entry(&storage, (2..50).map(|i| format!("k{i}")), ago);
    age_every_entry(&storage, ["k1".to_owned()], ago - Duration::from_secs(5));
    age_every_entry(&storage, ["k0".to_owned()], ago - Duration::from_secs(10));
    assert!(storage.get("k0", t0()).await.unwrap().is_some());
    // The stamp is set behind the read.
    let k0 = storage.path_of("k0").unwrap();
    yield_until("the read never stamped k0", || async {
        std::fs::metadata(&k0).unwrap().modified().unwrap() > ago + Duration::from_secs(60)
    })
    .await;
    for i in 50..70 {
        put(&storage, &format!("k{i}")).await;
    }
    assert!(storage.usage().await.unwrap().evictions > 0);
    assert!(storage.contains("k0", t0()).await.unwrap(), "read lately");
    assert!(!storage.contains("k1", t0()).await.unwrap(), "never read");
}

#[tokio::test]
async fn entries_past_retention_go_before_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(dir.path(), MIB).await;
    for i in 0..40 {
        put(&storage, &format!("k{i}")).await;
    }
    let old = past_retention_by_the_real_clock("https://example.com/old");
    let old = reqcache::storage::CachedResponse {
        body: vec![1u8; 16 * 1024].into(),
        ..old
    };
    storage.put("old", Arc::new(old)).await.unwrap();
    // Stored last, so the most recently used, but past retention.
    for i in 40..80 {
        put(&storage, &format!("k{i}")).await;
        if storage.usage().await.unwrap().evictions > 0 {
            break;
        }
    }
    assert!(storage.usage().await.unwrap().evictions > 0);
    assert!(
        storage.path_of("old").is_none(),
        "past retention: first to go"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_folder_keep_one_bound() {
    let dir = tempfile::tempdir().unwrap();
    let a = bounded(dir.path(), 2 * MIB).await;
    let b = bounded(dir.path(), 2 * MIB).await;
    tokio::join!(
        async {
            for i in 0..200 {
                put(&a, &format!("a{i}")).await;
            }
        },
        async {
            for i in 0..200 {
                put(&b, &format!("b{i}")).await;
            }
        }
    );
    let usage = a.usage().await.unwrap();
    assert!(usage.bytes <= 2 * MIB, "{usage:?}");
    assert!(folder_bytes(dir.path()) <= 2 * MIB + 64 * KIB);
    assert_eq!(usage.evictions, 400 - a.len().await.unwrap());
    assert_eq!(b.usage().await.unwrap().evictions, usage.evictions);
}

#[tokio::test]
async fn an_entry_larger_than_the_bound_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = bounded(dir.path(), 64 * KIB).await;
    let entry = sized_entry("big", 100 * 1024);
    let error = storage.put("big", Arc::new(entry)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::TooLarge);
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_folder_filled_without_a_bound_is_counted_and_brought_within_one() {
    let dir = tempfile::tempdir().unwrap();
    let unbounded = FileStorage::builder(dir.path())
        .unbounded_size()
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    for i in 0..100 {
        put(&unbounded, &format!("k{i}")).await;
    }
    let usage = unbounded.usage().await.unwrap();
    assert_eq!((usage.max_size, usage.evictions), (None, 0));
    assert!(usage.bytes > 100 * 16 * KIB);
    drop(unbounded);
    let storage = bounded(dir.path(), MIB).await;
    put(&storage, "new").await;
    let usage = storage.usage().await.unwrap();
    assert!(usage.bytes <= MIB, "{usage:?}");
    assert!(usage.evictions >= 40, "{usage:?}");
    assert!(storage.contains("new", t0()).await.unwrap());
}
