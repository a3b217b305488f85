//! The HTTP cache preset (`http_cache`), and the RFC details the HTTP
//! caching test suite checks: Age lists, the three date formats,
//! must-understand, CDN-Cache-Control, Cache-Status, stale responses when
//! upstream is unreachable or failing.

use std::time::Duration;

use http::Method;
use reqcache::{CacheLayerBuilder, CacheMode, CacheOutcome, Forward};

use crate::support::*;

fn shared(b: CacheLayerBuilder) -> CacheLayerBuilder {
    b.http_cache(CacheMode::Shared)
}

fn http_date(secs_from_start: i64) -> String {
    let at = if secs_from_start >= 0 {
        start() + Duration::from_secs(secs_from_start as u64)
    } else {
        start() - Duration::from_secs(secs_from_start.unsigned_abs())
    };
    httpdate::fmt_http_date(at)
}

/// Upstream answering `status` with these headers (owned values).
fn answering(status: u16, headers: Vec<(&'static str, String)>) -> Upstream {
    Upstream::new(move |_, _| {
        let mut r = response(status, &[], "body");
        for (name, value) in &headers {
            r.headers_mut().append(*name, value.parse().unwrap());
        }
        Ok(r)
    })
}

async fn second_from_cache(h: &mut Harness) -> bool {
    h.get("http://e.com/").await;
    h.advance(1);
    h.get("http://e.com/").await.cache.from_cache()
}

#[tokio::test]
async fn without_freshness_or_validator_nothing_is_reused() {
    let mut h = Harness::new(answering(200, vec![]), shared);
    assert!(!second_from_cache(&mut h).await);
    assert_eq!(h.calls(), 2);
    // The library's default (requests-cache's) keeps it forever.
    let mut h = Harness::new(answering(200, vec![]), |b| b);
    assert!(second_from_cache(&mut h).await);
}

#[tokio::test]
async fn a_validator_alone_is_stored_and_revalidated_each_time() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("if-none-match") {
            response(304, &[("etag", "\"v\"")], "")
        } else {
            response(200, &[("etag", "\"v\"")], "body")
        })
    });
    let mut h = Harness::new(upstream, shared);
    h.get("http://e.com/").await;
    let again = h.get("http://e.com/").await;
    assert_eq!(again.cache.outcome(), CacheOutcome::Revalidated);
    assert_eq!(&again.body[..], b"body");
}

#[tokio::test]
async fn heuristic_freshness_for_heuristically_cacheable_statuses_only() {
    let last_modified = || {
        vec![
            ("last-modified", http_date(-100_000)),
            ("date", http_date(0)),
        ]
    };
    for (status, extra, reused) in [
        (200, None, true),
        (404, None, true),
        (501, None, true),
        (403, None, false),
        (503, None, false),
        (599, None, false),
        (599, Some(("cache-control", "public".to_owned())), true),
    ] {
        let mut headers = last_modified();
        headers.extend(extra);
        let mut h = Harness::new(answering(status, headers), shared);
        assert_eq!(second_from_cache(&mut h).await, reused, "{status}");
    }
}

#[tokio::test]
async fn every_status_with_explicit_freshness_is_stored() {
    for status in [200, 201, 302, 400, 500, 599] {
        let mut h = Harness::new(
            answering(status, vec![("cache-control", "max-age=60".to_owned())]),
            shared,
        );
        assert!(second_from_cache(&mut h).await, "{status}");
    }
    // A status that is not heuristically cacheable, with a validator only: not stored.
    let mut h = Harness::new(answering(302, vec![("etag", "\"v\"".to_owned())]), shared);
    h.get("http://e.com/").await;
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::NotStored
    );
}

#[tokio::test]
async fn the_first_member_of_the_first_age_line_counts() {
    for (ages, reused) in [
        (&["7200, 0"][..], false),
        (&["0, 7200"][..], true),
        (&["7200", "0"][..], false),
        (&["0", "7200"][..], true),
        (&["abc"][..], true),
        (&["-7200"][..], true),
        (&["7200.0"][..], true),
    ] {
        let mut headers = vec![
            ("cache-control", "max-age=3600".to_owned()),
            ("date", http_date(0)),
        ];
        headers.extend(ages.iter().map(|age| ("age", (*age).to_owned())));
        let mut h = Harness::new(answering(200, headers), shared);
        assert_eq!(second_from_cache(&mut h).await, reused, "{ages:?}");
    }
}

