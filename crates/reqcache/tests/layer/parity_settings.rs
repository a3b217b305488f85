//! requests-cache parity, second pass: settings and behaviours (issue 17,
//! items 1-4 and 6-8). Item 5 (the response's freshness sets the stored expiry
//! when the request has `max-age`) is in `expiration.rs`. Each test fails
//! without its change.

use std::time::Duration;

use reqcache::{CacheOutcome, Expiration, RequestOptions, UrlExpiration};

use crate::support::*;

/// Call 0 answers `first` (status, body); every later call answers `then`.
fn first_then(first: (u16, &'static str), then: (u16, &'static str)) -> Upstream {
    Upstream::new(move |_, n| {
        let (status, body) = if n == 0 { first } else { then };
        Ok(response(status, &[], body))
    })
}

/// Call 0 answers 200; every later call fails to connect.
fn then_down() -> Upstream {
    Upstream::new(|_, n| match n {
        0 => Ok(response(200, &[], "good data")),
        _ => Err(UpstreamError("connection refused")),
    })
}

#[tokio::test]
async fn stale_if_error_with_a_window_serves_stale_data_only_within_it() {
    let mut h = Harness::new(then_down(), |b| {
        b.expire_after(10).stale_if_error(Duration::from_secs(60))
    });
    h.get("http://e.com/").await;
    h.advance(10 + 60);
    let within = h.get("http://e.com/").await;
    assert_eq!(within.cache.outcome(), CacheOutcome::StaleOnError);
    assert_eq!(within.body, "good data");
    h.advance(1);
    let past = h.try_send(get("http://e.com/")).await;
    assert!(
        past.is_err(),
        "past the window the upstream's error is the answer"
    );
}

#[tokio::test]
async fn stale_if_error_past_its_window_returns_the_error_status() {
    let mut h = Harness::new(first_then((200, "ok"), (503, "busy")), |b| {
        b.expire_after(10).stale_if_error(Duration::from_secs(5))
    });
    h.get("http://e.com/").await;
    h.advance(16);
    let r = h.get("http://e.com/").await;
    assert_eq!(r.status, 503);
    assert!(!r.cache.from_cache());
}

#[tokio::test]
async fn do_not_cache_skips_reads_and_writes_at_every_level() {
    // Layer-wide.
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.expire_after(Expiration::DoNotCache)
    });
    h.get("http://e.com/").await;
    let second = h.get("http://e.com/").await;
    assert_eq!(second.cache.outcome(), CacheOutcome::Bypassed);
    assert_eq!(h.calls(), 2);
    assert!(h.cache().is_empty().await.unwrap());

    // By URL pattern, and per request, over an entry stored before: not read.
    let patterns = UrlExpiration::new()
        .pattern("e.com/private", Expiration::DoNotCache)
        .unwrap();
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.urls_expire_after(patterns));
    h.get("http://e.com/private/1").await;
    h.get("http://e.com/private/1").await;
    assert_eq!(h.calls(), 2, "the pattern skips the cache");
    h.get("http://e.com/public").await;
    let mut skip = get("http://e.com/public");
    skip.extensions_mut()
        .insert(RequestOptions::new().expire_after(Expiration::DoNotCache));
    assert_eq!(h.send(skip).await.cache.outcome(), CacheOutcome::Bypassed);
    assert_eq!(h.calls(), 4, "stored, but not read for this request");
    assert!(h.get("http://e.com/public").await.cache.from_cache());
}

#[tokio::test]
async fn expire_immediately_stores_with_a_validator_and_revalidates_every_use() {
    let with_etag = Upstream::new(|seen, n| {
        Ok(if n > 0 && seen.headers.contains_key("if-none-match") {
            response(304, &[("etag", "\"v1\"")], "")
        } else {
            response(200, &[("etag", "\"v1\"")], "body")
        })
    });
    let mut h = Harness::new(with_etag.clone(), |b| b.expire_after(0));
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::Storing
    );
    for _ in 0..2 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.cache.outcome(), CacheOutcome::Revalidated);
        assert_eq!(r.body, "body");
    }
    assert_eq!(h.calls(), 3, "each use asks upstream, conditionally");

    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.expire_after(Expiration::Immediately)
    });
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::NotStored
    );
    assert!(
        h.cache().is_empty().await.unwrap(),
        "nothing to revalidate with: not stored"
    );
}

