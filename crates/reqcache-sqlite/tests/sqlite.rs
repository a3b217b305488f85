//! What is particular to SQLite: WAL, indexes, paths, several handles.

use std::sync::Arc;
use std::time::Duration;

use reqcache::storage::Encoded;
use reqcache::storage::{Serializer, Storage};
use reqcache_sqlite::{SqliteStorage, resolve_cache_path};
use reqcache_test::{
    entries_around_retention, past_retention_by_the_real_clock, sample_entry, t0, yield_until,
};

#[tokio::test]
async fn the_database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("c")).await.unwrap();
    let mode: String = storage
        .with_connection(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn remove_expired_and_delete_url_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("c")).await.unwrap();
    for (sql, index) in [
        (
            "DELETE FROM responses WHERE expires <= 1 OR retain_until <= 1",
            "responses_expires",
        ),
        (
            "DELETE FROM responses WHERE expires <= 1 OR retain_until <= 1",
            "responses_retain_until",
        ),
        ("DELETE FROM responses WHERE url = 'x'", "responses_url"),
    ] {
        let plan: Vec<String> = storage
            .with_connection(move |c| {
                let mut statement = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = statement.query_map([], |r| r.get::<_, String>(3))?;
                rows.collect()
            })
            .await
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{sql}: {plan:?}"
        );
    }
}

#[tokio::test]
async fn parent_folders_are_created_and_names_get_an_extension() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("a/b/c/http_cache"))
        .await
        .unwrap();
    assert!(dir.path().join("a/b/c/http_cache.sqlite").exists());
    assert_eq!(storage.path(), dir.path().join("a/b/c/http_cache.sqlite"));
}

#[test]
fn a_tilde_is_the_home_folder() {
    let home = home::home_dir().expect("a home folder");
    assert_eq!(
        resolve_cache_path("~/caches/http"),
        home.join("caches/http.sqlite")
    );
    assert_eq!(
        resolve_cache_path("relative/cache.db"),
        std::path::Path::new("relative/cache.db")
    );
}

