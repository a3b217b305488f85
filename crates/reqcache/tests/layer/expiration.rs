//! Expiration values, URL patterns and their precedence.

use std::time::Duration;

use reqcache::{CacheOutcome, Expiration, RequestOptions, UrlExpiration};

use crate::support::*;

#[tokio::test]
async fn never_expires_by_default() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("http://e.com/").await;
    h.advance(10 * 365 * 86_400);
    let hit = h.get("http://e.com/").await;
    assert!(hit.cache.from_cache());
    assert_eq!(hit.cache.expires(), None);
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn expire_immediately_means_do_not_cache() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(0));
    let first = h.get("http://e.com/").await;
    assert_eq!(first.cache.outcome(), CacheOutcome::NotStored);
    h.get("http://e.com/").await;
    assert_eq!(h.calls(), 2);
    assert_eq!(h.cache().len().await.unwrap(), 0);
}

#[tokio::test]
async fn seconds_durations_and_absolute_times_expire_on_time() {
    for expiration in [
        Expiration::from(60),
        Expiration::from(Duration::from_secs(60)),
        Expiration::At(start() + Duration::from_secs(60)),
    ] {
        let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.expire_after(expiration));
        h.get("http://e.com/").await;
        h.advance(59);
        assert!(
            h.get("http://e.com/").await.cache.from_cache(),
            "{expiration:?}"
        );
        h.advance(1);
        assert!(
            !h.get("http://e.com/").await.cache.from_cache(),
            "{expiration:?}"
        );
        assert_eq!(h.calls(), 2, "{expiration:?}");
    }
}

#[tokio::test]
async fn an_absolute_time_in_the_past_does_not_cache() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.expire_after(Expiration::At(start()))
    });
    h.get("http://e.com/").await;
    h.get("http://e.com/").await;
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn the_guides_allowlist_works() {
    let patterns = UrlExpiration::new()
        .pattern("*.site_1.com", 30)
        .unwrap()
        .pattern("site_2.com/static", -1)
        .unwrap()
        .pattern("*", 0)
        .unwrap();
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.urls_expire_after(patterns));
    for url in [
        "https://api.site_1.com/data",
        "http://site_2.com/static/logo.png",
        "http://site_2.com/api/users",
        "https://elsewhere.org/",
    ] {
        h.get(url).await;
        h.get(url).await;
    }
    // Cached: the site_1 and static URLs (one call each); the others twice.
    assert_eq!(h.calls(), 6);
    h.advance(31);
    assert!(
        !h.get("https://api.site_1.com/data")
            .await
            .cache
            .from_cache()
    );
    assert!(
        h.get("http://site_2.com/static/logo.png")
            .await
            .cache
            .from_cache()
    );
}

#[tokio::test]
async fn url_patterns_fall_back_to_expire_after() {
    let patterns = UrlExpiration::new().pattern("cached.com", 10).unwrap();
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.urls_expire_after(patterns).expire_after(100)
    });
    let r = h.get("http://other.com/").await;
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(100)));
    let r = h.get("http://cached.com/x").await;
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(10)));
}

/// The guide's order: request Cache-Control, response Cache-Control,
/// per-request, per-URL, per-session.
#[tokio::test]
async fn precedence_follows_the_guide() {
    let upstream = Upstream::new(|seen, _| {
        let max_age = seen
            .headers
            .get("x-response-max-age")
            .map(|v| v.to_str().unwrap().to_owned());
        let mut r = response(200, &[], "x");
        if let Some(max_age) = max_age {
            r.headers_mut().insert(
                "cache-control",
                format!("max-age={max_age}").parse().unwrap(),
            );
        }
        Ok(r)
    });
    let patterns = UrlExpiration::new().pattern("e.com", 40).unwrap();
    let mut h = Harness::new(upstream, |b| b.expire_after(50).urls_expire_after(patterns));
    let expires_in = |r: &Reply| {
        r.cache
            .expires()
            .unwrap()
            .duration_since(start())
            .unwrap()
            .as_secs()
    };

    let session_only = h.get("http://other.com/").await;
    assert_eq!(expires_in(&session_only), 50);
    let url = h.get("http://e.com/1").await;
    assert_eq!(expires_in(&url), 40);

    let mut per_request = get("http://e.com/2");
    per_request
        .extensions_mut()
        .insert(RequestOptions::new().expire_after(30));
    assert_eq!(expires_in(&h.send(per_request).await), 30);

    let mut response_cc = request(
        http::Method::GET,
        "http://e.com/3",
        &[("x-response-max-age", "20")],
        b"",
    );
    response_cc
        .extensions_mut()
        .insert(RequestOptions::new().expire_after(30));
    assert_eq!(expires_in(&h.send(response_cc).await), 20);

    let mut request_cc = request(
        http::Method::GET,
        "http://e.com/4",
        &[
            ("x-response-max-age", "20"),
            ("cache-control", "max-age=10"),
        ],
        b"",
    );
    request_cc
        .extensions_mut()
        .insert(RequestOptions::new().expire_after(30));
    // The response's own freshness sets the stored expiry; the request's
    // max-age only limits what is served (RFC 9111 section 5.2.1.1), as in
    // requests-cache 1.x.
    assert_eq!(expires_in(&h.send(request_cc).await), 20);

    // A response that states no freshness gets the request's max-age.
    let mut request_only = request(
        http::Method::GET,
        "http://e.com/5",
        &[("cache-control", "max-age=10")],
        b"",
    );
    request_only
        .extensions_mut()
        .insert(RequestOptions::new().expire_after(30));
    assert_eq!(expires_in(&h.send(request_only).await), 10);
}

#[tokio::test]
async fn with_cache_control_off_headers_do_not_set_expiration() {
    let mut h = Harness::new(Upstream::ok("x", &[("cache-control", "no-store")]), |b| {
        b.cache_control(false).expire_after(5)
    });
    let r = h.get("http://e.com/").await;
    assert_eq!(r.cache.outcome(), CacheOutcome::Storing);
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(5)));
}
