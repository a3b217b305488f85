//! A fixed number of cache hits, for counting instructions: run it under
//! `valgrind --tool=callgrind` twice with two counts and divide the
//! difference by the difference in hits. Instruction counts repeat to the
//! instruction whatever the machine's neighbours do, where times here swing
//! by a third.
//!
//! ```text
//! cargo bench --bench hit_instructions --no-run
//! N=2000  valgrind --tool=callgrind target/release/deps/hit_instructions-<hash> memory
//! N=12000 valgrind --tool=callgrind target/release/deps/hit_instructions-<hash> memory
//! ```
//!
//! The first argument is `bare`, `memory` or `sqlite`; `N` the hits (default
//! 10,000; 100 under `cargo test`), `KEYS` how many keys they spread over
//! (default 1), `GROUPS=1` puts the responses in two cache groups. Each
//! request is a GET with a query and two headers, the response 1 KiB with
//! `max-age=3600`, as in `hit_path`.

#![allow(missing_docs)]

mod support;
use support::{Upstream, verified_hit};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use reqcache::{CacheLayer, MemoryStorage};
use reqcache_sqlite::SqliteStorage;
use tower::{Layer, Service};

fn upstream() -> impl Upstream {
    static BODY: [u8; 1024] = [b'x'; 1024];
    // GROUPS=1: the responses are in two cache groups (RFC 9875).
    let grouped = env("GROUPS", 0) > 0;
    tower::service_fn(move |_req: Request<Full<Bytes>>| async move {
        let mut response = Response::builder()
            .header("content-type", "application/json")
            .header("cache-control", "max-age=3600")
            .header("etag", "\"v1\"");
        if grouped {
            response = response.header("cache-groups", "\"items\", \"catalog-v1\"");
        }
        Ok(response.body(Full::new(Bytes::from_static(&BODY))).unwrap())
    })
}

async fn hit<S, B>(service: &S, key: usize)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(format!(
        "https://api.example.com/v1/items/{key}?fields=all&lang=en"
    ))
    .header("accept", "application/json")
    .header("user-agent", "bench/1.0")
    .body(Full::default())
    .unwrap();
    verified_hit(service, request).await;
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let which = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_else(|| "memory".to_owned());
    let hits = env("N", if full { 10_000 } else { 100 });
    let keys = env("KEYS", 1).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let spread = |i: usize| i.wrapping_mul(7919) % keys;
        match which.as_str() {
            "bare" => {
                let service = upstream();
                for i in 0..hits {
                    hit(&service, spread(i)).await;
                }
            }
            "memory" => {
                let layer = CacheLayer::new(MemoryStorage::builder().max_entries(keys * 2).build());
                let service = layer.layer(upstream());
                for key in 0..keys {
                    hit(&service, key).await;
                }
                layer.cache().flush().await;
                for i in 0..hits {
                    hit(&service, spread(i)).await;
                }
                assert_eq!(layer.cache().stats().hits, hits as u64);
            }
            "sqlite" => {
                let storage = SqliteStorage::open(dir.path().join("hits")).await.unwrap();
                let layer = CacheLayer::new(storage);
                let service = layer.layer(upstream());
                for key in 0..keys {
                    hit(&service, key).await;
                    if key % 256 == 255 {
                        layer.cache().flush().await;
                    }
                }
                layer.cache().flush().await;
                for i in 0..hits {
                    hit(&service, spread(i)).await;
                }
                assert_eq!(layer.cache().stats().hits, hits as u64);
            }
            other => panic!("unknown case {other:?}: bare, memory or sqlite"),
        }
    });
}
