//! The proxy against a real upstream server and a real client on loopback.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::{CacheLayer, CacheMode, MemoryStorage};
use reqcache_cli::proxy::{self, CACHE_HEADER};
use tokio::net::TcpListener;

/// An upstream that counts requests; `/private` is `Cache-Control: private`,
/// `/silent` says nothing of freshness.
async fn upstream(hits: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let hits = Arc::clone(&hits);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let path = request.uri().path();
                    let cache_control = if path.ends_with("/private") {
                        "private, max-age=60"
                    } else if path.ends_with("/silent") {
                        // Neither freshness nor a validator.
                        "x-nothing"
                    } else {
                        "max-age=60"
                    };
                    let body = format!("{} {}", request.method(), request.uri());
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("cache-control", cache_control)
                                .header("connection", "keep-alive")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn get(proxy: SocketAddr, path: &str) -> (Response<()>, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::get(format!("http://{proxy}{path}"))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        Response::from_parts(parts, ()),
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_repeated_requests_from_its_shared_cache() {
    let hits = Arc::new(AtomicUsize::new(0));
    let upstream = upstream(Arc::clone(&hits)).await;
    let proxy = shared_proxy(&format!("http://{upstream}/api")).await;
    let addr = proxy.local_addr();

    let (first, body) = get(addr, "/items?page=1").await;
    assert_eq!(
        body, "GET /api/items?page=1",
        "forwarded under the upstream's base path"
    );
    assert_eq!(first.headers()[CACHE_HEADER], "Storing");
    let status = first.headers()["cache-status"].to_str().unwrap();
    // The ttl counts from the upstream's whole-second Date.
    assert!(
        status.starts_with("reqcache; fwd=uri-miss; stored; ttl="),
        "{status}"
    );
    let (second, again) = get(addr, "/items?page=1").await;
    assert_eq!(again, body);
    assert_eq!(second.headers()[CACHE_HEADER], "Hit");
    let status = second.headers()["cache-status"].to_str().unwrap();
    assert!(status.starts_with("reqcache; hit; ttl="), "{status}");
    assert!(second.headers().contains_key("age"));
    assert!(
        !second.headers().contains_key("connection"),
        "hop-by-hop headers are not forwarded"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A private response is not stored by a shared cache.
    get(addr, "/private").await;
    let (private, _) = get(addr, "/private").await;
    assert_eq!(private.headers()[CACHE_HEADER], "NotStored");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.cache().len().await.unwrap(), 1);

    // Neither freshness nor a validator: never reused (requests-cache's
    // default would keep it forever).
    get(addr, "/silent").await;
    let (silent, _) = get(addr, "/silent").await;
    assert_eq!(silent.headers()[CACHE_HEADER], "NotStored");
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    proxy.shutdown().await;
}

/// An HTTP/1.0 upstream, on raw TCP: one answer per connection, then close.
async fn http10_upstream() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let answer =
                    "HTTP/1.0 200 OK\r\ncache-control: max-age=60\r\ncontent-length: 2\r\n\r\nhi";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_in_the_clients_version_whatever_the_upstream_speaks() {
    let upstream = http10_upstream().await;
    let proxy = shared_proxy(&format!("http://{upstream}")).await;
    for expected in ["Storing", "Hit"] {
        let (response, body) = get(proxy.local_addr(), "/old").await;
        assert_eq!(body, "hi");
        assert_eq!(response.headers()[CACHE_HEADER], expected);
        assert_eq!(response.version(), http::Version::HTTP_11, "{expected}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = proxy::serve(
        listener,
        format!("http://{closed}").parse().unwrap(),
        CacheLayer::new(MemoryStorage::new()),
    )
    .unwrap();
    let (response, _) = get(proxy.local_addr(), "/x").await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers()["cache-status"],
        "reqcache; detail=upstream-error",
        "responses the proxy makes carry a Cache-Status too"
    );
    proxy.shutdown().await;
}

#[test]
fn the_upstream_must_be_an_http_url() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(
            proxy::serve(
                listener,
                "/relative".parse().unwrap(),
                CacheLayer::new(MemoryStorage::new())
            )
            .is_err()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_starts_and_serves_while_its_redis_is_down() {
    let hits = Arc::new(AtomicUsize::new(0));
    let upstream = upstream(Arc::clone(&hits)).await;
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let storage = reqcache_cli::storage::open_lazily(&format!("redis://{closed}"))
        .await
        .expect("a storage that is down still opens");
    let layer = proxy::layer_builder(storage, CacheMode::Shared).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = proxy::serve(
        listener,
        format!("http://{upstream}").parse().unwrap(),
        layer,
    )
    .unwrap();
    for _ in 0..3 {
        let (response, body) = get(proxy.local_addr(), "/items").await;
        assert_eq!(response.status(), 200);
        assert_eq!(body, "GET /items");
    }
    // Nothing comes from Redis (a request may still be answered from a
    // response another one fetched just before, while its write fails).
    assert!(hits.load(Ordering::SeqCst) >= 1);
    let stats = proxy.cache().stats();
    assert!(stats.storage_read_errors > 0, "{stats:?}");
    proxy.shutdown().await;
}

/// A proxy in shared mode on memory, in front of `upstream`, on a free
/// loopback port.
async fn shared_proxy(upstream: &str) -> proxy::Proxy {
    let layer = proxy::layer_builder(MemoryStorage::new(), CacheMode::Shared).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    proxy::serve(listener, upstream.parse().unwrap(), layer).unwrap()
}
