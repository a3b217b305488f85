//! Per-request options, the disabled scope and the per-request bypass.

use reqcache::{CacheOutcome, RequestOptions};

use crate::support::*;

fn with(options: RequestOptions, uri: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut request = get(uri);
    request.extensions_mut().insert(options);
    request
}

#[tokio::test]
async fn only_if_cached_answers_504_on_a_miss_without_calling_upstream() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    let miss = h
        .send(with(
            RequestOptions::new().only_if_cached(),
            "http://e.com/",
        ))
        .await;
    assert_eq!(miss.status, 504);
    assert_eq!(miss.cache.outcome(), CacheOutcome::OnlyIfCachedMiss);
    assert_eq!(h.calls(), 0);
    h.get("http://e.com/").await;
    let hit = h
        .send(with(
            RequestOptions::new().only_if_cached(),
            "http://e.com/",
        ))
        .await;
    assert_eq!(hit.status, 200);
    assert!(hit.cache.from_cache());
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn only_if_cached_does_not_answer_stale_data_unless_stale_if_error() {
    for stale_if_error in [false, true] {
        let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
            b.expire_after(10).stale_if_error(stale_if_error)
        });
        h.get("http://e.com/").await;
        h.advance(11);
        let r = h
            .send(with(
                RequestOptions::new().only_if_cached(),
                "http://e.com/",
            ))
            .await;
        assert_eq!(r.status, if stale_if_error { 200 } else { 504 });
        assert_eq!(r.cache.is_expired(), stale_if_error);
        assert_eq!(h.calls(), 1);
    }
}

#[tokio::test]
async fn refresh_revalidates_a_fresh_entry() {
    let upstream = Upstream::new(|seen, _| {
        Ok(
            if seen
                .headers
                .get("if-none-match")
                .is_some_and(|v| v == "\"v1\"")
            {
                response(304, &[], "")
            } else {
                response(200, &[("etag", "\"v1\"")], "body")
            },
        )
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    let r = h
        .send(with(RequestOptions::new().refresh(), "http://e.com/"))
        .await;
    assert_eq!(h.calls(), 2);
    assert_eq!(h.upstream.last().headers["if-none-match"], "\"v1\"");
    assert!(r.cache.revalidated());
    assert!(r.cache.from_cache());
    assert_eq!(r.body, "body");
}

#[tokio::test]
async fn force_refresh_ignores_the_entry_and_stores_the_new_response() {
    let mut h = Harness::new(
        Upstream::new(|_, n| Ok(response(200, &[("etag", "\"e\"")], format!("v{n}")))),
        |b| b,
    );
    assert_eq!(h.get("http://e.com/").await.body, "v0");
    let r = h
        .send(with(RequestOptions::new().force_refresh(), "http://e.com/"))
        .await;
    assert_eq!(r.body, "v1");
    assert!(!r.cache.from_cache());
    assert!(h.upstream.last().headers.get("if-none-match").is_none());
    assert_eq!(h.get("http://e.com/").await.body, "v1");
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn per_request_expire_after() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.send(with(RequestOptions::new().expire_after(5), "http://e.com/"))
        .await;
    h.advance(6);
    assert!(!h.get("http://e.com/").await.cache.from_cache());
    h.send(with(
        RequestOptions::new().expire_after(0),
        "http://e.com/nocache",
    ))
    .await;
    assert!(!h.get("http://e.com/nocache").await.cache.from_cache());
}

#[tokio::test]
async fn bypass_neither_reads_nor_writes() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    let r = h
        .send(with(RequestOptions::new().bypass(), "http://e.com/"))
        .await;
    assert_eq!(r.cache.outcome(), CacheOutcome::Bypassed);
    assert_eq!(h.cache().len().await.unwrap(), 0);
    h.get("http://e.com/").await;
    let r = h
        .send(with(RequestOptions::new().bypass(), "http://e.com/"))
        .await;
    assert!(!r.cache.from_cache());
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn the_disabled_scope_covers_every_request_inside_it_and_nothing_outside() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("http://e.com/cached").await;
    let mut service = h.service.clone();
    reqcache::with_cache_disabled(async {
        for uri in [
            "http://e.com/cached",
            "http://e.com/new",
            "http://e.com/new",
        ] {
            let r = reply(
                tower::ServiceExt::oneshot(&mut service, get(uri))
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(r.cache.outcome(), CacheOutcome::Bypassed, "{uri}");
        }
        // A nested enabled scope turns caching back on.
        reqcache::with_cache_enabled(async {
            let r = reply(
                tower::ServiceExt::oneshot(&mut service, get("http://e.com/cached"))
                    .await
                    .unwrap(),
            )
            .await;
            assert!(r.cache.from_cache());
        })
        .await;
    })
    .await;
    assert_eq!(h.calls(), 4);
    assert!(h.get("http://e.com/cached").await.cache.from_cache());
    assert!(!h.cache().contains_url("http://e.com/new").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disabled_scope_does_not_leak_into_other_tasks() {
    let h = Harness::new(Upstream::ok("x", &[]), |b| b);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut service = h.service.clone();
        tasks.push(tokio::spawn(async move {
            let uri = format!("http://e.com/{i}");
            let call = async {
                let r = tower::ServiceExt::oneshot(&mut service, get(&uri))
                    .await
                    .unwrap();
                reply(r).await.cache.outcome()
            };
            let outcome = if i % 2 == 0 {
                reqcache::with_cache_disabled(call).await
            } else {
                call.await
            };
            (i, outcome)
        }));
    }
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        let expected = if i % 2 == 0 {
            CacheOutcome::Bypassed
        } else {
            CacheOutcome::Storing
        };
        assert_eq!(outcome, expected, "task {i}");
    }
    assert_eq!(h.cache().len().await.unwrap(), 20);
}

#[tokio::test]
async fn min_uses_stores_a_response_at_its_second_miss_and_never_a_scan() {
    let mut h = Harness::new(Upstream::ok("x", &[("cache-control", "max-age=60")]), |b| {
        b.min_uses(2)
    });
    let first = h.get("http://e.com/hot").await;
    assert_eq!(first.cache.outcome(), CacheOutcome::NotStored, "asked once");
    let second = h.get("http://e.com/hot").await;
    assert_eq!(second.cache.outcome(), CacheOutcome::Storing, "asked twice");
    h.cache().flush().await;
    assert!(h.get("http://e.com/hot").await.cache.from_cache());
    assert_eq!(h.calls(), 2);
    // A scan: a hundred URLs asked for once each store nothing.
    for i in 0..100 {
        h.get(&format!("http://e.com/scan/{i}")).await;
    }
    h.cache().flush().await;
    assert_eq!(h.cache().len().await.unwrap(), 1);
    // Without it (the default), the first miss stores.
    let mut plain = Harness::new(Upstream::ok("x", &[("cache-control", "max-age=60")]), |b| {
        b.min_uses(1)
    });
    assert_eq!(
        plain.get("http://e.com/hot").await.cache.outcome(),
        CacheOutcome::Storing
    );
}
