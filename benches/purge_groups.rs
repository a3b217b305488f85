//! What purging a cache group costs (issue 29, item 5): a group of 10,000
//! among 1,000,000 stored entries, on SQLite and on PostgreSQL, through
//! the storage's group index (`Storage::delete_group`), and, as the
//! baseline measured in the same run, through what a storage without an
//! index does (the trait's default: list every entry, delete the group's
//! one by one). Rows are inserted by SQL, in groups of `GROUP_SIZE`
//! (10,000), row `i` in group `i % (ROWS / GROUP_SIZE)`: a group's rows
//! are spread over the whole table, as a real group's are.
//!
//! ```sh
//! cargo bench --bench purge_groups                       # SQLite
//! REQCACHE_POSTGRES_URL=postgres://… cargo bench --bench purge_groups   # and PostgreSQL
//! ROWS=100000 cargo bench --bench purge_groups           # the same groups in a table 10 times smaller
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use reqcache::storage::backend::StoredRecord;
use reqcache::storage::{EntryInfo, Storage, StorageError, group_id};
use reqcache_postgres::{PostgresStorage, sqlx};
use reqcache_sqlite::SqliteStorage;

/// A storage as one without a group index sees it: every call forwarded,
/// but for the group calls, which keep the trait's defaults (a listing,
/// then a delete per key).
#[derive(Debug)]
struct Unindexed(Arc<dyn Storage>);

#[async_trait]
impl Storage for Unindexed {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        self.0.get_record(key, now).await
    }
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        self.0.put_record(key, record).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.0.delete(key).await
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.0.clear().await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.0.len().await
    }
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.0.entries().await
    }
    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.0.remove_expired(now).await
    }
}

fn group(n: u64) -> String {
    group_id("https://example.com", &format!("g{n}"))
}

async fn timed<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let done = work.await;
    (done, started.elapsed())
}

/// Purges group 0 through the index and group 1 by the baseline, and
/// looks group 2 up through the index; prints a table row each.
async fn measure(name: &str, storage: Arc<dyn Storage>, rows: u64, groups: u64) {
    let per_group = rows / groups;
    let (keys, lookup) = timed(storage.group_keys(&group(2))).await;
    assert_eq!(keys.unwrap().len() as u64, per_group);
    let (purged, indexed) = timed(storage.delete_group(&group(0))).await;
    assert_eq!(purged.unwrap(), per_group);
    let baseline = Unindexed(Arc::clone(&storage));
    let (purged, scanned) = timed(baseline.delete_group(&group(1))).await;
    assert_eq!(purged.unwrap(), per_group);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name} | {per_group} of {rows} | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} |",
        ms(lookup),
        ms(indexed),
        ms(scanned),
        scanned.as_secs_f64() / indexed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    // Row `i` is in group `i % groups`: groups of GROUP_SIZE rows.
    let group_size: u64 = std::env::var("GROUP_SIZE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let groups = (rows / group_size).max(3);
    println!(
        "| storage | group | group_keys (index) | delete_group (index) | baseline: list and delete | baseline / index |"
    );
    println!("|---|---|---|---|---|---|");

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStorage::builder(dir.path().join("c"))
        .sweep_interval(None)
        .unbounded_size()
        .open()
        .await
        .unwrap();
    sqlite
        .with_connection(move |c| {
            c.execute_batch("BEGIN")?;
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
                 INSERT INTO responses (key, method, url, status, size, created_at, expires, retain_until, kind, value)
                 SELECT 'k' || i, 'GET', 'https://example.com/' || i, 200, 1024, 0, NULL, NULL, 0, zeroblob(1024) FROM n",
                [rows as i64],
            )?;
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
                 INSERT INTO responses_groups (grp, key)
                 SELECT 'https://example.com g' || (i % ?2), 'k' || i FROM n",
                [rows as i64, groups as i64],
            )?;
            c.execute_batch("COMMIT")
        })
        .await
        .unwrap();
    measure("SQLite", Arc::new(sqlite), rows, groups).await;

    let Ok(url) = std::env::var("REQCACHE_POSTGRES_URL") else {
        eprintln!("PostgreSQL: skipped (set REQCACHE_POSTGRES_URL)");
        return;
    };
    let table = format!("purge_bench_{}", std::process::id());
    let postgres = PostgresStorage::builder(&url)
        .table(&table)
        .unbounded_size()
        .open()
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{table}\" (key, method, url, status, size, created_at, value, kind, bytes, groups)
         SELECT 'k' || i, 'GET', 'https://example.com/' || i, 200, 1024, 0, '\\x00'::bytea, 0, 1100,
                ARRAY['https://example.com g' || (i % $2)]
         FROM generate_series(0, $1 - 1) AS i"
    ))
    .bind(rows as i64)
    .bind(groups as i64)
    .execute(postgres.pool())
    .await
    .unwrap();
    sqlx::query(&format!("ANALYZE \"{table}\""))
        .execute(postgres.pool())
        .await
        .unwrap();
    let pool = postgres.pool().clone();
    measure("PostgreSQL", Arc::new(postgres), rows, groups).await;
    for suffix in ["", "_usage", "_chunks"] {
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}{suffix}\""))
            .execute(&pool)
            .await
            .unwrap();
    }
}
