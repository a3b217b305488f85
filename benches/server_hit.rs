//! Hit throughput through the layer on the server storages, RedisStorage
//! and PostgresStorage, each alone and behind an L1 (TieredStorage with the
//! server's bus), one task and many concurrent tasks, against the bare
//! service in the same run.
//!
//! Needs the servers: `REQCACHE_REDIS_URL=redis://127.0.0.1:6379
//! REQCACHE_POSTGRES_URL=postgres://user@127.0.0.1:5432/db cargo bench
//! --bench server_hit` (scripts/test.sh sets both when it runs the benches
//! once as a smoke test). A storage whose variable is unset is skipped.

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod support;
use support::Upstream;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use reqcache::CacheLayer;
use reqcache::storage::Storage;
use reqcache::storage::TieredStorage;
use reqcache_postgres::{PostgresBus, PostgresStorage};
use reqcache_redis::RedisStorage;
use tower::{Layer, Service, ServiceExt};

/// Concurrent tasks in the "many" case.
const TASKS: u64 = 32;

fn upstream() -> impl Upstream {
    let body = Bytes::from(vec![b'x'; 1024]);
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let body = body.clone();
        async move {
            Ok(Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Full::new(body))
                .unwrap())
        }
    })
}

async fn round_trip<S, B>(service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get("https://api.example.com/v1/items/42")
        .body(Full::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 1024);
    black_box(body);
}

fn bench<S, B>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, service: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: Body + Send,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    rt.block_on(round_trip(service.clone()));
    let mut group = c.benchmark_group("server_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("{name}/1_task"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let service = service.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    round_trip(service.clone()).await;
                }
                start.elapsed()
            }
        })
    });
    group.bench_function(format!("{name}/{TASKS}_tasks"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let service = service.clone();
            async move {
                let per_task = iters.div_ceil(TASKS);
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let service = service.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                round_trip(service.clone()).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                // Scale to the iterations asked for.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * TASKS) as f64)
            }
        })
    });
    group.finish();
}

/// Benchmarks hits on `storage` (emptied before and after).
fn bench_storage<S: Storage + Clone>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    storage: S,
) {
    rt.block_on(storage.clear()).unwrap();
    let layer = CacheLayer::new(storage.clone());
    bench(c, rt, name, layer.layer(upstream()));
    rt.block_on(layer.cache().flush());
    assert_eq!(
        rt.block_on(layer.cache().len()).unwrap(),
        1,
        "the bench must measure hits"
    );
    assert!(layer.cache().stats().hits > 0);
    rt.block_on(storage.clear()).unwrap();
}

fn server_hit(c: &mut Criterion) {
    let redis = std::env::var("REQCACHE_REDIS_URL").ok();
    let postgres = std::env::var("REQCACHE_POSTGRES_URL").ok();
    if redis.is_none() && postgres.is_none() {
        eprintln!(
            "server_hit: neither REQCACHE_REDIS_URL nor REQCACHE_POSTGRES_URL is set; skipped"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    bench(c, &rt, "bare", upstream());
    if let Some(url) = redis {
        let storage = rt
            .block_on(RedisStorage::builder(&url).namespace("bench").open())
            .unwrap();
        bench_storage(c, &rt, "redis", storage.clone());
        // The same behind an L1, its bus on the same server.
        let bus = rt.block_on(async {
            reqcache_redis::RedisBus::new(&url)
                .unwrap()
                .channel("reqcache:invalidate:bench")
        });
        let _guard = rt.enter();
        let tiered = TieredStorage::builder(storage).bus(bus).build();
        bench_storage(c, &rt, "redis_l1", tiered);
    }
    if let Some(url) = postgres {
        // As many connections as the tasks, so the pool is not what is
        // measured.
        let storage = rt
            .block_on(
                PostgresStorage::builder(&url)
                    .table("bench")
                    .max_connections(TASKS as u32)
                    .open(),
            )
            .unwrap();
        bench_storage(c, &rt, "postgres", storage.clone());
        let bus = PostgresBus::new(storage.pool().clone()).channel("bench_invalidate");
        let _guard = rt.enter();
        let tiered = TieredStorage::builder(storage).bus(bus).build();
        bench_storage(c, &rt, "postgres_l1", tiered);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = server_hit
}
criterion_main!(benches);