#[tokio::test]
async fn expires_in_every_http_date_format_and_case() {
    // 2050-08-18, far past the harness clock's 2023.
    for (expires, reused) in [
        ("Thu, 18 Aug 2050 02:01:18 GMT", true),
        ("Thursday, 18-Aug-50 02:01:18 GMT", true),
        ("Thu Aug 18 02:01:18 2050", true),
        ("THU, 18 AUG 2050 02:01:18 gmt", true),
        ("Thu, 18 Aug 2050 02:01:18 UTC", false),
        ("Thu, 18 Aug 2050 2:01:18 GMT", false),
        ("0", false),
    ] {
        let mut h = Harness::new(
            answering(
                200,
                vec![("expires", expires.to_owned()), ("date", http_date(0))],
            ),
            shared,
        );
        assert_eq!(second_from_cache(&mut h).await, reused, "{expires}");
    }
}

#[tokio::test]
async fn must_understand_replaces_no_store_for_known_statuses() {
    let cc = || {
        vec![(
            "cache-control",
            "max-age=3600, no-store, must-understand".to_owned(),
        )]
    };
    let mut h = Harness::new(answering(200, cc()), shared);
    assert!(second_from_cache(&mut h).await);
    let mut h = Harness::new(answering(599, cc()), shared);
    assert!(!second_from_cache(&mut h).await);
    let no_store = vec![("cache-control", "max-age=3600, no-store".to_owned())];
    let mut h = Harness::new(answering(200, no_store), shared);
    assert!(!second_from_cache(&mut h).await);
}

#[tokio::test]
async fn cdn_cache_control_wins_in_shared_mode_when_targeted() {
    let cdn = |b: CacheLayerBuilder| shared(b).targeted_cache_control(Some("cdn-cache-control"));
    for (cdn_cc, cc, reused) in [
        ("max-age=3600", "no-store", true),
        ("no-store", "max-age=3600", false),
        ("private", "max-age=3600", false),
        ("no-cache", "max-age=3600", false),
        // Invalid fields are ignored whole: Cache-Control decides.
        ("max-age=10000, &&&&&", "no-store", false),
        ("max-age=\"10000\"", "no-store", false),
        ("max-age=\"10000\"", "max-age=3600", true),
    ] {
        let headers = vec![
            ("cdn-cache-control", cdn_cc.to_owned()),
            ("cache-control", cc.to_owned()),
        ];
        let mut h = Harness::new(answering(200, headers), cdn);
        assert_eq!(second_from_cache(&mut h).await, reused, "{cdn_cc} / {cc}");
    }
    // Expires is ignored beside a targeted field; a private cache ignores the field.
    let headers = || {
        vec![
            ("cdn-cache-control", "max-age=0".to_owned()),
            ("cache-control", "max-age=3600".to_owned()),
        ]
    };
    let mut h = Harness::new(answering(200, headers()), cdn);
    assert!(!second_from_cache(&mut h).await);
    let private = |b: CacheLayerBuilder| {
        b.http_cache(CacheMode::Private)
            .targeted_cache_control(Some("cdn-cache-control"))
    };
    let mut h = Harness::new(answering(200, headers()), private);
    assert!(second_from_cache(&mut h).await);
}

#[tokio::test]
async fn stale_answers_when_upstream_is_unreachable_unless_it_must_revalidate() {
    for (cc, served) in [
        ("max-age=2", true),
        ("max-age=2, must-revalidate", false),
        ("max-age=2, proxy-revalidate", false),
        ("max-age=2, no-cache", false),
        ("s-maxage=2", false),
    ] {
        let upstream = Upstream::new(move |_, n| {
            if n == 0 {
                Ok(response(200, &[("cache-control", cc)], "old"))
            } else {
                Err(UpstreamError("connection reset"))
            }
        });
        let mut h = Harness::new(upstream, shared);
        h.get("http://e.com/").await;
        h.advance(10);
        let second = h.try_send(get("http://e.com/")).await;
        match second {
            // A response that must be revalidated and cannot be: 504.
            Ok(r) if r.status == 504 => assert!(!served, "{cc}"),
            Ok(r) => {
                assert!(served, "{cc}: {:?}", r.cache.outcome());
                assert_eq!(r.cache.outcome(), CacheOutcome::StaleOnError);
                assert_eq!(&r.body[..], b"old");
            }
            Err(_) => assert!(!served, "{cc}"),
        }
    }
    // Not past the window (a week), and not in the library's default.
    let upstream = || {
        Upstream::new(|_, n| {
            if n == 0 {
                Ok(response(200, &[("cache-control", "max-age=2")], "old"))
            } else {
                Err(UpstreamError("refused"))
            }
        })
    };
    let mut h = Harness::new(upstream(), shared);
    h.get("http://e.com/").await;
    h.advance(8 * 86_400);
    assert!(h.try_send(get("http://e.com/")).await.is_err());
    let mut h = Harness::new(upstream(), |b| b.expire_after(2));
    h.get("http://e.com/").await;
    h.advance(10);
    assert!(h.try_send(get("http://e.com/")).await.is_err());
}

