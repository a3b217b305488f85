//! The `metrics` feature: the cache's counters reach whatever recorder the
//! application installed, labelled with the cache's name.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use reqcache::{CacheLayer, MemoryStorage};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A recorder that keeps counters by name and labels.
#[derive(Default)]
struct Totals(Mutex<BTreeMap<String, Arc<AtomicU64>>>);

struct Cell(Arc<AtomicU64>);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl Recorder for Totals {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let cell = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
        Counter::from_arc(Arc::new(Cell(cell)))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Totals {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |cell| cell.load(Ordering::Relaxed))
    }
}

#[test]
fn counters_are_exported_with_the_cache_name() {
    let totals = Totals::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&totals, || {
        runtime.block_on(async {
            let upstream = tower::service_fn(|_: http::Request<Full<Bytes>>| async {
                let response = http::Response::builder()
                    .header("cache-control", "max-age=60")
                    .body(Full::new(Bytes::from_static(b"hello")))
                    .unwrap();
                Ok::<_, Infallible>(response)
            });
            let layer = CacheLayer::builder(MemoryStorage::new())
                .name("upstream-api")
                .build();
            let mut service = ServiceBuilder::new().layer(layer.clone()).service(upstream);
            for _ in 0..3 {
                let request = http::Request::get("http://example.com/")
                    .body(Full::default())
                    .unwrap();
                service.ready().await.unwrap().call(request).await.unwrap();
            }
            let stats = layer.cache().stats();
            assert_eq!((stats.hits, stats.misses, stats.stored), (2, 1, 1));
        });
    });
    assert_eq!(totals.get("reqcache_hits_total{cache=upstream-api}"), 2);
    assert_eq!(totals.get("reqcache_misses_total{cache=upstream-api}"), 1);
    assert_eq!(totals.get("reqcache_stored_total{cache=upstream-api}"), 1);
    assert_eq!(
        totals.get("reqcache_stale_served_total{cache=upstream-api}"),
        0
    );
}
