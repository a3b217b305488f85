//! HTTP caching per RFC 9111: modes, age, directives, validation, Vary,
//! partial content, stale-while-revalidate, invalidation, HEAD.

use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method};
use reqcache::{CacheMode, CacheOutcome, Heuristic};

use crate::support::*;

fn date(at: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(at)).unwrap()
}

fn with_headers(
    status: u16,
    headers: &[(&'static str, HeaderValue)],
    body: &'static str,
) -> http::Response<TestBody> {
    let mut r = response(status, &[], body);
    for (name, value) in headers {
        r.headers_mut().append(*name, value.clone());
    }
    r
}

fn age(r: &Reply) -> u64 {
    r.headers["age"].to_str().unwrap().parse().unwrap()
}

// 1. Private and shared modes.

#[tokio::test]
async fn shared_mode_prefers_s_maxage_and_private_mode_ignores_it() {
    let cc = &[("cache-control", "max-age=10, s-maxage=100")];
    for (mode, lifetime) in [(CacheMode::Private, 10), (CacheMode::Shared, 100)] {
        let mut h = Harness::new(Upstream::ok("x", cc), |b| b.mode(mode));
        let r = h.get("http://e.com/").await;
        assert_eq!(
            r.cache.expires(),
            Some(start() + Duration::from_secs(lifetime)),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn private_responses_are_stored_only_by_private_caches() {
    for (mode, stored) in [(CacheMode::Private, true), (CacheMode::Shared, false)] {
        let mut h = Harness::new(
            Upstream::ok("x", &[("cache-control", "private, max-age=60")]),
            |b| b.mode(mode),
        );
        let r = h.get("http://e.com/").await;
        assert_eq!(
            r.cache.outcome() == CacheOutcome::Storing,
            stored,
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn a_shared_cache_stores_authorized_responses_only_when_allowed() {
    for (cache_control, stored) in [
        ("max-age=60", false),
        ("public, max-age=60", true),
        ("s-maxage=60", true),
        ("max-age=60, must-revalidate", true),
    ] {
        let mut h = Harness::new(
            Upstream::new(move |_, _| Ok(response(200, &[("cache-control", cache_control)], "x"))),
            |b| b.mode(CacheMode::Shared),
        );
        let r = h
            .send(request(
                Method::GET,
                "http://e.com/",
                &[("authorization", "Bearer a")],
                b"",
            ))
            .await;
        assert_eq!(
            r.cache.outcome() == CacheOutcome::Storing,
            stored,
            "{cache_control}"
        );
    }
}

#[tokio::test]
async fn proxy_revalidate_binds_shared_caches_only() {
    let upstream = || {
        Upstream::new(|_, n| {
            if n == 0 {
                Ok(response(
                    200,
                    &[("cache-control", "max-age=10, proxy-revalidate")],
                    "x",
                ))
            } else {
                Err(UpstreamError("down"))
            }
        })
    };
    for (mode, serves_stale) in [(CacheMode::Private, true), (CacheMode::Shared, false)] {
        let mut h = Harness::new(upstream(), |b| b.mode(mode).stale_if_error(true));
        h.get("http://e.com/").await;
        h.advance(11);
        let r = h.get("http://e.com/").await;
        assert_eq!(
            r.cache.outcome() == CacheOutcome::StaleOnError,
            serves_stale,
            "{mode:?}"
        );
        if !serves_stale {
            assert_eq!(r.status, 504);
        }
    }
}

// 2. Age and freshness.

#[tokio::test]
async fn age_counts_from_the_origin_and_is_sent_with_stored_responses() {
    let upstream = Upstream::new(|_, _| {
        Ok(with_headers(
            200,
            &[
                ("date", date(start() - Duration::from_secs(10))),
                ("age", HeaderValue::from_static("5")),
                ("cache-control", HeaderValue::from_static("max-age=60")),
            ],
            "x",
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    let first = h.get("http://e.com/").await;
    // Apparent age 10 s beats the Age header's 5 s: the response is 10 s old.
    assert_eq!(
        first.cache.created_at(),
        Some(start() - Duration::from_secs(10))
    );
    assert_eq!(
        first.cache.expires(),
        Some(start() + Duration::from_secs(50))
    );
    h.advance(20);
    let hit = h.get("http://e.com/").await;
    assert!(hit.cache.from_cache());
    assert_eq!(age(&hit), 30);
    h.advance(30);
    assert!(
        !h.get("http://e.com/").await.cache.from_cache(),
        "60 s after its origin it is stale"
    );
}

#[tokio::test]
async fn expires_is_measured_against_date_not_the_local_clock() {
    // The origin's clock is an hour ahead of ours; Expires is 2 minutes after
    // its Date, so the response is fresh for 2 minutes here, not 62.
    let upstream = Upstream::new(|_, _| {
        let origin_now = start() + Duration::from_secs(3600);
        Ok(with_headers(
            200,
            &[
                ("date", date(origin_now)),
                ("expires", date(origin_now + Duration::from_secs(120))),
            ],
            "x",
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    let r = h.get("http://e.com/").await;
    assert_eq!(r.cache.expires(), Some(start() + Duration::from_secs(120)));
}

#[tokio::test]
async fn heuristic_freshness_is_opt_in_and_bounded() {
    let upstream = || {
        Upstream::new(|_, _| {
            Ok(with_headers(
                200,
                &[
                    ("date", date(start())),
                    (
                        "last-modified",
                        date(start() - Duration::from_secs(100_000)),
                    ),
                ],
                "x",
            ))
        })
    };
    let mut off = Harness::new(upstream(), |b| b.expire_after(5));
    assert_eq!(
        off.get("http://e.com/").await.cache.expires(),
        Some(start() + Duration::from_secs(5))
    );
    let mut on = Harness::new(upstream(), |b| b.heuristic_freshness(Heuristic::default()));
    assert_eq!(
        on.get("http://e.com/").await.cache.expires(),
        Some(start() + Duration::from_secs(10_000))
    );
    let mut capped = Harness::new(upstream(), |b| {
        b.heuristic_freshness(Heuristic {
            fraction: 0.1,
            max: Duration::from_secs(600),
        })
    });
    assert_eq!(
        capped.get("http://e.com/").await.cache.expires(),
        Some(start() + Duration::from_secs(600))
    );
}

#[tokio::test]
async fn immutable_responses_survive_a_reload() {
    let mut h = Harness::new(
        Upstream::ok("x", &[("cache-control", "max-age=600, immutable")]),
        |b| b,
    );
    h.get("http://e.com/app.js").await;
    h.advance(60);
    let reload = h
        .send(request(
            Method::GET,
            "http://e.com/app.js",
            &[("cache-control", "max-age=0")],
            b"",
        ))
        .await;
    assert!(reload.cache.from_cache());
    let mut h = Harness::new(
        Upstream::ok("x", &[("cache-control", "max-age=600")]),
        |b| b,
    );
    h.get("http://e.com/app.js").await;
    h.advance(60);
    let reload = h
        .send(request(
            Method::GET,
            "http://e.com/app.js",
            &[("cache-control", "max-age=0")],
            b"",
        ))
        .await;
    assert!(!reload.cache.from_cache());
}

// 3. Directives.

#[tokio::test]
async fn must_revalidate_never_serves_stale_data() {
    let upstream = Upstream::new(|_, n| match n {
        0 => Ok(response(
            200,
            &[("cache-control", "max-age=10, must-revalidate")],
            "x",
        )),
        1 => Ok(response(503, &[], "busy")),
        _ => Err(UpstreamError("connection refused")),
    });
    let mut h = Harness::new(upstream, |b| b.stale_if_error(true));
    h.get("http://e.com/").await;
    h.advance(11);
    let server_error = h.get("http://e.com/").await;
    assert_eq!(
        server_error.status, 503,
        "an upstream 5xx is returned as is"
    );
    assert!(!server_error.cache.from_cache());
    let failed = h.get("http://e.com/").await;
    assert_eq!(failed.status, 504, "a failed connection becomes a 504");
    let max_stale = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-stale")],
            b"",
        ))
        .await;
    assert_eq!(max_stale.status, 504, "not even max-stale gets it");
}

#[tokio::test]
async fn request_max_stale_and_min_fresh() {
    let mut h = Harness::new(
        Upstream::new(|_, n| {
            Ok(response(
                200,
                &[("cache-control", "max-age=100")],
                if n == 0 { "old" } else { "new" },
            ))
        }),
        |b| b,
    );
    h.get("http://e.com/").await;
    h.advance(90);
    let not_fresh_enough = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "min-fresh=20")],
            b"",
        ))
        .await;
    assert_eq!(not_fresh_enough.body, "new");
    h.advance(110); // the new response (received at +90) is 10 s stale
    let stale_ok = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-stale=30")],
            b"",
        ))
        .await;
    assert!(stale_ok.cache.from_cache() && stale_ok.cache.is_expired());
    let too_stale = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "max-stale=5")],
            b"",
        ))
        .await;
    assert!(!too_stale.cache.from_cache());
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn request_only_if_cached_and_pragma_no_cache() {
    let mut h = Harness::new(
        Upstream::new(|_, n| Ok(response(200, &[], format!("v{n}")))),
        |b| b,
    );
    let miss = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "only-if-cached")],
            b"",
        ))
        .await;
    assert_eq!(miss.status, 504);
    assert_eq!(h.calls(), 0);
    h.get("http://e.com/").await;
    let pragma = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("pragma", "no-cache")],
            b"",
        ))
        .await;
    assert_eq!(
        pragma.body, "v1",
        "Pragma: no-cache without Cache-Control revalidates"
    );
    let both = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("pragma", "no-cache"), ("cache-control", "max-age=60")],
            b"",
        ))
        .await;
    assert!(both.cache.from_cache(), "Cache-Control wins over Pragma");
}

