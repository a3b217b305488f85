//! The proxy in front of users: forwarding headers that would poison the
//! shared cache, slow and oversized request heads, a hung upstream, and a
//! graceful shutdown. Real sockets on loopback throughout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::{CacheMode, MemoryStorage};
use reqcache_cli::proxy::{self, CACHE_HEADER, ProxyOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// An upstream that records each request's headers and answers with what
/// `answer` makes of them, once `gate` lets it (when there is one).
async fn upstream(
    seen: Arc<Mutex<Vec<HeaderMap>>>,
    gate: Option<Arc<Notify>>,
    answer: fn(&HeaderMap) -> &'static str,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            let gate = gate.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let body = answer(request.headers());
                    seen.lock().unwrap().push(request.headers().clone());
                    let gate = gate.clone();
                    async move {
                        if let Some(gate) = gate {
                            gate.notified().await;
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("cache-control", "max-age=60")
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
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

/// An upstream that routes on the override headers, as some frameworks do.
fn routed(headers: &HeaderMap) -> &'static str {
    if headers.contains_key("x-original-url") || headers.contains_key("x-rewrite-url") {
        "admin page"
    } else if headers
        .get("x-forwarded-host")
        .is_some_and(|h| h != "shop.example")
    {
        "<script src=//evil.example/x.js>"
    } else {
        "public page"
    }
}

async fn start(upstream: SocketAddr, options: ProxyOptions) -> proxy::Proxy {
    let layer = proxy::layer_builder(MemoryStorage::new(), CacheMode::Shared).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    proxy::serve_with(
        listener,
        format!("http://{upstream}").parse().unwrap(),
        layer,
        options,
    )
    .unwrap()
}

async fn get(proxy: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (Response<()>, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::get(format!("http://{proxy}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::default()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        Response::from_parts(parts, ()),
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_headers_from_clients_cannot_poison_the_cache() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = start(
        upstream(Arc::clone(&seen), None, routed).await,
        ProxyOptions::default(),
    )
    .await;
    let addr = proxy.local_addr();
    for (attack, value) in [
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-forwarded-host", "evil.example"),
    ] {
        let path = format!("/public?v={attack}");
        let (_, first) = get(addr, &path, &[(attack, value), ("host", "shop.example")]).await;
        assert_eq!(first, "public page", "{attack} reached the upstream");
        let (second, body) = get(addr, &path, &[("host", "shop.example")]).await;
        assert_eq!(second.headers()[CACHE_HEADER], "Hit");
        assert_eq!(body, "public page", "{attack} poisoned the cache");
    }
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first["x-forwarded-for"], "127.0.0.1");
    assert_eq!(first["x-forwarded-host"], "shop.example");
    assert_eq!(first["via"], "1.1 reqcache");
    assert!(
        first["forwarded"]
            .to_str()
            .unwrap()
            .starts_with("for=127.0.0.1;proto=http")
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_chain_is_kept() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = ProxyOptions::default();
    options.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let proxy = start(upstream(Arc::clone(&seen), None, routed).await, options).await;
    get(
        proxy.local_addr(),
        "/",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(first["x-forwarded-proto"], "https");
    proxy.shutdown().await;
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closed the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_is_cut_off() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = ProxyOptions::default();
    options.header_read_timeout = Duration::from_millis(200);
    let proxy = start(upstream(Arc::clone(&seen), None, routed).await, options).await;
    let mut slowloris = TcpStream::connect(proxy.local_addr()).await.unwrap();
    slowloris
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1")
        .await
        .unwrap();
    // The server closes it (with or without a 408), never waits forever.
    let answer = read_to_close(&mut slowloris).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(proxy.local_addr()).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(seen.lock().unwrap().len() == 1);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_before_choosing_a_version_is_cut_off() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = ProxyOptions::default();
    options.header_read_timeout = Duration::from_millis(200);
    let proxy = start(upstream(Arc::clone(&seen), None, routed).await, options).await;
    // Nothing at all, and half the HTTP/2 preface: both closed by the
    // proxy (an outer bound keeps the test from hanging if not).
    for sent in [&b""[..], &b"PRI * HTTP/2.0\r\n"[..]] {
        let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream)).await;
        assert!(closed.is_ok(), "still open after {sent:?}");
    }
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_are_refused() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = start(
        upstream(Arc::clone(&seen), None, routed).await,
        ProxyOptions::default(),
    )
    .await;
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    for extra in [many, huge] {
        let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{extra}Connection: close\r\n\r\n");
        // The proxy may answer before it has read everything.
        let _ = stream.write_all(head.as_bytes()).await;
        let answer = read_to_close(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{}",
            &answer[..answer.len().min(80)]
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_is_a_504_after_the_head_timeout() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // A gate nobody opens: the upstream never answers.
    let gate = Arc::new(Notify::new());
    let mut options = ProxyOptions::default();
    options.upstream_head_timeout = Duration::from_millis(200);
    let proxy = start(
        upstream(Arc::clone(&seen), Some(gate), routed).await,
        options,
    )
    .await;
    let (response, _) = get(proxy.local_addr(), "/slow", &[]).await;
    assert_eq!(response.status(), 504);
    assert_eq!(
        response.headers()["cache-status"],
        "reqcache; detail=upstream-timeout"
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_requests_in_flight_and_accepts_no_more() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Notify::new());
    let proxy = start(
        upstream(Arc::clone(&seen), Some(Arc::clone(&gate)), routed).await,
        ProxyOptions::default(),
    )
    .await;
    let addr = proxy.local_addr();
    let in_flight =
        tokio::spawn(async move { get(addr, "/in-flight", &[("host", "shop.example")]).await });
    // Wait until the upstream holds the request.
    while seen.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let stopping = tokio::spawn(proxy.shutdown());
    // Once the accept loop has stopped, new connections are refused.
    let refused = async {
        loop {
            if TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the proxy stopped accepting");
    gate.notify_one();
    let (response, body) = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body, "public page");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown ends once the request is answered")
        .unwrap();
}

/// An upstream that answers with the first chunk of the request body as
/// soon as it has it, without waiting for the rest; on `/whole`, with the
/// length of the whole body.
async fn first_chunk_upstream(reached: Arc<Mutex<usize>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let reached = Arc::clone(&reached);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    *reached.lock().unwrap() += 1;
                    let whole = request.uri().path() == "/whole";
                    async move {
                        let mut body = request.into_body();
                        if whole {
                            let length = match body.collect().await {
                                Ok(all) => all.to_bytes().len().to_string(),
                                Err(_) => "broken".to_owned(),
                            };
                            return Ok(Response::new(Full::new(Bytes::from(length))));
                        }
                        let first = match body.frame().await {
                            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
                            _ => Bytes::new(),
                        };
                        // Keep reading in the background: the answer does not wait.
                        tokio::spawn(async move { while body.frame().await.is_some() {} });
                        Ok::<_, Infallible>(Response::new(Full::new(first)))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_to_the_upstream_and_are_limited() {
    let reached = Arc::new(Mutex::new(0));
    let mut options = ProxyOptions::default();
    options.max_request_body_size = 1024;
    let proxy = start(first_chunk_upstream(Arc::clone(&reached)).await, options).await;
    let addr = proxy.local_addr();

    // Streaming: the upstream answers from the first chunk while the client
    // still holds the rest; a proxy that collected the body would wait forever.
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, Infallible>>(4);
    sender
        .send(Ok(http_body::Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let body = http_body_util::StreamBody::new(tokio_stream_from(receiver));
    let client =
        Client::builder(TokioExecutor::new()).build_http::<http_body_util::StreamBody<_>>();
    let request = Request::post(format!("http://{addr}/upload"))
        .body(body)
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("the upstream got the first chunk before the body ended")
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "first"
    );
    drop(sender);

    // A declared length past the limit: 413 at once, nothing sent upstream.
    let before = *reached.lock().unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("detail=request-too-large"), "{answer}");
    assert_eq!(*reached.lock().unwrap(), before);

    // Chunked: within the limit it arrives whole; past it, a 413.
    for (size, expected) in [(1000, "HTTP/1.1 200"), (0x800, "HTTP/1.1 413")] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = "POST /whole HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let body = format!("{size:x}\r\n{}\r\n0\r\n\r\n", "a".repeat(size));
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with(expected), "{size}: {answer}");
        if size == 1000 {
            assert!(answer.ends_with("1000"), "{answer}");
        }
    }
    proxy.shutdown().await;
}

/// A `Stream` of the receiver's items.
fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