#[tokio::test]
async fn stale_if_error_covers_gateway_errors_even_when_they_are_storable() {
    let upstream = Upstream::new(|_, n| {
        Ok(if n == 0 {
            response(
                200,
                &[("cache-control", "max-age=2, stale-if-error=60")],
                "old",
            )
        } else {
            response(503, &[], "down")
        })
    });
    let mut h = Harness::new(upstream, shared);
    h.get("http://e.com/").await;
    h.advance(10);
    let r = h.get("http://e.com/").await;
    assert_eq!(r.cache.outcome(), CacheOutcome::StaleOnError);
    assert_eq!(&r.body[..], b"old");
    // A 503 is an answer, not a disconnection: without stale-if-error it passes.
    let upstream = Upstream::new(|_, n| {
        Ok(if n == 0 {
            response(200, &[("cache-control", "max-age=2")], "old")
        } else {
            response(503, &[], "down")
        })
    });
    let mut h = Harness::new(upstream, shared);
    h.get("http://e.com/").await;
    h.advance(10);
    assert_eq!(h.get("http://e.com/").await.status, 503);
}

#[tokio::test]
async fn if_modified_since_without_last_modified_uses_the_stored_date() {
    let mut h = Harness::new(
        answering(
            200,
            vec![
                ("cache-control", "max-age=3600".to_owned()),
                ("date", http_date(-10)),
            ],
        ),
        shared,
    );
    h.get("http://e.com/").await;
    for (since, status) in [(-5, 304), (-3000, 200)] {
        let ims = http_date(since);
        let r = h
            .send(request(
                Method::GET,
                "http://e.com/",
                &[("if-modified-since", &ims)],
                b"",
            ))
            .await;
        assert_eq!(r.status, status, "If-Modified-Since {since} s");
    }
}

#[tokio::test]
async fn cache_status_says_what_happened() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("if-none-match") {
            response(304, &[("etag", "\"v\"")], "")
        } else {
            response(
                200,
                &[
                    ("cache-control", "max-age=60"),
                    ("etag", "\"v\""),
                    ("cache-status", "origin; fwd=miss"),
                ],
                "body",
            )
        })
    });
    let mut h = Harness::new(upstream, |b| shared(b).cache_status_header(Some("edge")));
    let status = |r: &Reply| r.headers["cache-status"].to_str().unwrap().to_owned();
    let first = h.get("http://e.com/").await;
    assert_eq!(
        status(&first),
        "origin; fwd=miss, edge; fwd=uri-miss; stored; ttl=60"
    );
    h.advance(10);
    let hit = h.get("http://e.com/").await;
    assert_eq!(status(&hit), "origin; fwd=miss, edge; hit; ttl=50");
    h.advance(60);
    let revalidated = h.get("http://e.com/").await;
    assert_eq!(revalidated.cache.forwarded(), Some(Forward::Stale));
    assert_eq!(
        status(&revalidated),
        "origin; fwd=miss, edge; fwd=stale; fwd-status=304; ttl=60"
    );
    let reload = h
        .send(request(
            Method::GET,
            "http://e.com/",
            &[("cache-control", "no-cache")],
            b"",
        ))
        .await;
    assert!(
        status(&reload).ends_with("edge; fwd=stale; fwd-status=304; ttl=60"),
        "{}",
        status(&reload)
    );
    let posted = h
        .send(request(Method::POST, "http://e.com/", &[], b""))
        .await;
    assert!(status(&posted).ends_with("edge; fwd=bypass"));
    // Off by default.
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    assert!(
        !h.get("http://e.com/")
            .await
            .headers
            .contains_key("cache-status")
    );
}

fn ranged(range: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    request(Method::GET, "http://e.com/", &[("range", range)], b"")
}

