//! CachedClient and ReqwestService end to end, against a real server on
//! loopback.

use std::time::Duration;

use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock, MemoryStorage};
use reqcache_reqwest::{CacheStatusExt, CachedClient, ReqwestService};
use reqcache_test::upstream::Upstream;
use tower::{ServiceBuilder, ServiceExt};

fn outcome(response: &reqwest::Response) -> CacheOutcome {
    response.cache_status().expect("a cache status").outcome()
}

#[tokio::test]
async fn second_get_is_answered_from_the_cache() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));

    let first = client.get(upstream.url("/json")).send().await.unwrap();
    assert_eq!(outcome(&first), CacheOutcome::Storing);
    assert!(!first.from_cache());
    let first: serde_json::Value = first.json().await.unwrap();

    let second = client.get(upstream.url("/json")).send().await.unwrap();
    assert!(second.from_cache());
    assert_eq!(second.status(), reqwest::StatusCode::OK);
    assert_eq!(second.url().as_str(), upstream.url("/json"));
    assert_eq!(
        second.headers()["content-type"],
        "application/json",
        "stored headers are answered"
    );
    assert_eq!(second.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(upstream.count("/json"), 1);

    let text = client
        .get(upstream.url("/json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bytes = client
        .get(upstream.url("/json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(text.as_bytes(), &bytes[..]);

    let stats = client.cache().unwrap().stats();
    assert_eq!((stats.hits, stats.misses, stats.stored), (3, 1, 1));
}

#[tokio::test]
async fn query_is_part_of_the_key() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    for page in ["1", "2", "1"] {
        client
            .get(upstream.url("/json"))
            .query(&[("page", page)])
            .send()
            .await
            .unwrap();
    }
    assert_eq!(upstream.count("/json"), 2);
}

#[tokio::test]
async fn per_request_expire_after_beats_the_session_setting() {
    let upstream = Upstream::start().await;
    let clock = std::sync::Arc::new(ManualClock::new(reqcache_test::t0()));
    let client = CachedClient::new(
        CacheLayer::builder(MemoryStorage::new())
            .expire_after(Duration::from_secs(3600))
            .clock(clock.clone()),
    );
    let url = upstream.url("/plain");
    client.get(&url).expire_after(10).send().await.unwrap();
    clock.advance(Duration::from_secs(5));
    assert!(client.get(&url).send().await.unwrap().from_cache());
    clock.advance(Duration::from_secs(10));
    let after = client.get(&url).send().await.unwrap();
    assert!(
        !after.from_cache(),
        "expired after the request's 10 s, not the session's hour"
    );
    assert_eq!(upstream.count("/plain"), 2);
}

#[tokio::test]
async fn only_if_cached_answers_504_without_calling_upstream() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    let url = upstream.url("/json");

    let miss = client.get(&url).only_if_cached().send().await.unwrap();
    assert_eq!(miss.status(), reqwest::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(outcome(&miss), CacheOutcome::OnlyIfCachedMiss);
    assert_eq!(upstream.count("/json"), 0);

    client.get(&url).send().await.unwrap();
    let hit = client.get(&url).only_if_cached().send().await.unwrap();
    assert_eq!(outcome(&hit), CacheOutcome::Hit);
    assert_eq!(upstream.count("/json"), 1);
}

#[tokio::test]
async fn refresh_revalidates_what_has_a_validator_and_force_refresh_refetches() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    let url = upstream.url("/json");
    client.get(&url).send().await.unwrap();

    // /json has no validator: nothing to revalidate with, so the stored
    // response answers, as in requests-cache 1.x.
    let refreshed = client.get(&url).refresh().send().await.unwrap();
    assert!(refreshed.from_cache());
    assert_eq!(
        upstream.count("/json"),
        1,
        "refresh without a validator: no request"
    );

    let forced = client.get(&url).force_refresh().send().await.unwrap();
    assert_eq!(outcome(&forced), CacheOutcome::Storing);
    let body: serde_json::Value = forced.json().await.unwrap();
    assert_eq!(body["count"], 2);

    let etag = upstream.url("/etag");
    client.get(&etag).send().await.unwrap();
    let revalidated = client.get(&etag).refresh().send().await.unwrap();
    assert_eq!(outcome(&revalidated), CacheOutcome::Revalidated);
    assert_eq!(
        upstream.last_headers("/etag").unwrap()["if-none-match"],
        "\"v1\""
    );
    assert_eq!(revalidated.text().await.unwrap(), "etag #1");
}

#[tokio::test]
async fn bypass_neither_reads_nor_writes() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    let url = upstream.url("/json");
    let bypassed = client.get(&url).bypass().send().await.unwrap();
    assert_eq!(outcome(&bypassed), CacheOutcome::Bypassed);
    assert_eq!(client.cache().unwrap().len().await.unwrap(), 0);

    client.get(&url).send().await.unwrap();
    client.get(&url).bypass().send().await.unwrap();
    assert_eq!(upstream.count("/json"), 3);
}

#[tokio::test]
async fn different_credentials_never_share_a_response() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    let url = upstream.url("/auth");
    let alice = client.get(&url).bearer_auth("alice").send().await.unwrap();
    assert_eq!(alice.text().await.unwrap(), "Bearer alice");
    let bob = client.get(&url).bearer_auth("bob").send().await.unwrap();
    assert!(!bob.from_cache());
    assert_eq!(bob.text().await.unwrap(), "Bearer bob");
    let alice_again = client.get(&url).bearer_auth("alice").send().await.unwrap();
    assert!(alice_again.from_cache());
    assert_eq!(alice_again.text().await.unwrap(), "Bearer alice");

    // The token never reaches storage.
    for entry in client.cache().unwrap().entries().await.unwrap() {
        let stored = client
            .cache()
            .unwrap()
            .get(&entry.key)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.request.headers.get("authorization").is_none());
    }
}

