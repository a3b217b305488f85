//! Hits, misses, CacheStatus, allowable methods and codes.

use std::time::Duration;

use http::Method;
use reqcache::{CacheOutcome, Expiration, MemoryStorage};

use crate::support::*;

#[tokio::test]
async fn a_fresh_hit_never_calls_upstream_and_reports_its_status() {
    let mut h = Harness::new(Upstream::ok("hello", &[("x-a", "1")]), |b| {
        b.expire_after(60)
    });
    let miss = h.get("http://example.com/a").await;
    assert_eq!(miss.body, "hello");
    assert!(!miss.cache.from_cache());
    assert_eq!(miss.cache.outcome(), CacheOutcome::Storing);
    assert_eq!(miss.cache.created_at(), Some(start()));
    assert_eq!(
        miss.cache.expires(),
        Some(start() + Duration::from_secs(60))
    );

    h.advance(30);
    for _ in 0..5 {
        let hit = h.get("http://example.com/a").await;
        assert_eq!(hit.body, "hello");
        assert_eq!(hit.headers["x-a"], "1");
        assert!(hit.cache.from_cache());
        assert!(!hit.cache.is_expired());
        assert!(!hit.cache.revalidated());
        assert_eq!(hit.cache.outcome(), CacheOutcome::Hit);
        assert_eq!(hit.cache.created_at(), Some(start()));
        assert_eq!(hit.cache.expires(), Some(start() + Duration::from_secs(60)));
        assert_eq!(hit.cache.key(), miss.cache.key());
        assert!(hit.cache.key().is_some());
    }
    assert_eq!(h.calls(), 1);
    let stats = h.cache().stats();
    assert_eq!((stats.hits, stats.misses, stats.stored), (5, 1, 1));
}

#[tokio::test]
async fn only_get_and_head_are_cached_by_default() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    for _ in 0..2 {
        let r = h
            .send(request(Method::POST, "http://example.com/", &[], b"{}"))
            .await;
        assert_eq!(r.cache.outcome(), CacheOutcome::Bypassed);
        assert!(r.cache.key().is_none());
    }
    assert_eq!(h.calls(), 2);
    h.send(request(Method::HEAD, "http://example.com/", &[], b""))
        .await;
    let head = h
        .send(request(Method::HEAD, "http://example.com/", &[], b""))
        .await;
    assert!(head.cache.from_cache());
    // HEAD and GET are keyed apart: a GET is still a miss.
    assert!(!h.get("http://example.com/").await.cache.from_cache());
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn allowable_methods_caches_post_keyed_by_body() {
    let mut h = Harness::new(
        Upstream::new(|seen, _| {
            Ok(response(
                200,
                &[],
                String::from_utf8(seen.body.to_vec()).unwrap(),
            ))
        }),
        |b| b.allowable_methods([Method::GET, Method::POST]),
    );
    let a = || request(Method::POST, "http://example.com/p", &[], b"one");
    let b = || request(Method::POST, "http://example.com/p", &[], b"two");
    assert_eq!(h.send(a()).await.body, "one");
    assert_eq!(h.send(b()).await.body, "two");
    let again = h.send(a()).await;
    assert!(again.cache.from_cache());
    assert_eq!(again.body, "one");
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn only_status_200_is_cached_by_default() {
    let mut h = Harness::new(
        Upstream::new(|_, _| Ok(response(404, &[], "missing"))),
        |b| b,
    );
    h.get("http://example.com/").await;
    let second = h.get("http://example.com/").await;
    assert_eq!(second.status, 404);
    assert_eq!(second.cache.outcome(), CacheOutcome::NotStored);
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn allowable_codes_adds_statuses() {
    let mut h = Harness::new(
        Upstream::new(|_, _| Ok(response(418, &[], "teapot"))),
        |b| b.allowable_codes([http::StatusCode::OK, http::StatusCode::IM_A_TEAPOT]),
    );
    h.get("http://example.com/teapot").await;
    let hit = h.get("http://example.com/teapot").await;
    assert_eq!(hit.status, 418);
    assert!(hit.cache.from_cache());
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn relative_request_uris_work_for_server_side_use() {
    let mut h = Harness::new(Upstream::ok("page", &[]), |b| b);
    let req = || {
        request(
            Method::GET,
            "/page?b=2&a=1",
            &[("host", "site.example")],
            b"",
        )
    };
    h.send(req()).await;
    assert!(h.send(req()).await.cache.from_cache());
    let other_host = request(
        Method::GET,
        "/page?b=2&a=1",
        &[("host", "other.example")],
        b"",
    );
    assert!(!h.send(other_host).await.cache.from_cache());
    let urls: Vec<String> = h
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.url)
        .collect();
    assert_eq!(urls, ["/page?a=1&b=2", "/page?a=1&b=2"]);
}

#[tokio::test]
async fn memory_storage_evicts_least_recently_used_through_the_layer() {
    let storage = MemoryStorage::builder().max_entries(2).build();
    let mut h = Harness::with_storage(storage, Upstream::ok("x", &[]), |b| {
        b.expire_after(Expiration::Never)
    });
    h.get("http://e.com/1").await;
    h.get("http://e.com/2").await;
    h.get("http://e.com/1").await; // 2 is now least recently used
    h.get("http://e.com/3").await;
    assert_eq!(h.calls(), 3);
    assert!(h.get("http://e.com/1").await.cache.from_cache());
    assert!(!h.get("http://e.com/2").await.cache.from_cache());
    assert_eq!(h.cache().len().await.unwrap(), 2);
}