#[tokio::test]
async fn the_json_serializer_stores_readable_json() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStorage::open(dir.path().join("c")).await.unwrap();
    let storage = Encoded::new(sqlite, Serializer::Json);
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"{\"hello\": 1}"[..])),
        )
        .await
        .unwrap();
    let raw: Vec<u8> = storage
        .store()
        .with_connection(|c| c.query_row("SELECT value FROM responses", [], |r| r.get(0)))
        .await
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("\"reqcache_format\": 1"), "{text}");
    assert!(text.contains("{\\\"hello\\\": 1}"), "{text}");
    assert!(storage.get("k", t0()).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_write_and_read_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared");
    let a = SqliteStorage::builder(&path)
        .busy_timeout(Duration::from_secs(10))
        .open()
        .await
        .unwrap();
    let b = SqliteStorage::builder(&path)
        .busy_timeout(Duration::from_secs(10))
        .open()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (i, storage) in [a.clone(), b.clone()]
        .into_iter()
        .cycle()
        .take(8)
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            for j in 0..25 {
                let key = format!("k{}", (i * 25 + j) % 50);
                storage
                    .put(
                        &key,
                        Arc::new(sample_entry("https://example.com/", format!("{i}-{j}"))),
                    )
                    .await
                    .unwrap();
                // A read may find the row from either handle, or a miss if the
                // database was busy, but never an error or a torn entry.
                if let Some(entry) = storage.get(&key, t0()).await.unwrap_or(None) {
                    assert!(entry.body.contains(&b'-'));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(a.len().await.unwrap(), 50);
    assert_eq!(b.len().await.unwrap(), 50);
}

#[tokio::test]
async fn the_handle_deletes_undecodable_entries() {
    use reqcache::CacheLayer;
    use reqcache::handle::EntryFilter;
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("c")).await.unwrap();
    for key in ["good", "bad"] {
        storage
            .put(
                key,
                Arc::new(sample_entry("https://example.com/", &b"x"[..])),
            )
            .await
            .unwrap();
    }
    storage
        .with_connection(|c| {
            c.execute("UPDATE responses SET value = X'00' WHERE key = 'bad'", [])
                .map(drop)
        })
        .await
        .unwrap();
    let layer = CacheLayer::new(storage.clone());
    assert_eq!(
        layer
            .cache()
            .delete_where(&EntryFilter::new().undecodable())
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(left, ["good"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_exclusive_lock_never_holds_up_a_request_and_writes_resume_after_it() {
    use std::convert::Infallible;

    use bytes::Bytes;
    use reqcache::{CacheLayer, CacheOutcome, CacheStatus};
    use tower::{Layer, ServiceExt};

    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path().join("locked"))
        .busy_timeout(Duration::from_millis(200))
        .open()
        .await
        .unwrap();
    let path = storage.path().to_owned();
    // The breaker off: every write reaches the locked database.
    let layer = CacheLayer::builder(storage)
        .storage_breaker(0, Duration::from_secs(1))
        .build();
    let service = layer.layer(tower::service_fn(
        |request: http::Request<http_body_util::Full<Bytes>>| async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .header("cache-control", "max-age=3600")
                    .body(http_body_util::Full::new(Bytes::from(
                        request.uri().path().to_owned(),
                    )))
                    .unwrap(),
            )
        },
    ));
    let get = |path: &'static str| {
        let service = service.clone();
        async move {
            let request = http::Request::get(format!("http://e.com{path}"))
                .body(http_body_util::Full::default())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            let outcome = response
                .extensions()
                .get::<CacheStatus>()
                .unwrap()
                .outcome();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (outcome, body)
        }
    };
    get("/before").await;
    layer.cache().flush().await;

    // Another process holds the database's write lock.
    let foreign = rusqlite::Connection::open(&path).unwrap();
    foreign.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_eq!(
        get("/before").await.0,
        CacheOutcome::Hit,
        "reads go on in WAL mode"
    );
    for path in ["/during/1", "/during/2", "/during/3"] {
        // Answered at once: the write waits behind the response.
        assert_eq!(get(path).await, (CacheOutcome::Storing, Bytes::from(path)));
    }
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert!(stats.storage_write_errors >= 1, "{stats:?}");

    foreign.execute_batch("COMMIT").unwrap();
    get("/after").await;
    layer.cache().flush().await;
    assert_eq!(get("/after").await.0, CacheOutcome::Hit, "writes resume");
}

/// A database written before records had kinds (no `kind` column) opens:
/// the column is added, its rows are responses, and new records of other
/// kinds are not counted as responses.
#[tokio::test]
async fn a_table_without_the_kind_column_gets_it_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let entry = sample_entry("https://example.com/old", &b"kept"[..]);
    let value = reqcache::storage::Codec::new(Serializer::MessagePack)
        .encode(&entry)
        .unwrap();
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE responses (
                key TEXT PRIMARY KEY NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL,
                status INTEGER NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL,
                expires INTEGER, retain_until INTEGER, value BLOB NOT NULL)",
        )
        .unwrap();
        old.execute(
            "INSERT INTO responses VALUES ('k', 'GET', 'https://example.com/old', 200, 10, 0, NULL, NULL, ?1)",
            [value],
        )
        .unwrap();
    }
    let storage = SqliteStorage::open(&path).await.unwrap();
    assert_eq!(storage.len().await.unwrap(), 1);
    let back = storage.get("k", t0()).await.unwrap().unwrap();
    assert_eq!(back.body, "kept");
    let index = reqcache::storage::backend::VaryIndex::new(vec![http::header::ACCEPT], &entry);
    storage.put_record("i", index.into()).await.unwrap();
    assert_eq!(storage.len().await.unwrap(), 1);
    let kinds: Vec<_> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|info| (info.key, info.kind))
        .collect();
    assert!(kinds.contains(&(
        "k".to_owned(),
        reqcache::storage::backend::RecordKind::Response
    )));
    assert!(kinds.contains(&(
        "i".to_owned(),
        reqcache::storage::backend::RecordKind::VaryIndex
    )));
    drop(storage);
    // Opening again finds the column there.
    let storage = SqliteStorage::open(&path).await.unwrap();
    assert_eq!(storage.len().await.unwrap(), 1);
}

