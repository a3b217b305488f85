//! Cache-Control, Expires, conditional requests and 304 handling.

use std::time::Duration;

use http::Method;
use reqcache::CacheOutcome;

use crate::support::*;

#[tokio::test]
async fn response_max_age_sets_expiration() {
    let mut h = Harness::new(
        Upstream::ok("x", &[("cache-control", "public, max-age=30")]),
        |b| b,
    );
    let r = h.get("http://e.com/").await;
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(30)));
    h.advance(29);
    assert!(h.get("http://e.com/").await.cache.from_cache());
    h.advance(1);
    assert!(!h.get("http://e.com/").await.cache.from_cache());
}

#[tokio::test]
async fn response_no_store_is_not_stored_even_with_expire_after() {
    let mut h = Harness::new(
        Upstream::ok("x", &[("cache-control", "max-age=60, no-store")]),
        |b| b.expire_after(60),
    );
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::NotStored
    );
    h.get("http://e.com/").await;
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn response_expires_is_an_absolute_expiration() {
    // start() is 2023-11-14T22:13:20Z.
    let mut h = Harness::new(
        Upstream::ok("x", &[("expires", "Tue, 14 Nov 2023 22:14:20 GMT")]),
        |b| b,
    );
    let r = h.get("http://e.com/").await;
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(60)));
    let mut h = Harness::new(
        Upstream::ok("x", &[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]),
        |b| b,
    );
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::NotStored
    );
}

#[tokio::test]
async fn malformed_directives_are_ignored_and_an_invalid_expires_means_expired() {
    let mut h = Harness::new(
        Upstream::ok(
            "x",
            &[
                ("cache-control", "max-age=soon, ,=, foo=\"a,b\""),
                ("date", "not a date either"),
            ],
        ),
        |b| b.expire_after(10),
    );
    let r = h.get("http://e.com/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(10)));
    let r = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-age=-5, no-such")],
            b"",
        ))
        .await;
    assert!(r.cache.from_cache());

    // RFC 9111 section 5.3: an invalid Expires ("0", garbage) means "already
    // expired": not an error, and not stored without a validator.
    for expires in ["0", "yesterday-ish"] {
        let mut h = Harness::new(
            Upstream::new(move |_, _| Ok(response(200, &[("expires", expires)], "x"))),
            |b| b.expire_after(10),
        );
        assert_eq!(
            h.get("http://e.com/").await.cache.outcome(),
            CacheOutcome::NotStored,
            "{expires}"
        );
    }
}

#[tokio::test]
async fn request_no_store_neither_reads_nor_writes() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    let no_store = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "no-store")],
            b"",
        )
    };
    h.send(no_store()).await;
    assert_eq!(h.cache().len().await.unwrap(), 0);
    h.get("http://e.com/").await;
    assert_eq!(
        h.send(no_store()).await.cache.outcome(),
        CacheOutcome::Bypassed
    );
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn request_no_cache_skips_the_stored_response() {
    let mut h = Harness::new(
        Upstream::new(|_, n| Ok(response(200, &[], format!("v{n}")))),
        |b| b,
    );
    h.get("http://e.com/").await;
    let r = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "no-cache")],
            b"",
        ))
        .await;
    assert_eq!(r.body, "v1");
    assert!(!r.cache.from_cache());
    // ...and stores the new response.
    assert_eq!(h.get("http://e.com/").await.body, "v1");
}

#[tokio::test]
async fn request_max_age_limits_the_age_of_what_is_served() {
    let mut h = Harness::new(
        Upstream::new(|_, n| Ok(response(200, &[], format!("v{n}")))),
        |b| b,
    );
    h.get("http://e.com/").await;
    h.advance(100);
    let fresh_enough = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-age=200")],
            b"",
        ))
        .await;
    assert!(fresh_enough.cache.from_cache());
    let too_old = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-age=50")],
            b"",
        ))
        .await;
    assert_eq!(too_old.body, "v1");
    assert_eq!(
        too_old.cache.expires(),
        Some(start() + Duration::from_secs(150))
    );
}

fn validating_upstream() -> Upstream {
    Upstream::new(|seen, _| {
        let etag_matches = seen
            .headers
            .get("if-none-match")
            .is_some_and(|v| v == "\"v1\"");
        let date_matches = seen
            .headers
            .get("if-modified-since")
            .is_some_and(|v| v == "Mon, 13 Nov 2023 00:00:00 GMT");
        Ok(if etag_matches || date_matches {
            response(
                304,
                &[("cache-control", "max-age=100"), ("x-refreshed", "yes")],
                "",
            )
        } else {
            response(
                200,
                &[
                    ("etag", "\"v1\""),
                    ("last-modified", "Mon, 13 Nov 2023 00:00:00 GMT"),
                    ("cache-control", "max-age=10"),
                    ("x-refreshed", "no"),
                ],
                "the body",
            )
        })
    })
}

#[tokio::test]
async fn a_stale_entry_is_revalidated_and_a_304_refreshes_it() {
    let mut h = Harness::new(validating_upstream(), |b| b);
    h.get("http://e.com/").await;
    h.advance(11);
    let r = h.get("http://e.com/").await;
    let sent = h.upstream.last();
    assert_eq!(sent.headers["if-none-match"], "\"v1\"");
    assert_eq!(
        sent.headers["if-modified-since"],
        "Mon, 13 Nov 2023 00:00:00 GMT"
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "the body");
    assert!(r.cache.from_cache() && r.cache.revalidated() && !r.cache.is_expired());
    assert_eq!(r.cache.outcome(), CacheOutcome::Revalidated);
    assert_eq!(r.headers["x-refreshed"], "yes");
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(111)));

    // The refreshed entry is stored: a hit now, with the new headers.
    let hit = h.get("http://e.com/").await;
    assert_eq!(hit.cache.outcome(), CacheOutcome::Hit);
    assert_eq!(hit.headers["x-refreshed"], "yes");
    assert_eq!(hit.body, "the body");
    assert_eq!(h.calls(), 2);
    assert_eq!(h.cache().stats().revalidated, 1);
}

#[tokio::test]
async fn a_response_stale_at_once_with_a_validator_is_kept_and_revalidated_each_time() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("if-none-match") {
            response(304, &[], "")
        } else {
            response(
                200,
                &[("etag", "\"a\""), ("cache-control", "no-cache")],
                "x",
            )
        })
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    for _ in 0..3 {
        let r = h.get("http://e.com/").await;
        assert!(r.cache.revalidated());
        assert_eq!(r.body, "x");
    }
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn a_clients_own_conditional_request_is_passed_through() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("if-none-match") {
            response(304, &[], "")
        } else {
            response(
                200,
                &[("etag", "\"a\""), ("cache-control", "max-age=1")],
                "x",
            )
        })
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    h.advance(2);
    let r = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("if-none-match", "\"other\"")],
            b"",
        ))
        .await;
    assert_eq!(h.upstream.last().headers["if-none-match"], "\"other\"");
    assert_eq!(r.status, 304);
    assert!(!r.cache.from_cache());
}
