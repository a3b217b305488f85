//! TieredStorage over RedisStorage with RedisBus: two instances sharing one
//! real Redis stay coherent within a stated bound, through the layer and
//! directly; with the bus down, L1 copies fall back to the short TTL.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::{Storage, TieredStorage};
use reqcache::{CacheLayer, CacheOutcome};
use reqcache_redis::{RedisBus, RedisStorage};
use reqcache_test::wait_for_bus;
use support::{OwnServer, unique_namespace};
use tower::{Layer, Service, ServiceExt};

/// How soon another instance must have dropped its L1 copy after a write
/// returned: the coherence bound the docs state (a message on loopback
/// takes well under a millisecond; this leaves room for a loaded CI box).
const COHERENCE_BOUND: Duration = Duration::from_secs(1);

/// A tiered storage over the namespace, its bus on `bus_url`.
async fn tiered(l2_url: &str, namespace: &str, bus_url: &str) -> TieredStorage {
    let l2 = RedisStorage::builder(l2_url)
        .namespace(namespace)
        .open()
        .await
        .unwrap();
    let bus = RedisBus::new(bus_url)
        .unwrap()
        .channel(format!("reqcache:invalidate:{namespace}"))
        .heartbeat(Duration::from_millis(100));
    TieredStorage::builder(l2).bus(bus).build()
}

async fn connected(storage: &TieredStorage) {
    wait_for_bus(storage, Duration::from_secs(10), |s| s.connected).await;
}

/// An upstream whose body is "v<version>", cacheable for an hour.
fn upstream(
    version: Arc<AtomicUsize>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: Request<Full<Bytes>>| {
        let body = format!("v{}", version.load(Ordering::SeqCst));
        async move {
            Ok(Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Full::new(Bytes::from(body)))
                .unwrap())
        }
    })
}

