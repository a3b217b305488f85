//! Concurrent misses for one key reach upstream once.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, CacheStatus, MemoryStorage};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// An upstream that holds every call until the gate opens.
fn gated(
    calls: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
    cache_control: &'static str,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let calls = Arc::clone(&calls);
        let gate = Arc::clone(&gate);
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let _permit = gate.acquire().await.unwrap();
            Ok::<_, Infallible>(
                Response::builder()
                    .header("cache-control", cache_control)
                    .body(Full::new(Bytes::from(format!("response {n}"))))
                    .unwrap(),
            )
        }
    })
}

/// Sends `n` concurrent requests for one URL; returns (upstream calls, bodies
/// served from the cache, distinct bodies).
async fn burst(
    n: usize,
    single_flight: bool,
    cache_control: &'static str,
) -> (usize, usize, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let layer = CacheLayer::builder(MemoryStorage::new())
        .single_flight(single_flight)
        .build();
    let service = layer.layer(gated(Arc::clone(&calls), Arc::clone(&gate), cache_control));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                let request = Request::get("http://e.com/hot")
                    .body(Full::default())
                    .unwrap();
                let response = service.oneshot(request).await.unwrap();
                let from_cache = response
                    .extensions()
                    .get::<CacheStatus>()
                    .unwrap()
                    .from_cache();
                (
                    from_cache,
                    response.into_body().collect().await.unwrap().to_bytes(),
                )
            })
        })
        .collect();
    // On this single-threaded runtime, yielding lets every task run until it
    // blocks: on the gate (upstream) or on the leader (single flight).
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(n);
    let mut from_cache = 0;
    let mut bodies = std::collections::HashSet::new();
    for task in tasks {
        let (cached, body) = task.await.unwrap();
        from_cache += usize::from(cached);
        bodies.insert(body);
    }
    (calls.load(Ordering::SeqCst), from_cache, bodies.len())
}

#[tokio::test(flavor = "current_thread")]
async fn fifty_concurrent_misses_make_one_upstream_request() {
    let (calls, from_cache, distinct) = burst(50, true, "max-age=60").await;
    assert_eq!(calls, 1);
    assert_eq!(from_cache, 49);
    assert_eq!(distinct, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn without_single_flight_every_miss_goes_upstream() {
    // The control for the test above: it can fail.
    let (calls, _, _) = burst(50, false, "max-age=60").await;
    assert_eq!(calls, 50);
}

#[tokio::test(flavor = "current_thread")]
async fn when_the_leaders_response_is_not_storable_followers_fetch_their_own() {
    let (calls, from_cache, _) = burst(10, true, "no-store").await;
    assert_eq!(calls, 10);
    assert_eq!(from_cache, 0);
}