#[tokio::test]
async fn response_stale_if_error_serves_stale_data_within_its_window() {
    let upstream = Upstream::new(|_, n| match n {
        0 => Ok(response(
            200,
            &[("cache-control", "max-age=10, stale-if-error=60")],
            "x",
        )),
        _ => Err(UpstreamError("down")),
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    h.advance(30);
    let within = h.get("http://e.com/").await;
    assert_eq!(within.cache.outcome(), CacheOutcome::StaleOnError);
    h.advance(60);
    assert!(
        h.try_send(get("http://e.com/")).await.is_err(),
        "past the window the error passes"
    );
}

// 4. Validation.

#[tokio::test]
async fn a_304_for_another_representation_is_not_applied() {
    let upstream = Upstream::new(|seen, n| {
        Ok(match (n, seen.headers.contains_key("if-none-match")) {
            (0, _) => response(
                200,
                &[("etag", "\"v1\""), ("cache-control", "max-age=1")],
                "first",
            ),
            (_, true) => response(304, &[("etag", "\"v2\"")], ""),
            (_, false) => response(
                200,
                &[("etag", "\"v2\""), ("cache-control", "max-age=60")],
                "second",
            ),
        })
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    h.advance(2);
    // The request's extensions (a proxy's client address, say) reach the
    // upstream on the conditional request and on the unconditional retry.
    let mut request = get("http://e.com/");
    request.extensions_mut().insert(Caller("client-7"));
    let r = h.send(request).await;
    assert_eq!(r.body, "second");
    let seen = h.upstream.seen();
    assert!(
        !seen[2].headers.contains_key("if-none-match"),
        "asked again, unconditionally"
    );
    for attempt in &seen[1..] {
        assert_eq!(
            attempt.extensions.get::<Caller>(),
            Some(&Caller("client-7"))
        );
    }
    assert_eq!(h.calls(), 3);
}

#[derive(Debug, Clone, PartialEq)]
struct Caller(&'static str);

#[tokio::test]
async fn a_clients_conditional_request_is_answered_304_from_the_cache() {
    let mut h = Harness::new(
        Upstream::ok(
            "body",
            &[
                ("etag", "\"v1\""),
                ("last-modified", "Mon, 13 Nov 2023 00:00:00 GMT"),
                ("cache-control", "max-age=60"),
            ],
        ),
        |b| b,
    );
    h.get("http://e.com/").await;
    let weak = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("if-none-match", "W/\"v1\"")],
            b"",
        ))
        .await;
    assert_eq!(weak.status, 304);
    assert!(weak.body.is_empty());
    assert_eq!(weak.headers["etag"], "\"v1\"");
    assert!(weak.cache.from_cache());
    let other = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("if-none-match", "\"v0\"")],
            b"",
        ))
        .await;
    assert_eq!(other.status, 200);
    let since = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("if-modified-since", "Tue, 14 Nov 2023 00:00:00 GMT")],
            b"",
        ))
        .await;
    assert_eq!(since.status, 304);
    assert_eq!(h.calls(), 1);
}

