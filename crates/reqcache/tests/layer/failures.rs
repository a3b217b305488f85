//! stale_if_error, and storages that fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqcache::storage::backend::StoredRecord;
use reqcache::storage::{EntryInfo, Storage, StorageErrorKind};
use reqcache::{CacheOutcome, StorageError};

use crate::support::*;

fn flaky() -> Upstream {
    // Call 0 succeeds; then an error, a 500, and a 404.
    Upstream::new(|_, n| match n {
        0 => Ok(response(200, &[], "good data")),
        1 => Err(UpstreamError("connection refused")),
        2 => Ok(response(500, &[], "oops")),
        _ => Ok(response(404, &[], "moved")),
    })
}

#[tokio::test]
async fn stale_if_error_serves_stale_data_on_errors_and_error_statuses() {
    let mut h = Harness::new(flaky(), |b| b.expire_after(10).stale_if_error(true));
    h.get("http://e.com/").await;
    h.advance(11);
    for _ in 0..3 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "good data");
        assert!(r.cache.from_cache() && r.cache.is_expired());
        assert_eq!(r.cache.outcome(), CacheOutcome::StaleOnError);
    }
    assert_eq!(h.calls(), 4);
    assert_eq!(h.cache().stats().stale_served, 3);
}

#[tokio::test]
async fn without_stale_if_error_errors_pass_through_unchanged() {
    let mut h = Harness::new(flaky(), |b| b.expire_after(10));
    h.get("http://e.com/").await;
    h.advance(11);
    assert_eq!(
        h.try_send(get("http://e.com/")).await.unwrap_err(),
        UpstreamError("connection refused")
    );
    assert_eq!(h.get("http://e.com/").await.status, 500);
    assert_eq!(h.get("http://e.com/").await.status, 404);
}

#[tokio::test]
async fn with_nothing_stored_an_error_is_an_error() {
    let mut h = Harness::new(Upstream::new(|_, _| Err(UpstreamError("down"))), |b| {
        b.stale_if_error(true)
    });
    assert_eq!(
        h.try_send(get("http://e.com/")).await.unwrap_err(),
        UpstreamError("down")
    );
}

/// A storage whose every operation fails, counting the attempts.
#[derive(Debug, Default)]
struct BrokenStorage {
    attempts: AtomicUsize,
}

impl BrokenStorage {
    fn fail<T>(&self) -> Result<T, StorageError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(StorageError::new(
            StorageErrorKind::Backend,
            "connection refused",
        ))
    }
}

#[async_trait]
impl Storage for BrokenStorage {
    async fn get_record(
        &self,
        _: &str,
        _: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        self.fail()
    }
    async fn put_record(&self, _: &str, _: StoredRecord) -> Result<(), StorageError> {
        self.fail()
    }
    async fn delete(&self, _: &str) -> Result<bool, StorageError> {
        self.fail()
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.fail()
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.fail()
    }
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.fail()
    }
    async fn remove_expired(&self, _: SystemTime) -> Result<u64, StorageError> {
        self.fail()
    }
}

#[tokio::test]
async fn a_failing_storage_never_fails_a_request() {
    let storage = Arc::new(BrokenStorage::default());
    // The breaker off: every call reaches the storage.
    let mut h = Harness::with_storage(Arc::clone(&storage), Upstream::ok("fine", &[]), |b| {
        b.storage_breaker(0, Duration::from_secs(1))
    });
    for _ in 0..3 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "fine");
        // Storable: the write, behind the response, is what fails.
        assert_eq!(r.cache.outcome(), CacheOutcome::Storing);
    }
    assert_eq!(h.calls(), 3);
    // One read and one write attempt per request, each logged and counted.
    assert_eq!(storage.attempts.load(Ordering::SeqCst), 6);
    let stats = h.cache().stats();
    assert_eq!(
        (stats.storage_read_errors, stats.storage_write_errors),
        (3, 3)
    );
    assert_eq!((stats.misses, stats.stored, stats.hits), (3, 0, 0));
    // The handle, unlike requests, reports the failure.
    assert_eq!(
        h.cache().len().await.unwrap_err().kind(),
        StorageErrorKind::Backend
    );
}

#[tokio::test]
async fn an_oversized_entry_for_memory_storage_is_answered_uncached() {
    let storage = reqcache::MemoryStorage::builder().max_size(100).build();
    let mut h = Harness::with_storage(
        storage,
        Upstream::ok(
            "a body that is long enough to exceed a hundred bytes once headers are counted, surely",
            &[],
        ),
        |b| b,
    );
    let r = h.get("http://e.com/").await;
    assert!(r.body.starts_with(b"a body"));
    h.cache().flush().await;
    assert_eq!(h.cache().len().await.unwrap(), 0);
    assert_eq!(h.cache().stats().stored, 0);
    assert!(!h.get("http://e.com/").await.cache.from_cache());
}

#[tokio::test]
async fn entries_too_large_for_the_storage_are_counted_apart_and_never_open_the_breaker() {
    // A bound that one response fits and the others do not.
    let storage = Arc::new(reqcache::MemoryStorage::builder().max_size(600).build());
    let large = "x".repeat(2000);
    let body: &'static str = Box::leak(large.into_boxed_str());
    let mut h = Harness::with_storage(
        Arc::clone(&storage),
        Upstream::new(move |seen, _| {
            let body = if seen.uri.path() == "/small" {
                "small"
            } else {
                body
            };
            Ok(response(200, &[], body))
        }),
        |b| {
            b.expire_after(60)
                .storage_breaker(3, Duration::from_secs(60))
        },
    );
    for i in 0..10 {
        h.get(&format!("http://e.com/large/{i}")).await;
    }
    h.get("http://e.com/small").await;
    h.cache().flush().await;
    let stats = h.cache().stats();
    assert_eq!(stats.writes_refused, 10);
    assert_eq!(stats.storage_write_errors, 0);
    assert_eq!(stats.breaker_trips, 0);
    assert!(!stats.write_breaker_open);
    assert_eq!(
        storage.len().await.unwrap(),
        1,
        "the small response is stored"
    );
}
