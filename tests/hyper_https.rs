//! hyper-util's legacy client over HTTPS (hyper-rustls) under the layer,
//! against a TLS server on loopback: nothing but tower between them.

#[path = "../examples/support/tls.rs"]
mod tls;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, MemoryStorage};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn https_responses_are_cached_like_http_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tls");
    let acceptor = tls::server_tls(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = format!("secure {}", request.uri().path());
                    async move {
                        let response = Response::builder()
                            .header("cache-control", "max-age=60")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_tls(&dir).unwrap())
        .https_only()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
    let layer = CacheLayer::new(MemoryStorage::new());
    let mut service = ServiceBuilder::new().layer(layer.clone()).service(client);

    let url = format!("https://localhost:{port}/report");
    for expected in [CacheOutcome::Storing, CacheOutcome::Hit, CacheOutcome::Hit] {
        let request = Request::get(&url).body(Full::default()).unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        let status = response.extensions().get::<CacheStatus>().unwrap().clone();
        assert_eq!(status.outcome(), expected);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "secure /report");
    }
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let stored = layer.cache().entries().await.unwrap();
    assert_eq!(stored[0].url, url, "the scheme is part of the stored URL");
}