// 5. Vary.

#[tokio::test]
async fn vary_variants_live_side_by_side() {
    let upstream = Upstream::new(|seen, _| {
        let accept = seen.headers["accept"].to_str().unwrap().to_owned();
        Ok(with_headers(
            200,
            &[("vary", HeaderValue::from_static("Accept"))],
            if accept.contains("json") {
                "{}"
            } else {
                "<p/>"
            },
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    let json = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept", "application/json")],
            b"",
        )
    };
    let html = || {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept", "text/html")],
            b"",
        )
    };
    h.send(json()).await;
    h.send(html()).await;
    for _ in 0..3 {
        let j = h.send(json()).await;
        let t = h.send(html()).await;
        assert!(j.cache.from_cache() && t.cache.from_cache());
        assert_eq!(
            (j.body.as_ref(), t.body.as_ref()),
            (&b"{}"[..], &b"<p/>"[..])
        );
    }
    assert_eq!(h.calls(), 2);
    // Values are compared normalized: spacing in lists does not matter.
    let spaced = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("accept", " application/json ")],
            b"",
        ))
        .await;
    assert!(spaced.cache.from_cache());
}

#[tokio::test]
async fn vary_star_is_never_served_from_the_cache() {
    let mut h = Harness::new(
        Upstream::ok("x", &[("vary", "*"), ("cache-control", "max-age=60")]),
        |b| b,
    );
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::NotStored
    );
    assert!(!h.get("http://e.com/").await.cache.from_cache());
}

