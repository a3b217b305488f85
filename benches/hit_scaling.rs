//! Process CPU per cache hit, one task against two tasks on two worker
//! threads, on one key and on random keys of 100,000, for the bare service,
//! MemoryStorage and SqliteStorage (issue 18's scaling figures).
//!
//! Every hit is verified (1 KiB body). CPU is the process's user + system
//! time (`/proc/self/stat`, clock ticks) over the run, divided by the hits;
//! with two tasks on two cores, "2 tasks / 1 task" above 1 is what the hits
//! pay for sharing (locks, cache lines). The 100k-key rows fill the storage
//! first and pick keys from a fixed pseudo-random sequence.
//!
//! `floor` is the least a cache layer can do: a `RwLock<HashMap>` from URL
//! to headers and body, in a `service_fn` in front of the same upstream
//! (issue 18's "HashMap floor"). The upstream's body is `'static`, so that
//! the bare rows share no reference count between the tasks: what two tasks
//! cost beyond one is then the cache's.
//!
//! Each case runs `ROUNDS` times, one task and two tasks alternating; the
//! figures are the medians (this machine's neighbours make single runs
//! swing by a third).
//!
//! Run: `cargo bench --bench hit_scaling` (about three minutes). Under
//! `cargo test --bench hit_scaling` it runs a few hundred hits of each
//! case, once, as a smoke test. Names after `--` run only those rows:
//! `cargo bench --bench hit_scaling -- memory floor`.

#![allow(missing_docs)]

mod support;
use support::{Upstream, process_cpu as cpu, verified_hit};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, MemoryStorage};
use reqcache_sqlite::SqliteStorage;
use tower::{Layer, Service, ServiceExt};

const KEYS: usize = 100_000;
const ROUNDS: usize = 5;

fn upstream() -> impl Upstream {
    static BODY: [u8; 1024] = [b'x'; 1024];
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let body = Bytes::from_static(&BODY);
        async move {
            Ok(Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Full::new(body))
                .unwrap())
        }
    })
}

/// The floor: a `RwLock<HashMap>` from URL to the response's headers and
/// body, filled from the upstream on a miss.
type Floor = Arc<RwLock<HashMap<String, (HeaderMap, Bytes)>>>;

fn floor(map: Floor) -> impl Upstream {
    tower::service_fn(move |req: Request<Full<Bytes>>| {
        let map = Arc::clone(&map);
        async move {
            let url = req.uri().to_string();
            let found = map
                .read()
                .unwrap()
                .get(&url)
                .map(|(headers, body)| (headers.clone(), body.clone()));
            if let Some((headers, body)) = found {
                let mut response = Response::new(Full::new(body));
                *response.headers_mut() = headers;
                return Ok(response);
            }
            let response = upstream().oneshot(req).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap_or_default().to_bytes();
            map.write()
                .unwrap()
                .insert(url, (parts.headers.clone(), body.clone()));
            Ok(Response::from_parts(parts, Full::new(body)))
        }
    })
}

/// One verified hit (a 1 KiB body), through any service.
async fn hit<S, B>(service: &S, key: usize)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(format!("https://api.example.com/v1/items/{key}"))
        .body(Full::default())
        .unwrap();
    verified_hit(service, request).await;
}