#[tokio::test]
async fn redirects_followed_by_reqwest_are_stored_with_an_alias() {
    let upstream = Upstream::start().await;
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));

    let first = client.get(upstream.url("/redirect")).send().await.unwrap();
    assert_eq!(first.url().as_str(), upstream.url("/json"), "the final URL");
    first.bytes().await.unwrap();

    let via_alias = client.get(upstream.url("/redirect")).send().await.unwrap();
    assert!(via_alias.from_cache());
    let direct = client.get(upstream.url("/json")).send().await.unwrap();
    assert!(direct.from_cache(), "stored under the final URL too");
    assert_eq!(
        (upstream.count("/redirect"), upstream.count("/json")),
        (1, 1)
    );
}

#[tokio::test]
async fn upstream_errors_are_reqwests_own() {
    let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    // A port nothing listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let error = client.get(&url).send().await.unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error:?}");
}

#[tokio::test]
async fn stale_if_error_serves_the_stored_response_when_reqwest_fails() {
    let upstream = Upstream::start().await;
    let clock = std::sync::Arc::new(ManualClock::new(reqcache_test::t0()));
    let client = CachedClient::new(
        CacheLayer::builder(MemoryStorage::new())
            .stale_if_error(true)
            .clock(clock.clone()),
    );
    let url = upstream.url("/json");
    client.get(&url).send().await.unwrap();
    drop(upstream); // the server is gone
    clock.advance(Duration::from_secs(120));
    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(outcome(&stale), CacheOutcome::StaleOnError);
    assert!(stale.is_expired());
}

/// A reqwest user who checks the status and never reads the body: the
/// cache reads the rest itself (background fill), so that `stale_if_error`
/// has the response to serve when the upstream is gone.
#[tokio::test]
async fn a_body_dropped_unread_is_stored_and_serves_when_the_upstream_fails() {
    let upstream = Upstream::start().await;
    let clock = std::sync::Arc::new(ManualClock::new(reqcache_test::t0()));
    let client = CachedClient::new(
        CacheLayer::builder(MemoryStorage::new())
            .stale_if_error(true)
            .clock(clock.clone()),
    );
    let url = upstream.url("/large");
    let response = client.get(&url).send().await.unwrap();
    assert!(response.status().is_success());
    assert_eq!(outcome(&response), CacheOutcome::Storing);
    drop(response);
    let cache = client.cache().unwrap();
    cache.flush().await;
    let stats = cache.stats();
    assert_eq!(
        (
            stats.background_fills,
            stats.background_fills_failed,
            stats.stored
        ),
        (1, 0, 1)
    );
    drop(upstream); // the server is gone
    clock.advance(Duration::from_secs(120));
    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(outcome(&stale), CacheOutcome::StaleOnError);
    let body = stale.bytes().await.unwrap();
    assert_eq!(body.len(), reqcache_test::upstream::LARGE_BODY);
    assert!(body.starts_with(b"large large "));
}

#[tokio::test]
async fn reqwest_service_sits_under_the_layer_with_tower_middleware() {
    let upstream = Upstream::start().await;
    let layer = CacheLayer::new(MemoryStorage::new());
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .timeout(Duration::from_secs(30))
        .service(ReqwestService::new(reqwest::Client::new()));
    for expected in [false, true] {
        let request = http::Request::get(upstream.url("/json"))
            .body(reqwest::Body::from(""))
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.extensions().get::<CacheStatus>().unwrap();
        assert_eq!(status.from_cache(), expected);
    }
    assert_eq!(layer.cache().stats().hits, 1);
}

