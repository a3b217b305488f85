//! CacheMiddleware in a reqwest-middleware chain, against a real server on
//! loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::Extensions;
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, ManualClock, MemoryStorage, RequestOptions};
use reqcache_reqwest::{CacheMiddleware, CacheStatusExt};
use reqcache_test::upstream::Upstream;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

/// A middleware after the cache that counts what reaches it.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl Middleware for Counting {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.run(request, extensions).await
    }
}

fn client(layer: CacheLayer, counting: &Counting) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(CacheMiddleware::new(layer))
        .with(counting.clone())
        .build()
}

#[tokio::test]
async fn hits_do_not_reach_the_rest_of_the_chain() {
    let upstream = Upstream::start().await;
    let counting = Counting::default();
    let client = client(CacheLayer::new(MemoryStorage::new()), &counting);

    let first = client.get(upstream.url("/json")).send().await.unwrap();
    assert!(!first.from_cache());
    let first: serde_json::Value = first.json().await.unwrap();
    let second = client.get(upstream.url("/json")).send().await.unwrap();
    assert!(second.from_cache());
    assert_eq!(second.url().as_str(), upstream.url("/json"));
    assert_eq!(second.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    assert_eq!(upstream.count("/json"), 1);
}

#[tokio::test]
async fn cache_options_come_from_the_request_extensions() {
    let upstream = Upstream::start().await;
    let counting = Counting::default();
    let client = client(CacheLayer::new(MemoryStorage::new()), &counting);
    let response = client
        .get(upstream.url("/json"))
        .with_extension(RequestOptions::new().only_if_cached())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(counting.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn revalidation_goes_through_the_chain() {
    let upstream = Upstream::start().await;
    let counting = Counting::default();
    let client = client(CacheLayer::new(MemoryStorage::new()), &counting);
    client.get(upstream.url("/etag")).send().await.unwrap();
    let second = client.get(upstream.url("/etag")).send().await.unwrap();
    assert_eq!(
        second.cache_status().unwrap().outcome(),
        CacheOutcome::Revalidated
    );
    assert_eq!(second.text().await.unwrap(), "etag #1");
    assert_eq!(counting.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn stale_if_error_answers_when_the_chain_fails() {
    let upstream = Upstream::start().await;
    let clock = Arc::new(ManualClock::new(reqcache_test::t0()));
    let counting = Counting::default();
    let layer = CacheLayer::builder(MemoryStorage::new())
        .stale_if_error(true)
        .clock(Arc::clone(&clock))
        .build();
    let client = client(layer, &counting);
    let url = upstream.url("/json");
    client.get(&url).send().await.unwrap();
    drop(upstream); // the server is gone: the chain fails to connect
    clock.advance(Duration::from_secs(120));
    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(
        stale.cache_status().unwrap().outcome(),
        CacheOutcome::StaleOnError
    );
    assert!(stale.is_expired());
    assert_eq!(counting.0.load(Ordering::SeqCst), 2, "the chain was tried");

    // A URL with nothing stored: the chain's own error comes back.
    let error = client.get("http://127.0.0.1:1/").send().await.unwrap_err();
    assert!(
        matches!(error, reqwest_middleware::Error::Reqwest(_)),
        "{error:?}"
    );
}

/// The middleware cannot refresh in the background (the rest of the chain is
/// only reachable while `handle` runs): within the window the stale answer
/// is given and no request reaches upstream; the first request past it
/// fetches in line.
#[tokio::test]
async fn stale_while_revalidate_answers_stale_and_refreshes_past_the_window() {
    let upstream = Upstream::start().await;
    let counting = Counting::default();
    let clock = Arc::new(ManualClock::new(reqcache_test::t0()));
    let layer = CacheLayer::builder(MemoryStorage::new())
        .expire_after(10)
        .stale_while_revalidate(Duration::from_secs(60))
        .clock(Arc::clone(&clock))
        .build();
    let client = client(layer, &counting);
    let url = upstream.url("/plain");
    client.get(&url).send().await.unwrap();
    clock.advance(Duration::from_secs(30));
    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(
        stale.cache_status().unwrap().outcome(),
        CacheOutcome::StaleWhileRevalidate
    );
    assert_eq!(stale.text().await.unwrap(), "plain #1");
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        upstream.count("/plain"),
        1,
        "no background refresh reached upstream"
    );
    clock.advance(Duration::from_secs(60));
    let past = client.get(&url).send().await.unwrap();
    assert_eq!(
        past.cache_status().unwrap().outcome(),
        CacheOutcome::Storing
    );
    assert_eq!(past.text().await.unwrap(), "plain #2");
}

/// Through the middleware too, a response read to its end is in storage
/// without a flush, however slow the storage's writes (20 ms each here).
#[tokio::test]
async fn a_response_read_to_its_end_is_stored_without_a_flush() {
    let upstream = Upstream::start().await;
    let storage = reqcache_test::Gated::new(MemoryStorage::new());
    storage.delay(Some(Duration::from_millis(20)));
    let client = client(CacheLayer::new(storage.clone()), &Counting::default());
    let response = client.get(upstream.url("/json")).send().await.unwrap();
    assert_eq!(
        response.cache_status().unwrap().outcome(),
        CacheOutcome::Storing
    );
    response.bytes().await.unwrap();
    assert_eq!(storage.inner().len().await.unwrap(), 1);
}
