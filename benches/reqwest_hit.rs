//! reqwest with and without the cache: a plain `reqwest::Client` request to a
//! server on loopback (the baseline, in the same run), against hits through
//! `CachedClient` and through `CacheMiddleware`.
//!
//! Run: `cargo bench --bench reqwest_hit`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use reqcache::{CacheLayer, MemoryStorage};
use reqcache_reqwest::{CacheMiddleware, CacheStatusExt, CachedClient};
use tokio::net::TcpListener;

/// A loopback server answering 1 KiB, fresh for an hour.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let response = Response::builder()
                            .header("cache-control", "max-age=3600")
                            .body(Full::new(body))
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
    format!("http://{addr}/v1/items/42")
}

/// Benches `send` once the first call has stored the response: every
/// iteration must be a hit.
fn bench_hits<F, Fut, E>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, send: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, E>>,
    E: std::fmt::Debug,
{
    rt.block_on(async { send().await.unwrap().bytes().await.unwrap() });
    c.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let response = send().await.unwrap();
            assert!(response.from_cache(), "the bench must measure hits");
            black_box(response.bytes().await.unwrap());
        });
    });
}

fn reqwest_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(serve());

    let bare = reqwest::Client::new();
    c.bench_function("reqwest/bare_loopback", |b| {
        b.to_async(&rt).iter(|| async {
            let body = bare.get(&url).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(body.len(), 1024);
            black_box(body);
        });
    });

    let cached = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    bench_hits(c, &rt, "reqwest/cached_client_hit", || {
        cached.get(&url).send()
    });

    let middleware = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(CacheMiddleware::new(CacheLayer::new(MemoryStorage::new())))
        .build();
    bench_hits(c, &rt, "reqwest/middleware_hit", || {
        middleware.get(&url).send()
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = reqwest_hit
}
criterion_main!(benches);
