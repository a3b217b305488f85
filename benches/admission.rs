//! The hit ratio of a bounded cache under plain least-recently-used
//! eviction, with `min_uses(2)` and `min_uses(3)` admission, and of moka (W-TinyLFU) at the
//! same capacity, on two traces of 1,000,000 requests over 100,000 keys
//! with room for 10% of them (issue 27, item 3):
//!
//! - `zipf`: keys drawn from a Zipf distribution, s = 0.9;
//! - `zipf+scans`: the same, with a scan of 10,000 keys never asked for
//!   again after every 40,000 requests (20% of the trace).
//!
//! The reqcache rows run every request through a `CacheLayer` over a
//! `MemoryStorage` of 10,000 entries (its eviction is least recently used,
//! to within the reads between two writes), on a fixed clock so nothing
//! expires; the hit ratio is the layer's `hits / requests`.
//!
//! ```sh
//! cargo bench --bench admission
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, ManualClock, MemoryStorage};
use tower::{Layer, Service, ServiceExt};

const REQUESTS: usize = 1_000_000;
const KEYS: usize = 100_000;
const CAPACITY: usize = 10_000;
const SKEW: f64 = 0.9;

/// xorshift64*: a fixed, seeded sequence, so every policy sees one trace.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A Zipf(s) sampler over `n` ranks, by its cumulative distribution.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(n);
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cumulative.push(total);
        }
        for value in &mut cumulative {
            *value /= total;
        }
        Self { cumulative }
    }

    fn sample(&self, random: &mut Random) -> usize {
        let u = random.unit();
        self.cumulative.partition_point(|c| *c < u)
    }
}

/// The keys of a trace.
fn trace(scans: bool) -> Vec<u64> {
    let zipf = Zipf::new(KEYS, SKEW);
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut keys = Vec::with_capacity(REQUESTS);
    let mut next_scanned = KEYS as u64;
    while keys.len() < REQUESTS {
        if scans && keys.len() % 50_000 == 40_000 {
            for _ in 0..10_000 {
                keys.push(next_scanned);
                next_scanned += 1;
            }
            continue;
        }
        keys.push(zipf.sample(&mut random) as u64);
    }
    keys.truncate(REQUESTS);
    keys
}

/// The hit ratio of a layer over 10,000 entries of memory, `min_uses` as
/// given.
async fn layer_ratio(keys: &[u64], min_uses: u32) -> f64 {
    let storage = MemoryStorage::builder()
        .max_entries(CAPACITY)
        .unbounded_size()
        .build();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let layer = CacheLayer::builder(storage)
        .clock(clock)
        .min_uses(min_uses)
        .min_uses_window(10 * CAPACITY)
        .build();
    let upstream = tower::service_fn(|_: Request<Full<Bytes>>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(b"x")));
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=86400"),
        );
        Ok::<_, Infallible>(response)
    });
    let mut service = layer.layer(upstream);
    for key in keys {
        let request = Request::get(format!("http://e.com/k{key}"))
            .body(Full::default())
            .unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    layer.cache().flush().await;
    layer.cache().stats().hits as f64 / keys.len() as f64
}

/// The hit ratio of a moka cache of 10,000 entries (W-TinyLFU).
fn moka_ratio(keys: &[u64]) -> f64 {
    let cache: moka::sync::Cache<u64, ()> = moka::sync::Cache::new(CAPACITY as u64);
    let mut hits = 0usize;
    for key in keys {
        if cache.get(key).is_some() {
            hits += 1;
        } else {
            cache.insert(*key, ());
        }
    }
    hits as f64 / keys.len() as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| trace | plain LRU | min_uses(2) | min_uses(3) | moka (W-TinyLFU) |");
    println!("|---|---|---|---|---|");
    for (name, scans) in [("zipf", false), ("zipf+scans", true)] {
        let keys = trace(scans);
        let started = Instant::now();
        let lru = layer_ratio(&keys, 1).await;
        let twice = layer_ratio(&keys, 2).await;
        let thrice = layer_ratio(&keys, 3).await;
        let moka = moka_ratio(&keys);
        println!(
            "| {name} | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
            lru * 100.0,
            twice * 100.0,
            thrice * 100.0,
            moka * 100.0
        );
        eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    }
}
