//! The layer over a hung or slow storage: every storage wait is bounded,
//! the breaker stops calling a storage that keeps failing, and requests are
//! answered from upstream all along. Run by every backend through
//! [`conformance_tests!`](crate::conformance_tests), with the backend inside
//! a [`Gated`] wrapper.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock};
use tower::{Layer, ServiceExt};

use crate::Gated;

/// The layer's storage timeouts in these checks: real time, long enough for
/// a loaded test server (GridFS writes take several round trips), short
/// enough for the test.
const READ_TIMEOUT: Duration = Duration::from_millis(500);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The breaker's cool-down, on the manual clock.
const COOL_DOWN: Duration = Duration::from_secs(60);

struct Rig<S> {
    storage: Gated<S>,
    layer: CacheLayer,
    clock: Arc<ManualClock>,
    calls: Arc<AtomicUsize>,
}

fn rig<S: Storage>(storage: S) -> Rig<S> {
    let storage = Gated::new(storage);
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let layer = CacheLayer::builder(storage.clone())
        .clock(Arc::clone(&clock))
        .storage_timeouts(Some(READ_TIMEOUT), Some(WRITE_TIMEOUT))
        .storage_breaker(3, COOL_DOWN)
        .build();
    Rig {
        storage,
        layer,
        clock,
        calls: Arc::new(AtomicUsize::new(0)),
    }
}

impl<S: Storage> Rig<S> {
    /// One request for the item through the layer: its outcome and body.
    async fn get(&self) -> (CacheOutcome, Bytes) {
        self.get_path("/item").await
    }

    /// One request for `path` through the layer: its outcome and body.
    async fn get_path(&self, path: &str) -> (CacheOutcome, Bytes) {
        let calls = Arc::clone(&self.calls);
        let upstream = tower::service_fn(move |_: Request<Full<Bytes>>| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("cache-control", "max-age=3600")
                        .body(Full::new(Bytes::from(format!("upstream #{n}"))))
                        .unwrap(),
                )
            }
        });
        let request = Request::get(format!("https://bounded.example{path}"))
            .body(Full::default())
            .unwrap();
        let response = self.layer.layer(upstream).oneshot(request).await.unwrap();
        let outcome = response
            .extensions()
            .get::<CacheStatus>()
            .map(CacheStatus::outcome)
            .unwrap();
        (
            outcome,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }
}

/// A storage whose reads hang costs each request at most the read timeout,
/// then, with the reads' breaker open, nothing: requests go upstream without
/// a read. When it answers again, a probe after the cool-down closes the
/// breaker and hits resume. A storage whose writes hang answers every miss
/// at once, opens the writes' breaker, and goes on serving hits.
pub async fn hung_storage_never_holds_a_request<S: Storage>(storage: S) {
    let rig = rig(storage);
    rig.get().await;
    rig.layer.cache().flush().await;
    assert_eq!(
        rig.get().await.0,
        CacheOutcome::Hit,
        "a working storage serves hits"
    );

    rig.storage.hold_reads();
    for _ in 0..3 {
        // From upstream, or from the response of the request before while
        // its write is under way: never from the hung storage.
        let (_, body) = rig.get().await;
        assert!(
            body.starts_with(b"upstream #") && body != "upstream #0",
            "{body:?}"
        );
    }
    rig.layer.cache().flush().await;
    let stats = rig.layer.cache().stats();
    assert!(stats.read_breaker_open, "{stats:?}");
    assert!(stats.storage_timeouts >= 3, "{stats:?}");

    // Open: no read at all.
    let reads = rig.storage.reads();
    for _ in 0..10 {
        let (_, body) = rig.get().await;
        assert!(body.starts_with(b"upstream #"));
    }
    rig.layer.cache().flush().await;
    assert_eq!(rig.storage.reads(), reads);
    assert!(rig.layer.cache().stats().reads_skipped >= 10);

    // Recovered: the probe after the cool-down closes the breaker.
    rig.storage.release_reads();
    rig.clock.advance(COOL_DOWN);
    assert_eq!(
        rig.get().await.0,
        CacheOutcome::Hit,
        "the probe reads the stored entry"
    );
    assert!(!rig.layer.cache().stats().read_breaker_open);

    // Writes hang: misses are answered at once, and hits go on.
    rig.storage.hold_writes();
    for path in ["/new/1", "/new/2", "/new/3"] {
        let (outcome, body) = rig.get_path(path).await;
        assert_eq!(outcome, CacheOutcome::Storing);
        assert!(body.starts_with(b"upstream #"));
    }
    rig.layer.cache().flush().await;
    let stats = rig.layer.cache().stats();
    assert!(
        stats.write_breaker_open && !stats.read_breaker_open,
        "{stats:?}"
    );
    assert_eq!(rig.get().await.0, CacheOutcome::Hit, "reads still serve");
    rig.storage.release_writes();
}

/// A storage slower than usual but within the timeout still serves hits,
/// and never trips the breaker.
pub async fn slow_storage_within_the_timeout_still_serves<S: Storage>(storage: S) {
    let rig = rig(storage);
    rig.storage.delay(Some(Duration::from_millis(20)));
    assert_eq!(rig.get().await.0, CacheOutcome::Storing);
    rig.layer.cache().flush().await;
    for _ in 0..3 {
        assert_eq!(rig.get().await.0, CacheOutcome::Hit);
    }
    let stats = rig.layer.cache().stats();
    assert_eq!((stats.storage_timeouts, stats.breaker_trips), (0, 0));
}
