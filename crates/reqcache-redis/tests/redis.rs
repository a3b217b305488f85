//! RedisStorage through the layer: sharing, namespaces, TTLs, fail-open.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock};
use reqcache_redis::RedisStorage;
use support::{OwnServer, unique_namespace};
use tower::{Layer, Service, ServiceExt};

/// A counting upstream that answers `GET /x` with "body of /x".
fn upstream(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = format!("body of {}", request.uri().path());
        async move { Ok(Response::new(Full::new(Bytes::from(body)))) }
    })
}

async fn send<S, B>(service: &S, url: &str) -> (CacheStatus, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(url).body(Full::default()).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

async fn storage(url: &str, namespace: &str) -> RedisStorage {
    RedisStorage::builder(url)
        .namespace(namespace)
        .open()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_with_their_own_connections_share_one_cache() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let namespace = unique_namespace("shared");
    let calls = Arc::new(AtomicUsize::new(0));
    let first =
        CacheLayer::new(storage(&url, &namespace).await).layer(upstream(Arc::clone(&calls)));
    let second =
        CacheLayer::new(storage(&url, &namespace).await).layer(upstream(Arc::clone(&calls)));

    let (status, _) = send(&first, "http://api.example/items").await;
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    // Written behind the response: another layer sees it once written.
    first.cache().unwrap().flush().await;
    let (status, body) = send(&second, "http://api.example/items").await;
    assert!(
        status.from_cache(),
        "a response cached by one layer is a hit for the other"
    );
    assert_eq!(body, "body of /items");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_isolated_and_clear_touches_only_its_own() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let a = storage(&url, &unique_namespace("a")).await;
    let b = storage(&url, &unique_namespace("b")).await;
    let entry = Arc::new(reqcache_test::sample_entry(
        "https://example.com/",
        &b"x"[..],
    ));
    a.put("0123", Arc::clone(&entry)).await.unwrap();
    b.put("0123", Arc::clone(&entry)).await.unwrap();
    b.put("abcd", entry).await.unwrap();
    assert_eq!(a.len().await.unwrap(), 1);
    assert_eq!(b.len().await.unwrap(), 2);
    b.clear().await.unwrap();
    assert_eq!(b.len().await.unwrap(), 0);
    assert!(a.get("0123", reqcache_test::t0()).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_maps_to_redis_ttls() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let t0 = reqcache_test::t0();
    let expiring = reqcache_test::sample_entry("https://e.com/", &b"x"[..])
        .with_expires(Some(t0 + Duration::from_secs(60)));
    let never = reqcache_test::sample_entry("https://e.com/", &b"x"[..]).with_expires(None);
    let retained = expiring
        .clone()
        .with_retain_until(Some(t0 + Duration::from_secs(90)));

    // The deadline is the entry's retention, or one hour past its expiry
    // (reqcache's default for native expiry), or none.
    let cases: [(&str, reqcache::storage::CachedResponse, Option<u64>); 3] = [
        ("default retention", expiring, Some(3660)),
        ("never expires", never, None),
        ("layer retention wins", retained, Some(90)),
    ];
    for (case, entry, expected_secs) in cases {
        let storage = RedisStorage::builder(&url)
            .namespace(unique_namespace("ttl"))
            .open()
            .await
            .unwrap();
        storage.put("00ff", Arc::new(entry)).await.unwrap();
        let pttl: i64 = redis::cmd("PTTL")
            .arg(storage.value_key("00ff"))
            .query_async(&mut connection)
            .await
            .unwrap();
        match expected_secs {
            None => assert_eq!(pttl, -1, "{case}: no TTL"),
            Some(secs) => {
                // The TTL counts from t0, a little in the past.
                let expected = secs as i64 * 1000;
                assert!(
                    pttl <= expected && pttl > expected - 10_000,
                    "{case}: PTTL {pttl}, expected about {expected}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_succeeding_while_redis_is_down_and_caching_resumes_after() {
    let Some(server) = OwnServer::start() else {
        return;
    };
    let storage = RedisStorage::builder(&server.url())
        .namespace("failover")
        .response_timeout(Duration::from_millis(200))
        .connection_timeout(Duration::from_millis(200))
        .open()
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // The breaker's cool-down runs on this clock.
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let layer = CacheLayer::builder(storage)
        .clock(Arc::clone(&clock))
        .build();
    let service = layer.layer(upstream(Arc::clone(&calls)));

    assert_eq!(
        send(&service, "http://e.com/before").await.0.outcome(),
        CacheOutcome::Storing
    );
    layer.cache().flush().await;
    assert!(send(&service, "http://e.com/before").await.0.from_cache());

    // Stop the server in the middle of the load.
    let port = server.stop();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            send(&service, &format!("http://e.com/during/{}", i % 4)).await
        }));
    }
    for task in tasks {
        let (_, body) = task.await.unwrap();
        // From upstream, or from a concurrent request's response for the
        // same URL (single flight): never from the storage that is down.
        assert!(
            body.starts_with(b"body of /during/"),
            "every request succeeds"
        );
    }
    let during = calls.load(Ordering::SeqCst) - 1;
    assert!((4..=20).contains(&during), "{during} upstream calls");
    // Each read failed, or was skipped once the breaker opened.
    let stats = layer.cache().stats();
    assert!(
        stats.storage_read_errors + stats.reads_skipped >= 20,
        "{stats:?}"
    );
    assert!(
        stats.storage_read_errors >= 5 && stats.breaker_trips >= 1,
        "{stats:?}"
    );

    // Start it again on the same port (empty: it keeps nothing on disk).
    let _server = OwnServer::start_on(port).expect("restart");
    // The connection comes back by itself: within a bounded number of
    // attempts a response is stored again, then served from the cache.
    let mut resumed = false;
    for _ in 0..100 {
        // Past the breaker's cool-down: the next call is a probe.
        clock.advance(Duration::from_secs(60));
        send(&service, "http://e.com/after").await;
        layer.cache().flush().await;
        if send(&service, "http://e.com/after").await.0.from_cache() {
            resumed = true;
            break;
        }
        // Waiting for the reconnection, a real-world event, not for cache time.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed, "caching did not resume after the server came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_storage_serves_hits_from_every_bucket() {
    let Some((storage, ())) = support::cluster().await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = CacheLayer::new(storage.clone());
    let service = layer.layer(upstream(Arc::clone(&calls)));
    for i in 0..64 {
        send(&service, &format!("http://e.com/{i}")).await;
    }
    for i in 0..64 {
        assert!(
            send(&service, &format!("http://e.com/{i}"))
                .await
                .0
                .from_cache()
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 64);
    let entries = layer.cache().entries().await.unwrap();
    assert_eq!(entries.len(), 64);
    // Keys spread over many buckets, hence slots, hence the cluster's nodes.
    let buckets: std::collections::HashSet<char> = entries
        .iter()
        .map(|e| e.key.chars().next().unwrap())
        .collect();
    assert!(buckets.len() > 8, "{buckets:?}");
    assert_eq!(layer.cache().delete_url("http://e.com/3").await.unwrap(), 1);
    layer.cache().clear().await.unwrap();
    assert_eq!(layer.cache().len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_bad_namespace_or_url_is_a_config_error() {
    let error = RedisStorage::builder("redis://127.0.0.1:1")
        .namespace("a{b}")
        .open()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), reqcache::storage::StorageErrorKind::Config);
    let error = RedisStorage::open("not a url").await.unwrap_err();
    assert_eq!(error.kind(), reqcache::storage::StorageErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_url_uses_the_url_index_and_checks_it() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let storage = storage(&url, &unique_namespace("urls")).await;
    let entry = |u: &str| Arc::new(reqcache_test::sample_entry(u, &b"x"[..]));
    storage.put("0aaa", entry("https://e.com/a")).await.unwrap();
    storage.put("fbbb", entry("https://e.com/a")).await.unwrap();
    storage.put("7ccc", entry("https://e.com/c")).await.unwrap();
    // Overwritten with another URL: the old URL's index member is stale.
    storage.put("fbbb", entry("https://e.com/b")).await.unwrap();

    assert_eq!(storage.delete_url("https://e.com/a").await.unwrap(), 1);
    let mut left: Vec<String> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    left.sort();
    assert_eq!(left, ["7ccc", "fbbb"]);
    assert_eq!(storage.delete_url("https://e.com/b").await.unwrap(), 1);
    assert_eq!(storage.delete_url("https://e.com/b").await.unwrap(), 0);

    // clear removes the index sets too: nothing of the namespace is left.
    storage.clear().await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{}:*", storage.namespace()))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_request_invalidates_entries_in_redis() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = CacheLayer::new(storage(&url, &unique_namespace("invalidate")).await);
    let service = layer.layer(upstream(Arc::clone(&calls)));
    send(&service, "http://api.example/items").await;
    assert!(
        send(&service, "http://api.example/items")
            .await
            .0
            .from_cache()
    );
    let post = Request::post("http://api.example/items")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    service.clone().oneshot(post).await.unwrap();
    assert!(
        !send(&service, "http://api.example/items")
            .await
            .0
            .from_cache()
    );
}