#[tokio::test]
async fn build_http_carries_the_cache_settings() {
    let upstream = Upstream::start().await;
    let layer = CacheLayer::new(MemoryStorage::new());
    let client = CachedClient::new(layer.clone());
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(ReqwestService::new(client.client().clone()));
    let request = client
        .get(upstream.url("/json"))
        .only_if_cached()
        .build_http()
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(upstream.total(), 0);
}

#[tokio::test]
async fn default_headers_are_keyed_like_per_request_ones() {
    use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

    let upstream = Upstream::start().await;
    let layer = CacheLayer::new(MemoryStorage::new());
    let as_client = |token: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static(token));
        CachedClient::new(layer.clone()).default_headers(headers)
    };
    let (alice, bob) = (as_client("Bearer alice"), as_client("Bearer bob"));
    let url = upstream.url("/auth");
    assert_eq!(
        alice.get(&url).send().await.unwrap().text().await.unwrap(),
        "Bearer alice"
    );
    let for_bob = bob.get(&url).send().await.unwrap();
    assert!(
        !for_bob.from_cache(),
        "one cache, two credentials: never shared"
    );
    assert_eq!(for_bob.text().await.unwrap(), "Bearer bob");
    assert!(alice.get(&url).send().await.unwrap().from_cache());
    // A per-request header beats the default one.
    let carol = alice.get(&url).bearer_auth("carol").send().await.unwrap();
    assert_eq!(carol.text().await.unwrap(), "Bearer carol");
    assert_eq!(upstream.count("/auth"), 3);
}

/// Waits (bounded) until the cache holds `expected` for `url`: a background
/// refresh is a real request on another task, so the test waits for its
/// effect, not for time.
async fn wait_for_cached_body(client: &CachedClient, url: &str, expected: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let response = client.get(url).only_if_cached().send().await.unwrap();
            if response.text().await.unwrap() == expected {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the background refresh never landed");
}

#[tokio::test]
async fn stale_while_revalidate_refreshes_in_the_background_through_reqwest() {
    let upstream = Upstream::start().await;
    let start = reqcache_test::t0();
    let clock = std::sync::Arc::new(ManualClock::new(start));
    let client = CachedClient::new(
        CacheLayer::builder(MemoryStorage::new()).clock(std::sync::Arc::clone(&clock)),
    );
    let url = upstream.url("/swr");
    client.get(&url).send().await.unwrap();
    clock.advance(Duration::from_secs(30));

    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(outcome(&stale), CacheOutcome::StaleWhileRevalidate);
    assert_eq!(stale.text().await.unwrap(), "swr #1");
    // Back to the server's own time, so that the refreshed response (dated
    // by the server's real clock) is fresh, and lookups start no more refreshes.
    clock.set(start);

    wait_for_cached_body(&client, &url, "swr #2").await;
    assert_eq!(upstream.count("/swr"), 2);
}

#[tokio::test]
async fn stale_while_revalidate_per_request_through_reqwest() {
    let upstream = Upstream::start().await;
    let clock = std::sync::Arc::new(ManualClock::new(reqcache_test::t0()));
    let client = CachedClient::new(
        CacheLayer::builder(MemoryStorage::new())
            .expire_after(10)
            .clock(std::sync::Arc::clone(&clock)),
    );
    let url = upstream.url("/plain");
    client.get(&url).send().await.unwrap();
    clock.advance(Duration::from_secs(30));

    let stale = client
        .get(&url)
        .stale_while_revalidate(true)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(&stale), CacheOutcome::StaleWhileRevalidate);
    assert_eq!(stale.text().await.unwrap(), "plain #1");
    wait_for_cached_body(&client, &url, "plain #2").await;
    assert_eq!(upstream.count("/plain"), 2);
}

/// A slow storage (each write waits 20 ms): a response read to its end is
/// in storage all the same, with no flush, since its body ends after the
/// write.
async fn read_to_its_end_is_stored_without_a_flush() {
    let upstream = Upstream::start().await;
    let storage = reqcache_test::Gated::new(MemoryStorage::new());
    storage.delay(Some(Duration::from_millis(20)));
    let client = CachedClient::new(CacheLayer::new(storage.clone()));
    let response = client.get(upstream.url("/large")).send().await.unwrap();
    assert_eq!(outcome(&response), CacheOutcome::Storing);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), reqcache_test::upstream::LARGE_BODY);
    assert_eq!(storage.inner().len().await.unwrap(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn read_to_its_end_is_stored_without_a_flush_current_thread() {
    read_to_its_end_is_stored_without_a_flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_to_its_end_is_stored_without_a_flush_multi_thread() {
    read_to_its_end_is_stored_without_a_flush().await;
}
