//! A response read to its end is in storage, in the library's default
//! (client) preset, without a `flush()`: under a load of misses as fast as
//! an in-process upstream answers, and across a drop of the cache and a
//! reopen of the same path, on both of Tokio's runtime flavours.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheService, CacheStatus};
use reqcache_fs::FileStorage;
use reqcache_sqlite::SqliteStorage;
use tower::{Layer, ServiceExt};

type Upstream =
    tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

/// An upstream in the process: each path's answer at once, `max-age=3600`.
fn upstream() -> Upstream {
    Upstream::new(tower::service_fn(
        |request: Request<Full<Bytes>>| async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("cache-control", "max-age=3600")
                    .body(Full::new(Bytes::from(request.uri().path().to_owned())))
                    .unwrap(),
            )
        },
    ))
}

/// One GET, its body read to the end: the outcome.
async fn fetch(service: &CacheService<Upstream>, path: &str) -> CacheOutcome {
    let request = Request::get(format!("http://api.test{path}"))
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let outcome = response
        .extensions()
        .get::<CacheStatus>()
        .unwrap()
        .outcome();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, path.as_bytes());
    outcome
}

/// Misses in all, from this many tasks.
const MISSES: usize = 20_000;
const TASKS: usize = 16;

/// Sends [`MISSES`] misses for URLs of their own over [`TASKS`] tasks; the
/// storage holds every one as soon as the last body has ended.
async fn every_miss_is_stored(storage: impl Storage + Clone) {
    let layer = CacheLayer::new(storage.clone());
    let service = layer.layer(upstream());
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let service = service.clone();
            tokio::spawn(async move {
                for i in (task..MISSES).step_by(TASKS) {
                    assert_eq!(
                        fetch(&service, &format!("/{i}")).await,
                        CacheOutcome::Storing
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // No flush: every body ended after its entry was written.
    assert_eq!(storage.len().await.unwrap(), MISSES as u64);
    let stats = layer.cache().stats();
    assert_eq!(
        (
            stats.stored,
            stats.writes_dropped,
            stats.storage_write_errors
        ),
        (MISSES as u64, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_misses_on_sqlite_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    every_miss_is_stored(SqliteStorage::open(dir.path().join("c")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_misses_on_files_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    every_miss_is_stored(FileStorage::open(dir.path().join("c")).await.unwrap()).await;
}

/// Reads a response, drops the whole cache at once, opens a new one on the
/// same path, and finds the response there.
async fn reopened_cache_finds_what_was_read<S, F>(
    dir: &Path,
    open: impl Fn(std::path::PathBuf) -> F,
) where
    S: Storage,
    F: Future<Output = S>,
{
    for round in 0..20 {
        let path = format!("/round/{round}");
        let service = CacheLayer::new(open(dir.join("cache")).await).layer(upstream());
        assert_eq!(fetch(&service, &path).await, CacheOutcome::Storing);
        drop(service);
        let service = CacheLayer::new(open(dir.join("cache")).await).layer(upstream());
        assert_eq!(
            fetch(&service, &path).await,
            CacheOutcome::Hit,
            "round {round}"
        );
    }
}

async fn sqlite(path: std::path::PathBuf) -> Arc<SqliteStorage> {
    Arc::new(SqliteStorage::open(path).await.unwrap())
}

async fn files(path: std::path::PathBuf) -> Arc<FileStorage> {
    Arc::new(FileStorage::open(path).await.unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_reopened_at_once_has_the_response_current_thread() {
    let dir = tempfile::tempdir().unwrap();
    reopened_cache_finds_what_was_read(dir.path(), sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopened_at_once_has_the_response_multi_thread() {
    let dir = tempfile::tempdir().unwrap();
    reopened_cache_finds_what_was_read(dir.path(), sqlite).await;
}

#[tokio::test(flavor = "current_thread")]
async fn files_reopened_at_once_have_the_response_current_thread() {
    let dir = tempfile::tempdir().unwrap();
    reopened_cache_finds_what_was_read(dir.path(), files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_reopened_at_once_have_the_response_multi_thread() {
    let dir = tempfile::tempdir().unwrap();
    reopened_cache_finds_what_was_read(dir.path(), files).await;
}

/// A runtime that ends right after the body was read (what returning from
/// `#[tokio::main]` does) leaves the entry stored.
fn entry_survives_the_runtime(runtime: tokio::runtime::Runtime, dir: &Path) {
    let path = dir.join("cache");
    runtime.block_on(async {
        let service = CacheLayer::new(sqlite(path.clone()).await).layer(upstream());
        assert_eq!(fetch(&service, "/last").await, CacheOutcome::Storing);
    });
    drop(runtime);
    let next = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    next.block_on(async {
        let service = CacheLayer::new(sqlite(path).await).layer(upstream());
        assert_eq!(fetch(&service, "/last").await, CacheOutcome::Hit);
    });
}

#[test]
fn an_entry_read_just_before_a_current_thread_runtime_ends_is_stored() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        entry_survives_the_runtime(runtime, dir.path());
    }
}

#[test]
fn an_entry_read_just_before_a_multi_thread_runtime_ends_is_stored() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        entry_survives_the_runtime(runtime, dir.path());
    }
}
