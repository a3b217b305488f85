//! requests-cache 1.x parity: always_revalidate, read_only, filter, key_fn,
//! content_root_key, method overrides, default redactions, redirects.

use std::sync::Arc;

use http::Method;
use reqcache::key::KeyParts;
use reqcache::{CacheOutcome, MemoryStorage};

use crate::support::*;

fn etag_upstream() -> Upstream {
    Upstream::new(|seen, _| {
        Ok(
            if seen
                .headers
                .get("if-none-match")
                .is_some_and(|v| v == "\"v1\"")
            {
                response(304, &[], "")
            } else {
                response(
                    200,
                    &[("etag", "\"v1\""), ("cache-control", "max-age=3600")],
                    "validated body",
                )
            },
        )
    })
}

#[tokio::test]
async fn always_revalidate_sends_a_conditional_request_before_every_use() {
    let mut h = Harness::new(etag_upstream(), |b| b.always_revalidate(true));
    h.get("http://e.com/").await;
    for _ in 0..3 {
        let r = h.get("http://e.com/").await;
        assert!(r.cache.revalidated());
        assert_eq!(r.body, "validated body");
        assert_eq!(h.upstream.last().headers["if-none-match"], "\"v1\"");
    }
    assert_eq!(h.calls(), 4);

    // Without a validator, a fresh entry is used as is.
    let mut h = Harness::new(Upstream::ok("x", &[("cache-control", "max-age=60")]), |b| {
        b.always_revalidate(true)
    });
    h.get("http://e.com/").await;
    assert_eq!(
        h.get("http://e.com/").await.cache.outcome(),
        CacheOutcome::Hit
    );
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn read_only_reads_hits_but_never_writes() {
    let storage = Arc::new(MemoryStorage::new());
    let mut writer = Harness::with_storage(Arc::clone(&storage), etag_upstream(), |b| {
        b.expire_after(10).cache_control(false)
    });
    writer.get("http://e.com/stored").await;
    let created = writer.cache().entries().await.unwrap()[0].created_at;

    let mut reader = Harness::with_storage(Arc::clone(&storage), etag_upstream(), |b| {
        b.read_only(true).expire_after(10).cache_control(false)
    });
    assert!(reader.get("http://e.com/stored").await.cache.from_cache());
    let miss = reader.get("http://e.com/new").await;
    assert_eq!(miss.cache.outcome(), CacheOutcome::NotStored);
    assert!(
        !reader
            .cache()
            .contains_url("http://e.com/new")
            .await
            .unwrap()
    );

    // A revalidation is answered but not written back.
    reader.advance(11);
    let revalidated = reader.get("http://e.com/stored").await;
    assert!(revalidated.cache.revalidated());
    assert_eq!(
        reader.cache().entries().await.unwrap()[0].created_at,
        created
    );
}

#[tokio::test]
async fn the_filter_decides_what_is_stored_but_not_what_is_read() {
    let upstream = Upstream::new(|seen, _| {
        let personal = seen.headers.contains_key("x-personal");
        Ok(response(
            200,
            if personal {
                &[("x-user-data", "yes")]
            } else {
                &[]
            },
            "x",
        ))
    });
    let storage = Arc::new(MemoryStorage::new());
    // Stored before the filter existed:
    let mut plain = Harness::with_storage(Arc::clone(&storage), upstream.clone(), |b| b);
    plain
        .send(request(
            Method::GET,
            "http://e.com/old",
            &[("x-personal", "1")],
            b"",
        ))
        .await;

    let mut h = Harness::with_storage(Arc::clone(&storage), upstream, |b| {
        b.filter(|request, response| {
            request.uri.path() != "/never" && !response.headers.contains_key("x-user-data")
        })
    });
    let personal = h
        .send(request(
            Method::GET,
            "http://e.com/me",
            &[("x-personal", "1")],
            b"",
        ))
        .await;
    assert_eq!(personal.cache.outcome(), CacheOutcome::NotStored);
    assert_eq!(
        h.get("http://e.com/never").await.cache.outcome(),
        CacheOutcome::NotStored
    );
    assert_eq!(
        h.get("http://e.com/public").await.cache.outcome(),
        CacheOutcome::Storing
    );
    // Not applied on read: the entry stored before is still served.
    let old = h
        .send(request(
            Method::GET,
            "http://e.com/old",
            &[("x-personal", "1")],
            b"",
        ))
        .await;
    assert!(old.cache.from_cache());
}

#[tokio::test]
async fn a_custom_key_function_can_wrap_the_default() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.key_fn(|parts: &KeyParts<'_>| {
            let tenant = parts
                .headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            format!(
                "{tenant}/{}/{}",
                parts.normalized_url(),
                parts.default_key()
            )
        })
    });
    let acme = || {
        request(
            Method::GET,
            "http://E.com/x?b=1&a=2",
            &[("x-tenant", "acme")],
            b"",
        )
    };
    let first = h.send(acme()).await;
    let key = first.cache.key().unwrap().clone();
    assert!(key.starts_with("acme/http://e.com/x?a=2&b=1/"), "{key}");
    assert!(h.send(acme()).await.cache.from_cache());
    let other = h
        .send(request(
            Method::GET,
            "http://e.com/x?a=2&b=1",
            &[("x-tenant", "zeta")],
            b"",
        ))
        .await;
    assert!(!other.cache.from_cache());
    assert!(h.cache().contains(&key).await.unwrap());
}