/// The key of hit `i` of task `task`: always 0, or a pseudo-random one.
fn key(random: bool, task: u64, i: u64) -> usize {
    if !random {
        return 0;
    }
    let mut x = (task << 32 | i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    (x % KEYS as u64) as usize
}

/// CPU per hit over `hits` hits split among `tasks` tasks.
fn measure<F, Fut>(
    rt: &tokio::runtime::Runtime,
    tasks: u64,
    hits: u64,
    random: bool,
    one: F,
) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = hits / tasks;
    let before = cpu();
    let started = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let one = one.clone();
                tokio::spawn(async move {
                    for i in 0..per_task {
                        one(key(random, task, i)).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let _wall = started.elapsed();
    (cpu() - before) / u32::try_from(per_task * tasks).unwrap_or(u32::MAX)
}

/// The medians over `rounds` of one task's and two tasks' CPU per hit,
/// measured alternately.
fn medians<F, Fut>(
    rt: &tokio::runtime::Runtime,
    rounds: usize,
    hits: u64,
    random: bool,
    one: F,
) -> (Duration, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (mut ones, mut twos): (Vec<Duration>, Vec<Duration>) = (0..rounds)
        .map(|_| {
            (
                measure(rt, 1, hits, random, one.clone()),
                measure(rt, 2, hits, random, one.clone()),
            )
        })
        .unzip();
    ones.sort();
    twos.sort();
    (ones[rounds / 2], twos[rounds / 2])
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let hits: u64 = if full { 1_000_000 } else { 400 };
    let sqlite_hits: u64 = if full { 200_000 } else { 200 };
    let rounds = if full { ROUNDS } else { 1 };
    // `cargo bench --bench hit_scaling -- sqlite`: only the rows named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let keys = if full { KEYS } else { 1_000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let memory = CacheLayer::new(MemoryStorage::builder().max_entries(KEYS * 2).build());
    let sqlite_storage = rt
        .block_on(SqliteStorage::open(dir.path().join("scaling")))
        .unwrap();
    let sqlite = CacheLayer::new(sqlite_storage);
    let floor_service = floor(Floor::default());
    let memory_service = memory.layer(upstream());
    let sqlite_service = sqlite.layer(upstream());
    // Fill: every key stored once (then every bench request is a hit).
    rt.block_on(async {
        for key in 0..keys {
            hit(&floor_service, key).await;
            hit(&memory_service, key).await;
            hit(&sqlite_service, key).await;
            // Within the bound of writes in flight (beyond it they are
            // dropped, by design), whatever the disk's speed.
            if key % 256 == 255 {
                sqlite.cache().flush().await;
            }
        }
        memory.cache().flush().await;
        sqlite.cache().flush().await;
    });
    assert_eq!(rt.block_on(sqlite.cache().len()).unwrap(), keys as u64);
    let key_space = keys;

    println!(
        "CPU per hit (process user+system), 2 worker threads, {hits} hits (SQLite {sqlite_hits}), median of {rounds} rounds"
    );
    println!(
        "{:<8} {:<10} {:>12} {:>12} {:>8}",
        "storage", "keys", "1 task", "2 tasks", "2 / 1"
    );
    let rt = &rt;
    for (label, random) in [("one", false), ("random", true)] {
        let row = |name: &str, (one, two): (Duration, Duration)| {
            println!(
                "{name:<8} {:<10} {:>9} ns {:>9} ns {:>8.2}",
                if random {
                    format!("{key_space}")
                } else {
                    label.to_owned()
                },
                one.as_nanos(),
                two.as_nanos(),
                two.as_secs_f64() / one.as_secs_f64().max(1e-12)
            );
        };
        let row_if = |name: &str, measured: Box<dyn FnOnce() -> (Duration, Duration) + '_>| {
            if wanted(name) {
                row(name, measured());
            }
        };
        let bare = upstream();
        row_if(
            "bare",
            Box::new(move || {
                medians(rt, rounds, hits, random, move |key: usize| {
                    let bare = bare.clone();
                    async move { hit(&bare, key % key_space).await }
                })
            }),
        );
        let service = floor_service.clone();
        row_if(
            "floor",
            Box::new(move || {
                medians(rt, rounds, hits, random, move |key: usize| {
                    let service = service.clone();
                    async move { hit(&service, key % key_space).await }
                })
            }),
        );
        let service = Arc::new(memory_service.clone());
        row_if(
            "memory",
            Box::new(move || {
                medians(rt, rounds, hits, random, move |key: usize| {
                    let service = Arc::clone(&service);
                    async move { hit(&*service, key % key_space).await }
                })
            }),
        );
        let service = Arc::new(sqlite_service.clone());
        row_if(
            "sqlite",
            Box::new(move || {
                medians(rt, rounds, sqlite_hits, random, move |key: usize| {
                    let service = Arc::clone(&service);
                    async move { hit(&*service, key % key_space).await }
                })
            }),
        );
    }
    let stats = memory.cache().stats();
    assert!(
        (stats.hits > 0 || !wanted("memory")) && stats.misses == keys as u64,
        "{stats:?}"
    );
}
