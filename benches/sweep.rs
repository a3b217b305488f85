//! What a sweep costs: the CPU time to delete entries past their
//! retention from SQLite (rows inserted by SQL, then `SqliteStorage::sweep`)
//! and from a files storage (entries written through the storage, then
//! `FileStorage::sweep`), per entry (issue 27, item 5).
//!
//! ```sh
//! cargo bench --bench sweep
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod support;

use reqcache::storage::Storage;
use reqcache_fs::FileStorage;
use reqcache_sqlite::SqliteStorage;
use support::process_cpu as cpu;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 100_000u32;
    let sqlite = SqliteStorage::builder(dir.path().join("c"))
        .sweep_interval(None)
        .unbounded_size()
        .open()
        .await
        .unwrap();
    sqlite
        .with_connection(move |c| {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO responses (key, method, url, status, size, created_at, expires, retain_until, kind, value)
                 SELECT 'k' || i, 'GET', 'https://example.com/' || i, 200, 4096, 0, 0, 1, 0, zeroblob(4096) FROM n",
                [rows],
            )
        })
        .await
        .unwrap();
    let (cpu_before, wall) = (cpu(), Instant::now());
    let swept = sqlite.sweep(SystemTime::now()).await.unwrap();
    let (cpu_used, wall) = (cpu() - cpu_before, wall.elapsed());
    println!(
        "| SQLite | {swept} rows of 4 KiB | {:.0} ms | {:.0} ms | {:.2} µs |",
        wall.as_secs_f64() * 1e3,
        cpu_used.as_secs_f64() * 1e3,
        cpu_used.as_secs_f64() * 1e6 / f64::from(rows)
    );

    let entries = 5_000u32;
    let files = FileStorage::builder(dir.path().join("files"))
        .sweep_interval(None)
        .unbounded_size()
        .open()
        .await
        .unwrap();
    let past = SystemTime::now() - Duration::from_secs(7200);
    for i in 0..entries {
        let mut entry =
            reqcache_test::sample_entry(&format!("https://example.com/{i}"), vec![7u8; 4096]);
        entry.expires = Some(past);
        entry.retain_until = Some(past);
        files.put(&format!("k{i}"), Arc::new(entry)).await.unwrap();
    }
    let (cpu_before, wall) = (cpu(), Instant::now());
    let swept = files.sweep(SystemTime::now()).await.unwrap();
    let (cpu_used, wall) = (cpu() - cpu_before, wall.elapsed());
    println!(
        "| files | {swept} entries of 4 KiB | {:.0} ms | {:.0} ms | {:.2} µs |",
        wall.as_secs_f64() * 1e3,
        cpu_used.as_secs_f64() * 1e3,
        cpu_used.as_secs_f64() * 1e6 / f64::from(entries)
    );
}
