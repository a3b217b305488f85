//! The cost of a cache hit, against the bare inner service in the same run.
//!
//! Each iteration builds a request, calls the service (a fresh hit with a
//! 1 KiB body and `Cache-Control: max-age=3600`), and collects the body.
//! `bare` is the inner service alone; the difference is what the layer adds.
//! The `*_vary` rows hit a response that varies on `Accept`, stored for two
//! values: the one asked for first, then another (`text/html`).
//!
//! Run: `cargo bench --bench hit_path`

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod support;
use support::Upstream;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, MemoryStorage};
use reqcache_sqlite::SqliteStorage;
use tower::{Layer, Service, ServiceExt};

const URL: &str = "https://api.example.com/v1/items/42?fields=all&lang=en";

fn body_1k() -> Bytes {
    let mut body = br#"{"id":42,"name":"item","tags":["a","b"],"description":""#.to_vec();
    body.resize(1022, b'x');
    body.extend_from_slice(br#""}"#);
    Bytes::from(body)
}

/// The upstream: answers at once with a 1 KiB JSON body, with `vary` when
/// given.
fn upstream(vary: Option<&'static str>) -> impl Upstream {
    let body = body_1k();
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let body = body.clone();
        async move {
            let mut response = Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", "max-age=3600")
                .header("etag", "\"v1\"");
            if let Some(vary) = vary {
                response = response.header("vary", vary);
            }
            Ok(response.body(Full::new(body)).unwrap())
        }
    })
}

async fn round_trip<S, B>(service: &mut S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    round_trip_accepting(service, "application/json").await;
}

async fn round_trip_accepting<S, B>(service: &mut S, accept: &'static str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(URL)
        .header("accept", accept)
        .header("user-agent", "bench/1.0")
        .body(Full::default())
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 1024);
    black_box(body);
}

fn bench_service<S, B>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + 'static,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    // Warm: the first call stores the response.
    rt.block_on(round_trip(&mut service.clone()));
    c.bench_function(&format!("hit_path/{name}"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let mut service = service.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    round_trip(&mut service).await;
                }
                start.elapsed()
            }
        })
    });
}

fn hit_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    bench_service(c, &rt, "bare", upstream(None));

    let memory = CacheLayer::new(MemoryStorage::new()).layer(upstream(None));
    bench_service(c, &rt, "memory", memory);

    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt
        .block_on(SqliteStorage::open(dir.path().join("bench")))
        .unwrap();
    let layer = CacheLayer::new(sqlite.clone());
    bench_service(c, &rt, "sqlite", layer.layer(upstream(None)));
    assert_eq!(
        rt.block_on(layer.cache().len()).unwrap(),
        1,
        "the SQLite bench must measure hits"
    );

    let layer = CacheLayer::new(MemoryStorage::new());
    let memory = layer.layer(upstream(Some("accept")));
    rt.block_on(two_variants(&mut memory.clone(), layer.cache()));
    bench_service(c, &rt, "memory_vary", memory);
    let sqlite = rt
        .block_on(SqliteStorage::open(dir.path().join("bench-vary")))
        .unwrap();
    let layer = CacheLayer::new(sqlite);
    let service = layer.layer(upstream(Some("accept")));
    rt.block_on(two_variants(&mut service.clone(), layer.cache()));
    bench_service(c, &rt, "sqlite_vary", service);
}

/// Stores the JSON variant, then the HTML one; the benches ask for JSON.
async fn two_variants<S, B>(service: &mut S, cache: &reqcache::CacheHandle)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    for accept in ["application/json", "text/html"] {
        round_trip_accepting(service, accept).await;
        cache.flush().await;
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = hit_path
}
criterion_main!(benches);
