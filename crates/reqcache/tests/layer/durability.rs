//! When a miss's entry reaches storage: in `WriteMode::Durable` before the
//! caller gets the end of the body, in `WriteMode::Behind` after it; and the
//! background fill of storable bodies their callers dropped unread.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{
    CacheBody, CacheLayer, CacheLayerBuilder, CacheMode, CacheOutcome, CacheStatus, MemoryStorage,
    WriteMode,
};
use reqcache_test::Gated;
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt};

use crate::support::{ChannelBody, Sender};

type Upstream =
    tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<HyperLike>, Infallible>;

/// A [`ChannelBody`] that, as hyper's bodies with a `Content-Length` do,
/// says it has ended once its last byte is out.
struct HyperLike {
    inner: ChannelBody,
    left: Option<u64>,
}

impl http_body::Body for HyperLike {
    type Data = Bytes;
    type Error = crate::support::UpstreamError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let (Some(left), Some(data)) = (self.left, frame.data_ref())
        {
            self.left = Some(left.saturating_sub(data.len() as u64));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.left
            .map_or_else(http_body::SizeHint::new, http_body::SizeHint::with_exact)
    }
}

/// An upstream whose every response is storable (`max-age=60`, `public`)
/// with a body the test sends through the sender it gets from `bodies`;
/// `length` is announced as the exact size when given.
fn upstream(length: Option<u64>) -> (Upstream, mpsc::UnboundedReceiver<Sender>) {
    let (bodies_in, bodies) = mpsc::unbounded_channel();
    let bodies_in = Arc::new(Mutex::new(bodies_in));
    let service = tower::service_fn(move |_: Request<Full<Bytes>>| {
        let (sender, chunks) = mpsc::unbounded_channel();
        let _ = bodies_in.lock().unwrap().send(sender);
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("cache-control", "public, max-age=60")
                    .body(HyperLike {
                        inner: ChannelBody { chunks, length },
                        left: length,
                    })
                    .unwrap(),
            )
        }
    });
    (Upstream::new(service), bodies)
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://e.com{path}"))
        .body(Full::default())
        .unwrap()
}

fn outcome<B: http_body::Body>(response: &Response<CacheBody<B>>) -> CacheOutcome {
    response
        .extensions()
        .get::<CacheStatus>()
        .unwrap()
        .outcome()
}

fn chunk(text: &'static str) -> Result<Bytes, crate::support::UpstreamError> {
    Ok(Bytes::from_static(text.as_bytes()))
}

/// Yields to the runtime often enough for anything that can run to run.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// The caller reads a miss to its end while the storage holds writes: the
/// end waits for the write in durable mode, and the entry is in storage
/// the moment it arrives, without a flush.
async fn end_of_body_waits_for_the_write(length: Option<u64>) {
    let storage = Gated::new(MemoryStorage::new());
    let layer = CacheLayer::builder(storage.clone()).build();
    let (upstream, mut bodies) = upstream(length);
    let service = layer.layer(upstream);
    storage.hold_writes();
    let response = service.clone().oneshot(get("/a")).await.unwrap();
    assert_eq!(outcome(&response), CacheOutcome::Storing);
    let body_in = bodies.recv().await.unwrap();
    let reading = tokio::spawn(async move { response.into_body().collect().await });
    body_in.send(chunk("ab")).unwrap();
    body_in.send(chunk("cd")).unwrap();
    drop(body_in);
    settle().await;
    assert!(!reading.is_finished(), "the end waits for the held write");
    assert_eq!(storage.inner().len().await.unwrap(), 0);

    storage.release_writes();
    let body = reading.await.unwrap().unwrap().to_bytes();
    assert_eq!(body, "abcd");
    assert_eq!(storage.inner().len().await.unwrap(), 1, "stored, no flush");
    let stats = layer.cache().stats();
    assert_eq!((stats.stored, stats.pending_writes), (1, 0));
}

#[tokio::test]
async fn durable_the_last_bytes_of_a_body_of_known_length_wait_for_the_write() {
    end_of_body_waits_for_the_write(Some(4)).await;
}