#[tokio::test]
async fn an_error_status_in_allowable_codes_is_returned_and_stored() {
    let mut h = Harness::new(first_then((200, "here"), (404, "gone")), |b| {
        b.expire_after(10)
            .allowable_codes([200, 404])
            .stale_if_error(true)
    });
    h.get("http://e.com/").await;
    h.advance(11);
    let r = h.get("http://e.com/").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "gone");
    assert_eq!(r.cache.outcome(), CacheOutcome::Storing);
    assert_eq!(h.get("http://e.com/").await.status, 404, "and stored");
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn refresh_without_a_validator_answers_from_the_cache() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(60));
    h.get("http://e.com/").await;
    let mut refresh = get("http://e.com/");
    refresh
        .extensions_mut()
        .insert(RequestOptions::new().refresh());
    let r = h.send(refresh).await;
    assert!(r.cache.from_cache());
    assert_eq!(h.calls(), 1, "nothing to revalidate with: no request");
}

#[tokio::test]
async fn only_if_cached_wins_over_refresh() {
    let mut h = Harness::new(Upstream::ok("x", &[("etag", "\"v\"")]), |b| {
        b.expire_after(60)
    });
    h.get("http://e.com/").await;
    for options in [
        RequestOptions::new().refresh().only_if_cached(),
        RequestOptions::new().force_refresh().only_if_cached(),
    ] {
        let mut request = get("http://e.com/");
        request.extensions_mut().insert(options);
        let r = h.send(request).await;
        assert_eq!(r.cache.outcome(), CacheOutcome::Hit, "{options:?}");
    }
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn a_304_to_an_unconditional_request_serves_the_refreshed_entry() {
    let mut h = Harness::new(first_then((200, "cached body"), (304, "")), |b| {
        b.expire_after(10)
    });
    h.get("http://e.com/").await;
    h.advance(11);
    let r = h.get("http://e.com/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "cached body");
    assert_eq!(r.cache.outcome(), CacheOutcome::Revalidated);
    assert!(
        h.get("http://e.com/").await.cache.from_cache(),
        "fresh again"
    );
    assert_eq!(h.calls(), 2);
}

/// Lets the background refresh, a task on this runtime, run.
async fn let_background_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn stale_while_revalidate_as_a_layer_setting_refreshes_once_in_the_background() {
    let upstream = first_then((200, "old"), (200, "new"));
    let mut h = Harness::new(upstream, |b| {
        b.expire_after(10)
            .stale_while_revalidate(Duration::from_secs(60))
    });
    h.get("http://e.com/").await;
    h.advance(30);
    for _ in 0..3 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.body, "old");
        assert!(r.cache.from_cache() && r.cache.is_expired());
        assert_eq!(r.cache.outcome(), CacheOutcome::StaleWhileRevalidate);
    }
    let_background_run().await;
    assert_eq!(h.calls(), 2, "one refresh for three stale answers");
    assert_eq!(h.get("http://e.com/").await.body, "new");
    h.advance(10 + 61);
    let past = h.get("http://e.com/").await;
    assert_eq!(
        past.cache.outcome(),
        CacheOutcome::Storing,
        "past the window: waits for upstream"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn stale_while_revalidate_per_request_overrides_the_layer() {
    let upstream = first_then((200, "old"), (200, "new"));
    let mut h = Harness::new(upstream, |b| b.expire_after(10));
    h.get("http://e.com/").await;
    h.advance(30);
    let mut request = get("http://e.com/");
    request
        .extensions_mut()
        .insert(RequestOptions::new().stale_while_revalidate(true));
    let r = h.send(request).await;
    assert_eq!(
        (r.body.as_ref(), r.cache.outcome()),
        (&b"old"[..], CacheOutcome::StaleWhileRevalidate)
    );
    let_background_run().await;
    assert_eq!(h.calls(), 2);

    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.expire_after(10).stale_while_revalidate(true)
    });
    h.get("http://e.com/").await;
    h.advance(30);
    let mut off = get("http://e.com/");
    off.extensions_mut()
        .insert(RequestOptions::new().stale_while_revalidate(false));
    assert_eq!(h.send(off).await.cache.outcome(), CacheOutcome::Storing);
}