#[tokio::test]
async fn content_root_key_applies_ignored_parameters_under_one_member() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.allowable_methods([Method::POST])
            .ignored_parameters(["nonce"])
            .content_root_key("params")
    });
    let json = [("content-type", "application/json")];
    h.send(request(
        Method::POST,
        "http://e.com/rpc",
        &json,
        br#"{"method": "get", "params": {"id": 1, "nonce": 5}}"#,
    ))
    .await;
    let same = h
        .send(request(
            Method::POST,
            "http://e.com/rpc",
            &json,
            br#"{"params": {"nonce": 6, "id": 1}, "method": "get"}"#,
        ))
        .await;
    assert!(same.cache.from_cache());
    let top_level = h
        .send(request(
            Method::POST,
            "http://e.com/rpc",
            &json,
            br#"{"method": "get", "params": {"id": 1}, "nonce": 1}"#,
        ))
        .await;
    assert!(
        !top_level.cache.from_cache(),
        "only the member's nonce is ignored"
    );
}

#[tokio::test]
async fn method_override_headers_count_for_cacheability() {
    for header in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
        let overridden = || {
            request(
                Method::POST,
                "http://e.com/search",
                &[(header, "GET")],
                b"{\"q\": 1}",
            )
        };
        h.send(overridden()).await;
        assert!(h.send(overridden()).await.cache.from_cache(), "{header}");
        let plain = h
            .send(request(
                Method::POST,
                "http://e.com/search",
                &[],
                b"{\"q\": 1}",
            ))
            .await;
        assert_eq!(plain.cache.outcome(), CacheOutcome::Bypassed);
    }
}

#[tokio::test]
async fn default_redactions_keep_secrets_out_of_storage_and_users_apart() {
    let upstream = Upstream::new(|seen, _| {
        Ok(response(
            200,
            &[],
            format!("{:?}", seen.headers.get("x-api-key")),
        ))
    });
    let mut h = Harness::new(upstream, |b| b.redact_parameters(["session_id"]));
    let alice = || {
        request(
            Method::GET,
            "http://e.com/d?access_token=AT1&session_id=S1&q=1",
            &[("x-api-key", "KEY-ALICE")],
            b"",
        )
    };
    let bob = request(
        Method::GET,
        "http://e.com/d?access_token=AT2&session_id=S2&q=1",
        &[("x-api-key", "KEY-BOB")],
        b"",
    );
    h.send(alice()).await;
    assert!(h.send(alice()).await.cache.from_cache());
    assert!(
        !h.send(bob).await.cache.from_cache(),
        "redacted values still separate users"
    );
    for info in h.cache().entries().await.unwrap() {
        let entry = h.cache().get(&info.key).await.unwrap().unwrap();
        assert_eq!(entry.request.url, "http://e.com/d?q=1");
        assert!(entry.request.headers.get("x-api-key").is_none());
        assert!(entry.request.redacted);
    }

    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b.default_redactions(false));
    h.send(request(
        Method::GET,
        "http://e.com/d?access_token=AT1",
        &[("x-api-key", "K"), ("authorization", "A")],
        b"",
    ))
    .await;
    let info = &h.cache().entries().await.unwrap()[0];
    let entry = h.cache().get(&info.key).await.unwrap().unwrap();
    assert_eq!(entry.request.url, "http://e.com/d?access_token=AT1");
    assert_eq!(entry.request.headers["x-api-key"], "K");
    assert!(
        entry.request.headers.get("authorization").is_none(),
        "credentials stay redacted"
    );
}