// 5b. Partial content.

#[tokio::test]
async fn range_requests_pass_through_and_206_is_never_stored() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("range") {
            response(206, &[("content-range", "bytes 0-1/10")], "ab")
        } else {
            response(206, &[], "partial by surprise")
        })
    });
    let mut h = Harness::new(upstream, |b| {
        b.allowable_codes([http::StatusCode::OK, http::StatusCode::PARTIAL_CONTENT])
    });
    let range = h
        .send(request(
            Method::GET,
            "http://e.com/f",
            &[("range", "bytes=0-1")],
            b"",
        ))
        .await;
    // Nothing stored to answer it from: upstream's 206, not stored.
    assert_eq!(range.cache.outcome(), CacheOutcome::NotStored);
    assert_eq!(range.status, 206);
    let surprise = h.get("http://e.com/f").await;
    assert_eq!(surprise.cache.outcome(), CacheOutcome::NotStored);
    assert_eq!(h.cache().len().await.unwrap(), 0);
}

// 6. stale-while-revalidate.

#[tokio::test(flavor = "current_thread")]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once_in_the_background() {
    let upstream = Upstream::new(|_, n| {
        Ok(response(
            200,
            &[("cache-control", "max-age=10, stale-while-revalidate=60")],
            if n == 0 { "old" } else { "new" },
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("http://e.com/").await;
    h.advance(20);
    for _ in 0..5 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.body, "old");
        assert_eq!(r.cache.outcome(), CacheOutcome::StaleWhileRevalidate);
    }
    // Let the background refresh run (it is a task on this runtime).
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.calls(), 2, "one refresh for five stale answers");
    let fresh = h.get("http://e.com/").await;
    assert_eq!(
        (fresh.body.as_ref(), fresh.cache.outcome()),
        (&b"new"[..], CacheOutcome::Hit)
    );
    h.advance(100);
    let too_stale = h.get("http://e.com/").await;
    assert_eq!(
        too_stale.cache.outcome(),
        CacheOutcome::Storing,
        "past the window: fetched in line"
    );
}

// 7. Invalidation.

#[tokio::test]
async fn successful_unsafe_requests_invalidate_their_url_and_locations() {
    let upstream = Upstream::new(|seen, _| {
        let _ = seen;
        Ok(response(
            200,
            &[
                ("location", "/items/7"),
                ("content-location", "https://other.example/items"),
            ],
            "ok",
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    for url in [
        "https://api.example/items",
        "https://api.example/items/7",
        "https://other.example/items",
    ] {
        h.get(url).await;
    }
    assert_eq!(h.cache().len().await.unwrap(), 3);
    let post = h
        .send(request(
            Method::POST,
            "https://api.example/items",
            &[],
            b"{}",
        ))
        .await;
    assert_eq!(post.cache.outcome(), CacheOutcome::Bypassed);
    let left: Vec<String> = h
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.url)
        .collect();
    assert_eq!(
        left,
        ["https://other.example/items"],
        "another origin's entry stays"
    );
}

#[tokio::test]
async fn failed_unsafe_requests_invalidate_nothing() {
    let mut h = Harness::new(
        Upstream::new(|seen, _| {
            Ok(response(
                if seen.body.is_empty() { 200 } else { 500 },
                &[],
                "x",
            ))
        }),
        |b| b,
    );
    h.get("http://e.com/items").await;
    h.send(request(Method::DELETE, "http://e.com/items", &[], b"x"))
        .await;
    assert_eq!(h.cache().len().await.unwrap(), 1);
}

// 8. HEAD.

#[tokio::test]
async fn head_is_answered_from_a_stored_get_and_never_overwrites_it() {
    let mut h = Harness::new(
        Upstream::ok(
            "the body",
            &[("cache-control", "max-age=60"), ("x-kind", "get")],
        ),
        |b| b,
    );
    h.get("http://e.com/doc").await;
    let head = h
        .send(request(Method::HEAD, "http://e.com/doc", &[], b""))
        .await;
    assert!(head.cache.from_cache());
    assert!(head.body.is_empty());
    assert_eq!(head.headers["x-kind"], "get");
    assert_eq!(h.calls(), 1);

    // A HEAD that misses is stored under its own key: the GET keeps its body.
    let mut h = Harness::new(Upstream::ok("", &[("cache-control", "max-age=60")]), |b| b);
    h.send(request(Method::HEAD, "http://e.com/doc", &[], b""))
        .await;
    let get = h.get("http://e.com/doc").await;
    assert!(!get.cache.from_cache(), "a stored HEAD never answers a GET");
}
