//! The cache handle: clear, delete, contains, len, remove_expired, listing.

use std::time::Duration;

use http::Method;
use reqcache::Expiration;

use crate::support::*;

async fn filled() -> Harness {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.allowable_methods([Method::GET, Method::HEAD])
    });
    // HEAD first: a HEAD after the GET would be answered from the GET entry.
    h.send(request(Method::HEAD, "http://e.com/a", &[], b""))
        .await;
    h.send(get("http://e.com/a")).await;
    h.send(get("http://e.com/b?z=1&y=2")).await;
    h
}

#[tokio::test]
async fn listing_shows_url_method_status_size_and_times() {
    let mut h = filled().await;
    h.advance(5);
    h.send(get("http://e.com/later")).await;
    let mut entries = h.cache().entries().await.unwrap();
    entries.sort_by(|a, b| (&a.url, a.method.as_str()).cmp(&(&b.url, b.method.as_str())));
    let summary: Vec<(String, Method)> = entries
        .iter()
        .map(|e| (e.url.clone(), e.method.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("http://e.com/a".to_owned(), Method::GET),
            ("http://e.com/a".to_owned(), Method::HEAD),
            ("http://e.com/b?y=2&z=1".to_owned(), Method::GET),
            ("http://e.com/later".to_owned(), Method::GET),
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.status == 200 && e.size > 0 && e.expires.is_none())
    );
    assert_eq!(entries[3].created_at, start() + Duration::from_secs(5));
    assert_eq!(h.cache().len().await.unwrap(), 4);
}

#[tokio::test]
async fn urls_lists_each_stored_url_once_sorted() {
    let h = filled().await;
    assert_eq!(
        h.cache().urls().await.unwrap(),
        ["http://e.com/a", "http://e.com/b?y=2&z=1"],
        "the GET and HEAD of /a are one URL"
    );
}

#[tokio::test]
async fn delete_by_key_and_by_url() {
    let mut h = filled().await;
    let key = h
        .get("http://e.com/b?y=2&z=1")
        .await
        .cache
        .key()
        .unwrap()
        .clone();
    assert!(h.cache().contains(&key).await.unwrap());
    assert!(h.cache().delete(&key).await.unwrap());
    assert!(!h.cache().contains(&key).await.unwrap());
    assert!(!h.cache().delete(&key).await.unwrap());

    assert!(h.cache().contains_url("HTTP://E.COM:80/a").await.unwrap());
    assert_eq!(h.cache().delete_url("http://E.com/a").await.unwrap(), 2);
    assert!(!h.cache().contains_url("http://e.com/a").await.unwrap());
    assert!(h.cache().is_empty().await.unwrap());
}

#[tokio::test]
async fn clear_empties_the_cache() {
    let mut h = filled().await;
    h.cache().clear().await.unwrap();
    assert_eq!(h.cache().len().await.unwrap(), 0);
    assert!(!h.get("http://e.com/a").await.cache.from_cache());
}

#[tokio::test]
async fn remove_expired_deletes_only_expired_entries() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(10));
    h.get("http://e.com/old").await;
    h.advance(5);
    h.get("http://e.com/new").await;
    h.advance(6);
    assert_eq!(h.cache().remove_expired().await.unwrap(), 1);
    let urls: Vec<String> = h
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.url)
        .collect();
    assert_eq!(urls, ["http://e.com/new"]);
}

#[tokio::test]
async fn remove_expired_with_a_new_expiration_renews_what_stays() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(10));
    h.get("http://e.com/1").await;
    h.get("http://e.com/2").await;
    h.advance(20);
    assert_eq!(
        h.cache()
            .remove_expired_with(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    for entry in h.cache().entries().await.unwrap() {
        assert_eq!(
            entry.expires,
            Some(start() + Duration::from_secs(20 + 3600))
        );
    }
    assert!(h.get("http://e.com/1").await.cache.from_cache());
    assert_eq!(
        h.cache()
            .remove_expired_with(Expiration::Immediately)
            .await
            .unwrap(),
        2
    );
    assert_eq!(h.cache().len().await.unwrap(), 0);
}

#[tokio::test]
async fn stale_retention_lets_storage_drop_old_entries() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.expire_after(10).stale_retention(Duration::from_secs(60))
    });
    h.get("http://e.com/").await;
    let key = h.get("http://e.com/").await.cache.key().unwrap().clone();
    h.advance(69);
    assert!(h.cache().contains(&key).await.unwrap());
    h.advance(1);
    assert!(!h.cache().contains(&key).await.unwrap());
}

#[tokio::test]
async fn the_key_for_a_request_matches_the_layers() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    let key = h
        .get("http://e.com/k?b=1&a=2")
        .await
        .cache
        .key()
        .unwrap()
        .clone();
    let request = http::Request::get("http://E.com/k?a=2&b=1")
        .body(Vec::<u8>::new())
        .unwrap();
    assert_eq!(h.cache().key_for(&request), key);
}