/// A large body goes in through incremental blob I/O (a zeroblob, then its
/// parts): it reads back whole, plain or signed, and the value is the
/// table's last column, as the zeroblob needs.
#[tokio::test]
async fn a_large_body_is_written_in_parts_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("large")).await.unwrap();
    let columns: Vec<String> = storage
        .with_connection(|c| {
            let mut statement = c.prepare("SELECT name FROM pragma_table_info('responses')")?;
            let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
        .await
        .unwrap();
    assert_eq!(columns.last().map(String::as_str), Some("value"));
    let body: Vec<u8> = (0..3 * reqcache::storage::backend::LARGE_VALUE)
        .map(|i| (i % 251) as u8)
        .collect();
    let entry = Arc::new(sample_entry("https://example.com/large", body.clone()));
    storage.put("plain", Arc::clone(&entry)).await.unwrap();
    assert_eq!(storage.get("plain", t0()).await.unwrap().unwrap(), entry);
    let signed = Encoded::new(
        storage.clone(),
        reqcache::storage::Codec::new(Serializer::MessagePack).signed(b"key".to_vec(), []),
    );
    signed.put("signed", Arc::clone(&entry)).await.unwrap();
    assert_eq!(signed.get("signed", t0()).await.unwrap().unwrap(), entry);
    // Stored signed: the plain codec refuses it (and so it is not a hit).
    let value: Vec<u8> = storage
        .with_connection(|c| {
            c.query_row(
                "SELECT value FROM responses WHERE key = 'signed'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert!(value.starts_with(b"RQS"));
    assert_eq!(
        value.len(),
        reqcache::storage::Codec::new(Serializer::MessagePack)
            .signed(b"key".to_vec(), [])
            .encode(&entry)
            .unwrap()
            .len()
    );
}

#[tokio::test]
async fn readers_with_the_file_mapped_read_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path().join("mapped"))
        .mmap_size(1 << 20)
        .open()
        .await
        .unwrap();
    let entries: Vec<_> = (0..50)
        .map(|i| {
            Arc::new(sample_entry(
                &format!("https://example.com/{i}"),
                vec![i; 4096],
            ))
        })
        .collect();
    for (i, entry) in entries.iter().enumerate() {
        storage
            .put(&format!("k{i}"), Arc::clone(entry))
            .await
            .unwrap();
    }
    // 400 × 4 KiB: past the 1 MiB mapped, so pages are read both ways.
    for (i, entry) in entries.iter().enumerate() {
        let found = storage.get(&format!("k{i}"), t0()).await.unwrap();
        assert_eq!(found.as_ref(), Some(entry), "k{i}");
    }
}

/// Reads on more threads than `max_idle_readers` (each thread below it
/// keeps a reader of its own; the others share the pool) and with no
/// reader kept at all read what was written, and see what is written
/// after them.
#[test]
fn reads_on_more_threads_than_kept_readers_see_every_write() {
    for kept in [0, 1, 8] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let storage = SqliteStorage::builder(dir.path().join("threads"))
                .max_idle_readers(kept)
                .open()
                .await
                .unwrap();
            for round in 0..3u8 {
                let entry = Arc::new(sample_entry("https://example.com/t", vec![round; 64]));
                storage.put("k", Arc::clone(&entry)).await.unwrap();
                let reads: Vec<_> = (0..32)
                    .map(|_| {
                        let storage = storage.clone();
                        tokio::spawn(async move { storage.get("k", t0()).await.unwrap() })
                    })
                    .collect();
                for read in reads {
                    let found = read.await.unwrap();
                    assert_eq!(found.as_ref(), Some(&entry), "kept {kept}, round {round}");
                }
            }
        });
    }
}

