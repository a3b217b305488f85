//! The cache handle's maintenance: filters, reset_expiration, contains by
//! request, copying between storages, re-keying.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use reqcache::handle::EntryFilter;
use reqcache::storage::Storage;
use reqcache::{Expiration, MemoryStorage};

use crate::support::*;

async fn three_entries() -> Harness {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(100));
    h.get("http://e.com/a").await;
    h.advance(50);
    h.get("http://e.com/b").await;
    h.advance(60); // a is expired now, b is not
    h.send(request(Method::GET, "http://e.com/c", &[], b""))
        .await;
    h
}

fn urls(entries: Vec<reqcache::storage::EntryInfo>) -> Vec<String> {
    let mut urls: Vec<String> = entries.into_iter().map(|e| e.url).collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn entries_where_selects_by_expiry_and_age() {
    let h = three_entries().await;
    let cache = h.cache();
    assert_eq!(
        urls(
            cache
                .entries_where(&EntryFilter::new().expired())
                .await
                .unwrap()
        ),
        ["http://e.com/a"]
    );
    assert_eq!(
        urls(
            cache
                .entries_where(&EntryFilter::new().valid())
                .await
                .unwrap()
        ),
        ["http://e.com/b", "http://e.com/c"]
    );
    assert_eq!(
        urls(
            cache
                .entries_where(&EntryFilter::new().older_than(Duration::from_secs(55)))
                .await
                .unwrap()
        ),
        ["http://e.com/a", "http://e.com/b"]
    );
    assert!(
        cache
            .entries_where(&EntryFilter::new())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn delete_where_combines_keys_urls_and_expiry() {
    let mut h = three_entries().await;
    let c_key = h.cache().key_for(
        &http::Request::get("http://e.com/c")
            .body(Vec::<u8>::new())
            .unwrap(),
    );
    let deleted = h
        .cache()
        .delete_where(
            &EntryFilter::new()
                .keys([c_key])
                .urls(["HTTP://E.COM/b"])
                .expired(),
        )
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    assert!(h.cache().is_empty().await.unwrap());
    assert!(!h.get("http://e.com/a").await.cache.from_cache());
}

#[tokio::test]
async fn contains_request_and_reset_expiration() {
    let mut h = three_entries().await;
    let request = http::Request::get("http://e.com/b")
        .body(Vec::<u8>::new())
        .unwrap();
    assert!(h.cache().contains_request(&request).await.unwrap());
    assert_eq!(
        h.cache()
            .reset_expiration(Duration::from_secs(1000))
            .await
            .unwrap(),
        3
    );
    for entry in h.cache().entries().await.unwrap() {
        assert_eq!(
            entry.expires,
            Some(start() + Duration::from_secs(110 + 1000))
        );
    }
    assert!(
        h.get("http://e.com/a").await.cache.from_cache(),
        "a is fresh again"
    );
    h.cache()
        .reset_expiration(Expiration::Immediately)
        .await
        .unwrap();
    assert_eq!(
        h.cache()
            .entries_where(&EntryFilter::new().expired())
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn copy_to_migrates_every_entry_to_another_storage() {
    let mut h = three_entries().await;
    let other = Arc::new(MemoryStorage::new());
    assert_eq!(h.cache().copy_to(&*other).await.unwrap(), 3);
    let mut moved = Harness::with_storage(Arc::clone(&other), Upstream::ok("y", &[]), |b| b);
    moved.clock.set(start() + Duration::from_secs(110));
    assert!(moved.get("http://e.com/c").await.cache.from_cache());
    assert_eq!(moved.calls(), 0);
    assert_eq!(other.len().await.unwrap(), 3);
    assert!(
        h.get("http://e.com/c").await.cache.from_cache(),
        "the source keeps its entries"
    );
}

#[tokio::test]
async fn rekey_moves_entries_to_the_keys_of_new_settings() {
    let storage = Arc::new(MemoryStorage::new());
    let mut before = Harness::with_storage(Arc::clone(&storage), Upstream::ok("x", &[]), |b| b);
    before.get("http://e.com/page?utm_source=mail&id=1").await;
    before.get("http://e.com/same").await;
    before
        .send(request(
            Method::GET,
            "http://e.com/private",
            &[("authorization", "secret")],
            b"",
        ))
        .await;

    // New settings: utm_source no longer matters, so the old key is a miss.
    let mut after = Harness::with_storage(Arc::clone(&storage), Upstream::ok("x", &[]), |b| {
        b.ignored_parameters(["utm_source"])
    });
    let page = http::Request::get("http://e.com/page?id=1")
        .body(Vec::<u8>::new())
        .unwrap();
    assert!(!after.cache().contains_request(&page).await.unwrap());

    let report = after.cache().rekey().await.unwrap();
    assert_eq!(
        (report.rekeyed, report.unchanged, report.skipped),
        (1, 1, 1),
        "{report:?}"
    );
    assert!(after.cache().contains_request(&page).await.unwrap());
    assert!(after.get("http://e.com/page?id=1").await.cache.from_cache());
    assert!(after.get("http://e.com/same").await.cache.from_cache());
    assert_eq!(after.calls(), 0);
    assert_eq!(storage.len().await.unwrap(), 3);
}