#[tokio::test]
async fn durable_the_end_of_a_chunked_body_waits_for_the_write() {
    end_of_body_waits_for_the_write(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_the_end_waits_for_the_write_on_a_multi_thread_runtime() {
    end_of_body_waits_for_the_write(Some(4)).await;
    end_of_body_waits_for_the_write(None).await;
}

#[tokio::test]
async fn durable_a_body_of_known_length_holds_back_only_its_last_bytes() {
    let storage = Gated::new(MemoryStorage::new());
    let layer = CacheLayer::builder(storage.clone()).build();
    let (upstream, mut bodies) = upstream(Some(4));
    storage.hold_writes();
    let response = layer.layer(upstream).oneshot(get("/a")).await.unwrap();
    let body_in = bodies.recv().await.unwrap();
    let mut body = response.into_body();
    body_in.send(chunk("ab")).unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "ab", "bytes before the last are not held");
    body_in.send(chunk("cd")).unwrap();
    let last = tokio::spawn(async move { body.frame().await.map(|f| f.unwrap()) });
    settle().await;
    assert!(!last.is_finished(), "the last bytes wait for the write");
    storage.release_writes();
    let last = last.await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(last, "cd");
    assert_eq!(storage.inner().len().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn durable_the_wait_is_bounded_by_the_write_timeout() {
    let storage = Gated::new(MemoryStorage::new());
    let layer = CacheLayer::builder(storage.clone())
        .storage_timeouts(None, Some(Duration::from_secs(2)))
        .build();
    let (upstream, mut bodies) = upstream(None);
    storage.hold_writes();
    let response = layer.layer(upstream).oneshot(get("/a")).await.unwrap();
    let body_in = bodies.recv().await.unwrap();
    body_in.send(chunk("ab")).unwrap();
    drop(body_in);
    // Paused time runs ahead to the write timeout; the body then ends.
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ab");
    let stats = layer.cache().stats();
    assert_eq!((stats.storage_timeouts, stats.stored), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn durable_writes_are_never_dropped_for_the_bound_on_pending_writes() {
    let storage = Gated::new(MemoryStorage::new());
    storage.delay(Some(Duration::from_millis(5)));
    let layer = CacheLayer::builder(storage.clone())
        .max_pending_writes(1)
        .build();
    let (upstream, mut bodies) = upstream(Some(1));
    let service = layer.layer(upstream);
    let feeding = tokio::spawn(async move {
        while let Some(body_in) = bodies.recv().await {
            body_in.send(chunk("x")).unwrap();
        }
    });
    let requests: Vec<_> = (0..50)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(get(&format!("/{i}"))).await.unwrap();
                response.into_body().collect().await.unwrap().to_bytes()
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), "x");
    }
    assert_eq!(storage.inner().len().await.unwrap(), 50, "every one stored");
    let stats = layer.cache().stats();
    assert_eq!((stats.stored, stats.writes_dropped), (50, 0));
    drop(service);
    feeding.abort();
}

/// In behind mode the body ends at once; the entry follows.
async fn end_of_body_comes_before_the_write(
    builder: impl FnOnce(CacheLayerBuilder) -> CacheLayerBuilder,
) {
    let storage = Gated::new(MemoryStorage::new());
    let layer = builder(CacheLayer::builder(storage.clone())).build();
    let (upstream, mut bodies) = upstream(Some(2));
    storage.hold_writes();
    let response = layer.layer(upstream).oneshot(get("/a")).await.unwrap();
    let body_in = bodies.recv().await.unwrap();
    body_in.send(chunk("ab")).unwrap();
    drop(body_in);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ab");
    assert_eq!(storage.inner().len().await.unwrap(), 0, "not yet written");
    assert_eq!(layer.cache().stats().pending_writes, 1);
    storage.release_writes();
    layer.cache().flush().await;
    assert_eq!(storage.inner().len().await.unwrap(), 1);
}

#[tokio::test]
async fn behind_the_body_ends_before_its_write() {
    end_of_body_comes_before_the_write(|b| b.write_mode(WriteMode::Behind)).await;
}

#[tokio::test]
async fn behind_is_the_default_of_a_shared_cache() {
    end_of_body_comes_before_the_write(|b| b.mode(CacheMode::Shared)).await;
    end_of_body_comes_before_the_write(|b| b.http_cache(CacheMode::Shared)).await;
}

#[tokio::test]
async fn background_fill_stores_a_body_dropped_unread() {
    let layer = CacheLayer::builder(MemoryStorage::new()).build();
    let (upstream, mut bodies) = upstream(Some(4));
    let service = layer.layer(upstream);
    let response = service.clone().oneshot(get("/a")).await.unwrap();
    assert_eq!(outcome(&response), CacheOutcome::Storing);
    let body_in = bodies.recv().await.unwrap();
    drop(response);
    body_in.send(chunk("ab")).unwrap();
    body_in.send(chunk("cd")).unwrap();
    drop(body_in);
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert_eq!(
        (
            stats.background_fills,
            stats.background_fills_failed,
            stats.stored
        ),
        (1, 0, 1)
    );
    let hit = service.oneshot(get("/a")).await.unwrap();
    assert_eq!(outcome(&hit), CacheOutcome::Hit);
    assert_eq!(hit.into_body().collect().await.unwrap().to_bytes(), "abcd");
}

#[tokio::test]
async fn background_fill_goes_on_from_what_the_caller_read() {
    let layer = CacheLayer::builder(MemoryStorage::new()).build();
    let (upstream, mut bodies) = upstream(Some(6));
    let response = layer
        .clone()
        .layer(upstream)
        .oneshot(get("/a"))
        .await
        .unwrap();
    let body_in = bodies.recv().await.unwrap();
    let mut body = response.into_body();
    body_in.send(chunk("ab")).unwrap();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "ab"
    );
    drop(body);
    body_in.send(chunk("cd")).unwrap();
    body_in.send(chunk("ef")).unwrap();
    drop(body_in);
    layer.cache().flush().await;
    let stored = layer.cache().entries().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(layer.cache().stats().background_fills, 1);
    let entry = layer
        .cache()
        .storage()
        .get(&stored[0].key, layer.cache().now())
        .await;
    assert_eq!(entry.unwrap().unwrap().body, "abcdef");
}

/// Sends one storable miss through `layer` and drops its response unread;
/// the test's end of the upstream body.
async fn miss_dropped_unread(layer: &CacheLayer, length: Option<u64>) -> Sender {
    let (upstream, mut bodies) = upstream(length);
    let response = layer
        .clone()
        .layer(upstream)
        .oneshot(get("/a"))
        .await
        .unwrap();
    let body_in = bodies.recv().await.unwrap();
    drop(response);
    body_in
}

async fn dropped_body_is_not_stored(
    length: Option<u64>,
    builder: impl FnOnce(CacheLayerBuilder) -> CacheLayerBuilder,
) {
    let layer = builder(CacheLayer::builder(MemoryStorage::new())).build();
    let body_in = miss_dropped_unread(&layer, length).await;
    assert!(
        body_in.send(chunk("ab")).is_err(),
        "the upstream body was dropped"
    );
    layer.cache().flush().await;
    assert_eq!(layer.cache().len().await.unwrap(), 0);
    assert_eq!(layer.cache().stats().background_fills, 0);
}

#[tokio::test]
async fn background_fill_needs_a_known_length() {
    dropped_body_is_not_stored(None, |b| b).await;
}

#[tokio::test]
async fn background_fill_needs_a_length_within_max_body_size() {
    dropped_body_is_not_stored(Some(2), |b| b.max_body_size(1)).await;
}

#[tokio::test]
async fn background_fill_can_be_turned_off_and_is_off_in_shared_mode() {
    dropped_body_is_not_stored(Some(2), |b| b.background_fill(None)).await;
    dropped_body_is_not_stored(Some(2), |b| b.mode(CacheMode::Shared)).await;
}

#[tokio::test(start_paused = true)]
async fn background_fill_gives_up_after_its_time_and_says_so() {
    let layer = CacheLayer::builder(MemoryStorage::new())
        .background_fill(Some(Duration::from_secs(5)))
        .build();
    let body_in = miss_dropped_unread(&layer, Some(4)).await;
    body_in.send(chunk("ab")).unwrap();
    // The rest never comes: paused time runs ahead to the fill's limit.
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert_eq!(
        (
            stats.background_fills,
            stats.background_fills_failed,
            stats.stored
        ),
        (1, 1, 0)
    );
    assert!(
        body_in.send(chunk("cd")).is_err(),
        "the upstream body is dropped when the fill gives up"
    );
}

#[tokio::test]
async fn background_fills_count_against_the_bound_on_pending_writes() {
    let layer = CacheLayer::builder(MemoryStorage::new())
        .max_pending_writes(0)
        .build();
    let _body_in = miss_dropped_unread(&layer, Some(4)).await;
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert_eq!((stats.writes_dropped, stats.stored), (1, 0));
    assert_eq!(layer.cache().len().await.unwrap(), 0);
}
