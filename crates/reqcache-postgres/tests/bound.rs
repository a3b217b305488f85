//! The size bound on a real server: the usage row the triggers keep,
//! eviction past the bound (retention first, then the least recently
//! read), one bound for two pools, and an older table brought up to date.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqcache::storage::{Storage, StorageErrorKind};
use reqcache_postgres::{PostgresStorage, sqlx};
use reqcache_test::{past_retention_by_the_real_clock, sized_entry, t0, yield_until};
use support::unique_table;

const KIB: u64 = 1024;

async fn bounded(url: &str, table: &str, max_size: u64) -> PostgresStorage {
    PostgresStorage::builder(url)
        .table(table)
        .max_size(max_size)
        .sweep_interval(None)
        .max_connections(4)
        .open()
        .await
        .unwrap()
}

/// Stores a 16 KiB response under `key`.
async fn put(storage: &PostgresStorage, key: &str) {
    let entry = sized_entry(key, 16 * 1024);
    storage.put(key, Arc::new(entry)).await.unwrap();
}

/// Waits until the eviction task has brought the table within its bound.
async fn within_bound(storage: &PostgresStorage) {
    let max = storage.max_size().unwrap();
    yield_until("the table never came within its bound", || async {
        storage.usage().await.unwrap().bytes <= max
    })
    .await;
}

/// The bytes the rows count for, summed from the table itself.
async fn summed(storage: &PostgresStorage) -> u64 {
    let sum: i64 = sqlx::query_scalar(&format!(
        "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM \"{}\"",
        storage.table()
    ))
    .fetch_one(storage.pool())
    .await
    .unwrap();
    sum as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_row_counts_every_write_and_removal() {
    let Some(url) = support::url() else { return };
    let storage = bounded(&url, &unique_table("usage"), 1 << 30).await;
    for i in 0..10 {
        put(&storage, &format!("k{i}")).await;
    }
    put(&storage, "k0").await; // replaced: counted once
    storage.delete("k1").await.unwrap();
    storage.delete_url("https://example.com/k2").await.unwrap();
    let usage = storage.usage().await.unwrap();
    assert_eq!(usage.bytes, summed(&storage).await);
    assert!(
        usage.bytes > 8 * 16 * KIB && usage.bytes < 9 * 17 * KIB,
        "{usage:?}"
    );
    assert_eq!((usage.max_size, usage.evictions), (Some(1 << 30), 0));
    storage.clear().await.unwrap();
    assert_eq!(storage.usage().await.unwrap().bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_the_bound_evict_the_least_recently_read() {
    let Some(url) = support::url() else { return };
    let storage = bounded(&url, &unique_table("evict"), 512 * KIB).await;
    for i in 0..25 {
        put(&storage, &format!("k{i}")).await;
    }
    assert_eq!(storage.usage().await.unwrap().evictions, 0);
    // Read two minutes after they were stored: k0's stamp is written by a
    // task behind the read.
    let later = t0() + Duration::from_secs(120);
    assert!(storage.get("k0", later).await.unwrap().is_some());
    let table = storage.table().to_owned();
    yield_until("the read never stamped k0", || async {
        let stamp: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT accessed FROM \"{table}\" WHERE key = 'k0'"
        ))
        .fetch_one(storage.pool())
        .await
        .unwrap();
        stamp.is_some_and(|s| s >= reqcache::storage::backend::unix_time::to_unix_nanos(later))
    })
    .await;
    for i in 25..60 {
        put(&storage, &format!("k{i}")).await;
    }
    within_bound(&storage).await;
    let usage = storage.usage().await.unwrap();
    assert!(usage.evictions > 0, "{usage:?}");
    assert_eq!(usage.bytes, summed(&storage).await);
    assert!(storage.contains("k0", t0()).await.unwrap(), "read lately");
    assert!(!storage.contains("k1", t0()).await.unwrap(), "never read");
    assert!(storage.contains("k59", t0()).await.unwrap(), "written last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_past_their_deadline_go_first() {
    let Some(url) = support::url() else { return };
    let storage = bounded(&url, &unique_table("deadline"), 512 * KIB).await;
    for i in 0..25 {
        put(&storage, &format!("k{i}")).await;
    }
    let old = past_retention_by_the_real_clock("https://example.com/old");
    let old = reqcache::storage::CachedResponse {
        body: vec![1u8; 16 * 1024].into(),
        ..old
    };
    storage.put("old", Arc::new(old)).await.unwrap();
    let rows = |key: &'static str| {
        let storage = storage.clone();
        async move {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM \"{}\" WHERE key = $1",
                storage.table()
            ))
            .bind(key)
            .fetch_one(storage.pool())
            .await
            .unwrap();
            n
        }
    };
    assert_eq!(rows("old").await, 1);
    for i in 25..40 {
        put(&storage, &format!("k{i}")).await;
        within_bound(&storage).await;
        if storage.usage().await.unwrap().evictions > 0 {
            break;
        }
    }
    assert_eq!(rows("old").await, 0, "past its deadline: the first to go");
    assert!(storage.contains("k0", t0()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_table_keep_one_bound() {
    let Some(url) = support::url() else { return };
    let table = unique_table("shared");
    let a = bounded(&url, &table, 512 * KIB).await;
    let b = bounded(&url, &table, 512 * KIB).await;
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
    // Each pool's last eviction may have been skipped while the other's
    // ran: one more brings the table within.
    a.evict().await.unwrap();
    within_bound(&a).await;
    let usage = b.usage().await.unwrap();
    assert!(usage.bytes <= 512 * KIB, "{usage:?}");
    assert_eq!(usage.bytes, summed(&a).await);
    assert_eq!(usage.evictions, 80 - a.len().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_larger_than_the_bound_is_refused() {
    let Some(url) = support::url() else { return };
    let storage = bounded(&url, &unique_table("large"), 64 * KIB).await;
    let entry = sized_entry("big", 100 * 1024);
    let error = storage.put("big", Arc::new(entry)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::TooLarge);
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_table_is_brought_up_to_date_with_its_rows_counted() {
    let Some(url) = support::url() else { return };
    let table = unique_table("older");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // The table as the version before the bound created it, with a row.
    sqlx::raw_sql(&format!(
        "CREATE TABLE \"{table}\" (key TEXT PRIMARY KEY, method TEXT NOT NULL, url TEXT NOT NULL,
            status SMALLINT NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL,
            expires BIGINT, retain_until BIGINT, deadline BIGINT, value BYTEA NOT NULL,
            kind SMALLINT NOT NULL DEFAULT 0);
         INSERT INTO \"{table}\" VALUES ('k', 'GET', 'https://example.com/k', 200, 4, 0,
            NULL, NULL, NULL, '\\x00010203', 0);"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let storage = bounded(&url, &table, 1 << 30).await;
    let usage = storage.usage().await.unwrap();
    // 4 bytes of value, 1 of key, 21 of URL, 64 of other columns.
    assert_eq!(usage.bytes, 4 + 1 + 21 + 64);
    put(&storage, "new").await;
    assert_eq!(storage.usage().await.unwrap().bytes, summed(&storage).await);
}