/// A storage without a background sweeper: the test sweeps.
async fn unswept(path: std::path::PathBuf) -> SqliteStorage {
    SqliteStorage::builder(path)
        .sweep_interval(None)
        .open()
        .await
        .unwrap()
}

/// Rows past retention at `now`: `rows` of them, `size` bytes each, put
/// straight into the table (faster than the write path for thousands).
async fn insert_rows(storage: &SqliteStorage, first: u32, rows: u32, retain_until: i64, size: u32) {
    storage
        .with_connection(move |c| {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 + ?2 - 1)
                 INSERT INTO responses (key, method, url, status, size, created_at, expires, retain_until, kind, value)
                 SELECT 'k' || i, 'GET', 'https://example.com/' || i, 200, ?4, 0, 0, ?3, 0, zeroblob(?4) FROM n",
                rusqlite::params![first, rows, retain_until, size],
            )
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sweep_deletes_only_rows_past_retention_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let storage = unswept(dir.path().join("c")).await;
    let hour = Duration::from_secs(3600);
    for (key, entry) in entries_around_retention() {
        storage.put(key, Arc::new(entry)).await.unwrap();
    }
    assert_eq!(storage.sweep(t0() + 2 * hour).await.unwrap(), 2);
    assert!(
        !storage.contains("default", t0()).await.unwrap(),
        "no retention: an hour past expiry"
    );
    assert_eq!(storage.sweep(t0() + 2 * hour).await.unwrap(), 0);
    assert!(!storage.contains("gone", t0()).await.unwrap());
    assert!(
        storage
            .get("stale", t0() + 2 * hour)
            .await
            .unwrap()
            .is_some(),
        "expired but within retention: kept for revalidation"
    );
    assert!(
        storage
            .get("forever", t0() + 2 * hour)
            .await
            .unwrap()
            .is_some()
    );

    // More than one batch (10,000 rows a transaction): every one goes.
    insert_rows(&storage, 0, 25_000, 1, 1).await;
    assert_eq!(storage.sweep(t0()).await.unwrap(), 25_000);
    assert_eq!(storage.len().await.unwrap(), 2);
}

#[tokio::test]
async fn swept_pages_are_reused_so_the_file_stops_growing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = unswept(dir.path().join("c")).await;
    let pages = || async {
        storage
            .with_connection(|c| c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap()
    };
    // Round after round of 2,000 entries of 4 KiB, each round past its
    // retention by the next: the database holds one round's pages.
    let mut after_round = Vec::new();
    for round in 0..4u32 {
        insert_rows(&storage, round * 2_000, 2_000, 1, 4096).await;
        after_round.push(pages().await);
        storage.sweep(t0()).await.unwrap();
    }
    assert_eq!(storage.len().await.unwrap(), 0);
    let first = after_round[0];
    for (round, pages) in after_round.iter().enumerate() {
        assert!(
            *pages <= first + first / 10,
            "round {round}: {pages} pages against {first} after the first: {after_round:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_background_sweeper_deletes_rows_past_retention_after_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(600);
    // Past retention by the real clock, which the sweeper reads; written
    // through a handle without a sweeper.
    let entry = past_retention_by_the_real_clock("https://example.com/old");
    let writer = unswept(dir.path().join("c")).await;
    writer.put("old", Arc::new(entry)).await.unwrap();
    let storage = SqliteStorage::builder(dir.path().join("c"))
        .sweep_interval(Some(interval))
        .open()
        .await
        .unwrap();
    // Tokio's paused clock moves on whenever the test waits for the blocking
    // pool, so the first sweep may come before this line; it must come.
    tokio::time::advance(interval).await;
    // The sweep runs on the blocking pool: wait for its work, not for time.
    yield_until("the sweeper never deleted the row", || async {
        writer.len().await.unwrap() == 0
    })
    .await;
    drop(storage);
}