async fn send<S>(service: &S, method: Method, url: &str) -> (CacheOutcome, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<reqcache::CacheBody<Full<Bytes>>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let outcome = response
        .extensions()
        .get::<reqcache::CacheStatus>()
        .unwrap()
        .outcome();
    (
        outcome,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_over_one_redis_stay_coherent_within_the_bound() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let namespace = unique_namespace("tiered");
    let (a, b) = (
        tiered(&url, &namespace, &url).await,
        tiered(&url, &namespace, &url).await,
    );
    connected(&a).await;
    connected(&b).await;
    let version = Arc::new(AtomicUsize::new(1));
    let layer_a = CacheLayer::new(a.clone());
    let layer_b = CacheLayer::new(b.clone());
    let service_a = layer_a.layer(upstream(Arc::clone(&version)));
    let service_b = layer_b.layer(upstream(Arc::clone(&version)));
    let url_x = "http://api.example/x";

    assert_eq!(
        send(&service_a, Method::GET, url_x).await,
        (CacheOutcome::Storing, "v1".into())
    );
    layer_a.cache().flush().await;
    // A's write was announced; once B has heard it, B's fills are its own.
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received >= 1).await;
    // B: from L2 (Redis), then from its own L1.
    assert_eq!(
        send(&service_b, Method::GET, url_x).await,
        (CacheOutcome::Hit, "v1".into())
    );
    assert_eq!(
        send(&service_b, Method::GET, url_x).await,
        (CacheOutcome::Hit, "v1".into())
    );
    assert!(b.stats().l1_hits >= 1, "{:?}", b.stats());

    // The upstream changes and A's POST invalidates the URL: B's copy goes
    // within the bound.
    version.store(2, Ordering::SeqCst);
    let received = b.bus_status().borrow().received;
    let started = Instant::now();
    send(&service_a, Method::POST, url_x).await;
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received > received).await;
    eprintln!(
        "invalidation reached the other instance in {:?}",
        started.elapsed()
    );
    assert_eq!(
        send(&service_b, Method::GET, url_x).await,
        (CacheOutcome::Storing, "v2".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_reaches_the_other_instance_within_the_bound() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let namespace = unique_namespace("bound");
    let (a, b) = (
        tiered(&url, &namespace, &url).await,
        tiered(&url, &namespace, &url).await,
    );
    connected(&a).await;
    connected(&b).await;
    let t0 = reqcache_test::t0();
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let body = format!("round {round}");
        let entry = reqcache_test::sample_entry("https://example.com/k", body.clone());
        let received = b.bus_status().borrow().received;
        a.put("k", Arc::new(entry)).await.unwrap();
        let started = Instant::now();
        wait_for_bus(&b, COHERENCE_BOUND, |s| s.received > received).await;
        slowest = slowest.max(started.elapsed());
        // B's next read is the new version, never its old L1 copy.
        let read = b.get("k", t0).await.unwrap().unwrap();
        assert_eq!(read.body, body);
    }
    eprintln!("slowest of 20 invalidations after the write returned: {slowest:?}");
    assert_eq!(b.stats().l2_reads, 20, "each round read L2 once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bus_down_l1_copies_fall_back_to_the_short_ttl() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    // The bus on a server of the test's own, to stop; L2 stays up.
    let Some(bus_server) = OwnServer::start() else {
        return;
    };
    let namespace = unique_namespace("busdown");
    let (a, b) = (
        tiered(&url, &namespace, &bus_server.url()).await,
        tiered(&url, &namespace, &bus_server.url()).await,
    );
    connected(&a).await;
    connected(&b).await;
    let t0 = reqcache_test::t0();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    let entry =
        |body: &'static str| Arc::new(reqcache_test::sample_entry("https://example.com/k", body));

    a.put("k", entry("v1")).await.unwrap();
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received >= 1).await;
    assert_eq!(b.get("k", secs(0)).await.unwrap().unwrap().body, "v1");
    assert_eq!(b.get("k", secs(30)).await.unwrap().unwrap().body, "v1");
    assert_eq!((b.stats().l2_reads, b.stats().l1_hits), (1, 1));

    let port = bus_server.stop();
    wait_for_bus(&b, Duration::from_secs(10), |s| !s.connected).await;
    assert_eq!(
        b.l1().len().await.unwrap(),
        0,
        "L1 emptied when the bus went down"
    );
    // Copies now last one second (the default short TTL).
    b.get("k", secs(31)).await.unwrap().unwrap();
    b.get("k", secs(31)).await.unwrap().unwrap();
    assert_eq!((b.stats().l2_reads, b.stats().l1_hits), (2, 2));
    b.get("k", secs(33)).await.unwrap().unwrap();
    assert_eq!(b.stats().l2_reads, 3);
    // A write cannot be announced; B sees it once its short copy is gone.
    a.put("k", entry("v2")).await.unwrap();
    assert!(a.stats().publish_errors >= 1, "{:?}", a.stats());
    assert_eq!(b.get("k", secs(35)).await.unwrap().unwrap().body, "v2");

    // The bus comes back: L1 starts afresh and messages flow again.
    let _bus_server = OwnServer::start_on(port).expect("restart the bus server");
    wait_for_bus(&b, Duration::from_secs(10), |s| s.connected).await;
    connected(&a).await;
    let received = b.bus_status().borrow().received;
    a.put("k", entry("v3")).await.unwrap();
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received > received).await;
    assert_eq!(b.get("k", secs(36)).await.unwrap().unwrap().body, "v3");
}

/// Subscribers of `channel` on the server at `url`.
async fn subscribers(url: &str, channel: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async::<Vec<(String, i64)>>(&mut connection)
        .await
        .unwrap()
        .remove(0);
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_storage_ends_its_subscription() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let namespace = unique_namespace("drop");
    let channel = format!("reqcache:invalidate:{namespace}");
    let storage = tiered(&url, &namespace, &url).await;
    connected(&storage).await;
    assert_eq!(subscribers(&url, &channel).await, 1);
    drop(storage);
    // The task notices at its next heartbeat (100 ms here): a real-world
    // event, polled with a bound.
    let mut left = 1;
    for _ in 0..100 {
        left = subscribers(&url, &channel).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the subscription outlived its storage");
}