#[tokio::test]
async fn a_range_is_answered_from_a_stored_complete_response() {
    let upstream = Upstream::ok(
        "0123456789",
        &[
            ("cache-control", "max-age=60"),
            ("content-type", "text/plain"),
        ],
    );
    let mut h = Harness::new(upstream, shared);
    h.get("http://e.com/").await;
    for (range, body, content_range) in [
        ("bytes=0-1", "01", "bytes 0-1/10"),
        ("bytes=8-", "89", "bytes 8-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
    ] {
        let r = h.send(ranged(range)).await;
        assert_eq!(r.status, 206, "{range}");
        assert!(r.cache.from_cache());
        assert_eq!(&r.body[..], body.as_bytes());
        assert_eq!(r.headers["content-range"], content_range);
        assert_eq!(r.headers["content-length"], body.len().to_string().as_str());
    }
    let unsatisfiable = h.send(ranged("bytes=10-")).await;
    assert_eq!(unsatisfiable.status, 416);
    assert_eq!(unsatisfiable.headers["content-range"], "bytes */10");
    // Several ranges: multipart/byteranges.
    let multi = h.send(ranged("bytes=0-0, 5-6")).await;
    assert_eq!(multi.status, 206);
    let content_type = multi.headers["content-type"].to_str().unwrap().to_owned();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let text = String::from_utf8(multi.body.to_vec()).unwrap();
    assert_eq!(
        text,
        format!(
            "\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n0\
             \r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n56\
             \r\n--{boundary}--\r\n"
        )
    );
    // A malformed range, or another unit: the whole response.
    let whole = h.send(ranged("lines=1-2")).await;
    assert_eq!(
        (whole.status.as_u16(), &whole.body[..]),
        (200, &b"0123456789"[..])
    );
    assert_eq!(h.calls(), 1, "every answer came from the cache");
}

#[tokio::test]
async fn a_range_not_answerable_from_the_cache_goes_upstream_and_nothing_is_stored() {
    let upstream = Upstream::new(|seen, _| {
        Ok(if seen.headers.contains_key("range") {
            response(
                206,
                &[
                    ("content-range", "bytes 0-1/10"),
                    ("cache-control", "max-age=60"),
                ],
                "01",
            )
        } else {
            response(200, &[("cache-control", "max-age=60")], "0123456789")
        })
    });
    let mut h = Harness::new(upstream, shared);
    let first = h.send(ranged("bytes=0-1")).await;
    assert_eq!((first.status.as_u16(), &first.body[..]), (206, &b"01"[..]));
    assert_eq!(first.cache.outcome(), CacheOutcome::NotStored);
    assert_eq!(
        h.cache().len().await.unwrap(),
        0,
        "partial content is not stored"
    );
    // Stale: the range goes upstream as it is, the stored response stays.
    h.get("http://e.com/").await;
    h.advance(120);
    let stale = h.send(ranged("bytes=0-1")).await;
    assert_eq!(stale.status, 206);
    assert_eq!(stale.cache.forwarded(), Some(Forward::Stale));
    assert_eq!(h.cache().len().await.unwrap(), 1);
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn a_shared_cache_never_replays_one_clients_cookie() {
    let cookie_upstream = || {
        Upstream::new(|_, n| {
            let mut r = response(200, &[("cache-control", "max-age=60")], "page");
            let cookie = format!("sid={n}");
            r.headers_mut()
                .insert("set-cookie", cookie.parse().unwrap());
            Ok(r)
        })
    };
    // Default: not stored; each client gets its own cookie from upstream.
    let mut h = Harness::new(cookie_upstream(), shared);
    for n in 0..3 {
        let r = h.get("http://e.com/").await;
        assert_eq!(r.cache.outcome(), CacheOutcome::NotStored);
        assert_eq!(r.headers["set-cookie"], format!("sid={n}").as_str());
    }
    // StoredWithout: the first client gets its cookie, the hits none.
    let mut h = Harness::new(cookie_upstream(), |b| {
        shared(b).shared_set_cookie(reqcache::SetCookie::StoredWithout)
    });
    assert_eq!(h.get("http://e.com/").await.headers["set-cookie"], "sid=0");
    for _ in 0..2 {
        let hit = h.get("http://e.com/").await;
        assert!(hit.cache.from_cache());
        assert!(!hit.headers.contains_key("set-cookie"));
    }
    // A private cache is one user's: it keeps the cookie.
    let mut h = Harness::new(cookie_upstream(), |b| b.http_cache(CacheMode::Private));
    h.get("http://e.com/").await;
    assert_eq!(h.get("http://e.com/").await.headers["set-cookie"], "sid=0");
}

#[tokio::test]
async fn a_304s_cookie_goes_to_its_own_client_only() {
    let upstream = Upstream::new(|seen, n| {
        Ok(if seen.headers.contains_key("if-none-match") {
            let mut r = response(
                304,
                &[("etag", "\"v\""), ("cache-control", "max-age=60")],
                "",
            );
            r.headers_mut()
                .insert("set-cookie", format!("sid={n}").parse().unwrap());
            r
        } else {
            response(
                200,
                &[("etag", "\"v\""), ("cache-control", "max-age=60")],
                "page",
            )
        })
    });
    let mut h = Harness::new(upstream, shared);
    h.get("http://e.com/").await;
    h.advance(120);
    let revalidated = h.get("http://e.com/").await;
    assert_eq!(revalidated.cache.outcome(), CacheOutcome::Revalidated);
    assert_eq!(revalidated.headers["set-cookie"], "sid=1");
    let hit = h.get("http://e.com/").await;
    assert_eq!(hit.cache.outcome(), CacheOutcome::Hit);
    assert!(!hit.headers.contains_key("set-cookie"));
}
