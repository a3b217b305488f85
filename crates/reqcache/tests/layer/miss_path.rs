//! The streaming miss path: headers at once, the body recorded as it streams
//! and stored behind the response, followers reading the leader's stream,
//! and bounded request bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use reqcache::body::SharedBodyError;
use reqcache::{CacheBody, CacheLayer, CacheOutcome, CacheStatus, MemoryStorage, WriteMode};
use tokio::sync::{Semaphore, mpsc};
use tower::{Layer, Service, ServiceExt};

use crate::support::{ChannelBody, Sender, UpstreamError};

/// An upstream whose every response body the test feeds through the sender
/// it receives on `bodies`; the head is answered once `gate` lets it.
#[derive(Clone)]
struct Streaming {
    calls: Arc<AtomicUsize>,
    bodies: mpsc::UnboundedSender<Sender>,
    gate: Arc<Semaphore>,
    headers: &'static [(&'static str, &'static str)],
    length: Option<u64>,
}

impl Service<Request<Full<Bytes>>> for Streaming {
    type Response = Response<ChannelBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ChannelBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            this.calls.fetch_add(1, Ordering::SeqCst);
            let _permit = this.gate.acquire().await.unwrap();
            let (sender, chunks) = mpsc::unbounded_channel();
            let _ = this.bodies.send(sender);
            let mut builder = Response::builder();
            for (name, value) in this.headers {
                builder = builder.header(*name, *value);
            }
            Ok(builder
                .body(ChannelBody {
                    chunks,
                    length: this.length,
                })
                .unwrap())
        })
    }
}

struct Setup {
    service: reqcache::CacheService<Streaming>,
    layer: CacheLayer,
    calls: Arc<AtomicUsize>,
    bodies: mpsc::UnboundedReceiver<Sender>,
    gate: Arc<Semaphore>,
}

fn setup(
    headers: &'static [(&'static str, &'static str)],
    length: Option<u64>,
    configure: impl FnOnce(reqcache::CacheLayerBuilder) -> reqcache::CacheLayerBuilder,
) -> Setup {
    let (bodies_in, bodies) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let layer = configure(CacheLayer::builder(MemoryStorage::new())).build();
    let service = layer.layer(Streaming {
        calls: Arc::clone(&calls),
        bodies: bodies_in,
        gate: Arc::clone(&gate),
        headers,
        length,
    });
    Setup {
        service,
        layer,
        calls,
        bodies,
        gate,
    }
}

/// A request for the streaming upstream's URL.
fn stream_request() -> Request<Full<Bytes>> {
    Request::get("http://e.com/stream")
        .body(Full::default())
        .unwrap()
}

impl Setup {
    async fn call(&self) -> Response<CacheBody<ChannelBody>> {
        self.service
            .clone()
            .oneshot(stream_request())
            .await
            .unwrap()
    }

    /// A request in a task of its own, returned once it is upstream.
    async fn spawn_leader(&self) -> tokio::task::JoinHandle<Response<CacheBody<ChannelBody>>> {
        let service = self.service.clone();
        let calls = self.calls.load(Ordering::SeqCst);
        let leader = tokio::spawn(async move { service.oneshot(stream_request()).await.unwrap() });
        while self.calls.load(Ordering::SeqCst) == calls {
            tokio::task::yield_now().await;
        }
        leader
    }

    /// The sender of the next response body upstream makes.
    async fn next_body(&mut self) -> Sender {
        self.bodies.recv().await.expect("upstream answered")
    }
}

fn status<B>(response: &Response<B>) -> CacheStatus {
    response.extensions().get::<CacheStatus>().cloned().unwrap()
}

async fn next_data(body: &mut CacheBody<ChannelBody>) -> Bytes {
    body.frame()
        .await
        .expect("a frame")
        .expect("no error")
        .into_data()
        .expect("data")
}

fn chunk(text: &'static str) -> Result<Bytes, UpstreamError> {
    Ok(Bytes::from_static(text.as_bytes()))
}

#[tokio::test]
async fn the_head_is_answered_before_the_body_and_the_entry_is_stored_when_it_ends() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| b);
    let response = s.call().await;
    // The head is here and not one byte of the body has been sent.
    assert_eq!(status(&response).outcome(), CacheOutcome::Storing);
    let body_in = s.next_body().await;
    let mut body = response.into_body();
    body_in.send(chunk("event: 1\n\n")).unwrap();
    assert_eq!(next_data(&mut body).await, "event: 1\n\n");
    assert_eq!(
        s.layer.cache().len().await.unwrap(),
        0,
        "not stored before it ends"
    );
    body_in.send(chunk("event: 2\n\n")).unwrap();
    assert_eq!(next_data(&mut body).await, "event: 2\n\n");
    drop(body_in);
    assert!(body.frame().await.is_none());
    s.layer.cache().flush().await;
    assert_eq!(s.layer.cache().len().await.unwrap(), 1);

    let hit = s.call().await;
    assert_eq!(status(&hit).outcome(), CacheOutcome::Hit);
    assert_eq!(
        hit.into_body().collect().await.unwrap().to_bytes(),
        "event: 1\n\nevent: 2\n\n"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_endless_stream_streams_past_the_limit_intact_and_is_not_stored() {
    let mut s = setup(&[("content-type", "text/event-stream")], None, |b| {
        b.max_body_size(64)
    });
    let response = s.call().await;
    let body_in = s.next_body().await;
    let mut body = response.into_body();
    for i in 0..20 {
        let event = Bytes::from(format!("data: event {i:02}\n\n"));
        body_in.send(Ok(event.clone())).unwrap();
        assert_eq!(
            next_data(&mut body).await,
            event,
            "event {i} arrives as it is sent"
        );
    }
    drop(body_in);
    assert!(body.frame().await.is_none());
    s.layer.cache().flush().await;
    assert_eq!(
        s.layer.cache().len().await.unwrap(),
        0,
        "past max_body_size"
    );
}

#[tokio::test]
async fn a_body_dropped_part_way_is_not_stored_and_one_dropped_unread_but_complete_is() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| b);
    let response = s.call().await;
    let body_in = s.next_body().await;
    body_in.send(chunk("half")).unwrap();
    drop(response);
    body_in.send(chunk(" and the rest")).ok();
    drop(body_in);
    s.layer.cache().flush().await;
    assert_eq!(
        s.layer.cache().len().await.unwrap(),
        0,
        "the rest never read"
    );

    // A body that has wholly arrived is recorded when dropped unread.
    let response = s.call().await;
    let body_in = s.next_body().await;
    body_in.send(chunk("all of it")).unwrap();
    drop(body_in);
    drop(response);
    s.layer.cache().flush().await;
    let hit = s.call().await;
    assert_eq!(status(&hit).outcome(), CacheOutcome::Hit);
    assert_eq!(
        hit.into_body().collect().await.unwrap().to_bytes(),
        "all of it"
    );
}

#[tokio::test]
async fn an_upstream_body_error_reaches_the_caller_and_nothing_is_stored() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| b);
    let response = s.call().await;
    let body_in = s.next_body().await;
    let mut body = response.into_body();
    body_in.send(chunk("part")).unwrap();
    body_in.send(Err(UpstreamError("reset"))).unwrap();
    assert_eq!(next_data(&mut body).await, "part");
    let error = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        error.downcast_ref::<UpstreamError>(),
        Some(&UpstreamError("reset"))
    );
    s.layer.cache().flush().await;
    assert_eq!(s.layer.cache().len().await.unwrap(), 0);
}

/// Starts `n` requests for the stream's URL, each reporting its status and
/// its first chunk (as soon as it has one), then the rest of its body.
fn followers(
    s: &Setup,
    n: usize,
) -> Vec<
    tokio::task::JoinHandle<(
        CacheStatus,
        Result<Bytes, reqcache::storage::backend::BoxError>,
    )>,
> {
    (0..n)
        .map(|_| {
            let service = s.service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(stream_request()).await.unwrap();
                let status = status(&response);
                let body = response.into_body().collect().await.map(|c| c.to_bytes());
                (status, body)
            })
        })
        .collect()
}

#[tokio::test]
async fn followers_get_the_leaders_head_and_bytes_as_they_stream_with_one_upstream_call() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(10), |b| b);
    s.gate.forget_permits(Semaphore::MAX_PERMITS);
    // The leader is upstream before the followers come.
    let leader = s.spawn_leader().await;
    let waiting = followers(&s, 20);
    s.gate.add_permits(1);
    let body_in = s.next_body().await;
    let leader = leader.await.unwrap();
    body_in.send(chunk("01234")).unwrap();
    let mut leader_body = leader.into_body();
    assert_eq!(next_data(&mut leader_body).await, "01234");
    body_in.send(chunk("56789")).unwrap();
    drop(body_in);
    assert_eq!(leader_body.collect().await.unwrap().to_bytes(), "56789");
    for follower in waiting {
        let (status, body) = follower.await.unwrap();
        assert_eq!(status.outcome(), CacheOutcome::Hit);
        assert_eq!(body.unwrap(), "0123456789");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1, "one upstream call");
}

#[tokio::test]
async fn a_follower_has_the_head_before_the_leaders_body_ends() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(6), |b| b);
    let leader = s.call().await;
    let body_in = s.next_body().await;
    body_in.send(chunk("abc")).unwrap();
    // The leader's body is still open: a new request follows it at once.
    let follower = s.call().await;
    assert_eq!(status(&follower).outcome(), CacheOutcome::Hit);
    assert_eq!(follower.body().size_hint().exact(), Some(6));
    let mut follower_body = follower.into_body();
    let mut leader_body = leader.into_body();
    assert_eq!(next_data(&mut leader_body).await, "abc");
    assert_eq!(next_data(&mut follower_body).await, "abc");
    body_in.send(chunk("def")).unwrap();
    drop(body_in);
    assert_eq!(leader_body.collect().await.unwrap().to_bytes(), "def");
    assert_eq!(follower_body.collect().await.unwrap().to_bytes(), "def");
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn followers_of_a_response_that_is_not_storable_go_upstream_themselves_at_once() {
    let mut s = setup(&[("cache-control", "no-store")], None, |b| b);
    s.gate.forget_permits(Semaphore::MAX_PERMITS);
    let leader = s.spawn_leader().await;
    let waiting = followers(&s, 5);
    tokio::task::yield_now().await;
    // Only the leader is upstream while its head is held back.
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    s.gate.add_permits(Semaphore::MAX_PERMITS);
    // The leader's body never ends: the followers do not wait for it.
    let _leader_body_in = s.next_body().await;
    let leader = leader.await.unwrap();
    assert_eq!(status(&leader).outcome(), CacheOutcome::NotStored);
    for _ in 0..5 {
        let body_in = s.next_body().await;
        body_in.send(chunk("own")).unwrap();
    }
    for follower in waiting {
        let (status, body) = follower.await.unwrap();
        assert_eq!(status.outcome(), CacheOutcome::NotStored);
        assert_eq!(body.unwrap(), "own");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn followers_of_an_event_stream_go_upstream_themselves() {
    let mut s = setup(&[("content-type", "text/event-stream")], None, |b| {
        b.max_body_size(16)
    });
    let leader = s.call().await;
    let leader_in = s.next_body().await;
    // An event stream may never end: it is not shared.
    let waiting = followers(&s, 1);
    leader_in
        .send(chunk("data: more than sixteen bytes\n\n"))
        .unwrap();
    let mut leader_body = leader.into_body();
    assert_eq!(
        next_data(&mut leader_body).await,
        "data: more than sixteen bytes\n\n"
    );
    let follower_in = s.next_body().await;
    follower_in.send(chunk("data: own\n\n")).unwrap();
    drop(follower_in);
    let (status, body) = waiting.into_iter().next().unwrap().await.unwrap();
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    assert_eq!(body.unwrap(), "data: own\n\n");
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_leader_dropped_while_followers_read_is_finished_in_the_background() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(8), |b| b);
    let leader = s.call().await;
    let body_in = s.next_body().await;
    let follower = s.call().await;
    assert_eq!(status(&follower).outcome(), CacheOutcome::Hit);
    body_in.send(chunk("1234")).unwrap();
    drop(leader);
    body_in.send(chunk("5678")).unwrap();
    drop(body_in);
    assert_eq!(
        follower.into_body().collect().await.unwrap().to_bytes(),
        "12345678"
    );
    s.layer.cache().flush().await;
    let hit = s.call().await;
    assert_eq!(
        hit.into_body().collect().await.unwrap().to_bytes(),
        "12345678"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_follower_reading_a_stream_that_fails_gets_a_shared_body_error() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(8), |b| b);
    let leader = s.call().await;
    let body_in = s.next_body().await;
    let follower = s.call().await;
    body_in.send(chunk("1234")).unwrap();
    body_in.send(Err(UpstreamError("reset"))).unwrap();
    let leader_error = leader.into_body().collect().await.unwrap_err();
    assert!(leader_error.downcast_ref::<UpstreamError>().is_some());
    let error = follower.into_body().collect().await.unwrap_err();
    assert!(error.downcast_ref::<SharedBodyError>().is_some(), "{error}");
}

#[tokio::test]
async fn two_hundred_concurrent_misses_cost_one_upstream_call() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(5), |b| b);
    s.gate.forget_permits(Semaphore::MAX_PERMITS);
    let all = followers(&s, 200);
    while s.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    s.gate.add_permits(1);
    let body_in = s.next_body().await;
    body_in.send(chunk("hello")).unwrap();
    drop(body_in);
    let mut outcomes = std::collections::HashMap::new();
    for task in all {
        let (status, body) = task.await.unwrap();
        assert_eq!(body.unwrap(), "hello");
        *outcomes.entry(status.outcome()).or_insert(0) += 1;
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    assert_eq!(outcomes.get(&CacheOutcome::Storing), Some(&1));
    assert_eq!(outcomes.get(&CacheOutcome::Hit), Some(&199));
}

// ---- request bodies ----------------------------------------------------

/// A request body of unknown length (no exact size hint).
struct Unsized(Option<Bytes>);

impl Body for Unsized {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

impl From<Bytes> for Unsized {
    fn from(bytes: Bytes) -> Self {
        Self(Some(bytes))
    }
}

#[tokio::test]
async fn request_bodies_past_the_limit_or_of_unknown_length_go_upstream_unread_and_uncached() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let upstream = {
        let seen = Arc::clone(&seen);
        tower::service_fn(move |request: Request<Unsized>| {
            let seen = Arc::clone(&seen);
            async move {
                let body = request.into_body().collect().await.unwrap().to_bytes();
                seen.lock().unwrap().push(body);
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            }
        })
    };
    let layer = CacheLayer::builder(MemoryStorage::new())
        .max_request_body_size(8)
        .build();
    let service = layer.layer(upstream);
    let send = |body: Unsized| {
        let service = service.clone();
        async move {
            let request = Request::get("http://e.com/q").body(body).unwrap();
            let response = service.oneshot(request).await.unwrap();
            status(&response).outcome()
        }
    };
    // Unknown length: never read by the cache, handed on as it is.
    assert_eq!(
        send(Unsized(Some(Bytes::from_static(b"tiny")))).await,
        CacheOutcome::Bypassed
    );
    assert_eq!(
        send(Unsized(Some(Bytes::from_static(b"tiny")))).await,
        CacheOutcome::Bypassed
    );
    assert_eq!(layer.cache().len().await.unwrap(), 0);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap()[1], "tiny");
}

#[tokio::test]
async fn request_bodies_within_the_limit_are_keyed_and_larger_ones_bypass() {
    let calls = Arc::new(AtomicUsize::new(0));
    let upstream = {
        let calls = Arc::clone(&calls);
        tower::service_fn(move |request: Request<Full<Bytes>>| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let body = request.into_body().collect().await.unwrap().to_bytes();
                Ok::<_, Infallible>(Response::new(Full::new(body)))
            }
        })
    };
    let layer = CacheLayer::builder(MemoryStorage::new())
        .max_request_body_size(8)
        .build();
    let service = layer.layer(upstream);
    let send = |body: &'static [u8]| {
        let service = service.clone();
        async move {
            let request = Request::get("http://e.com/q")
                .body(Full::new(Bytes::from_static(body)))
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            let outcome = status(&response).outcome();
            (
                outcome,
                response.into_body().collect().await.unwrap().to_bytes(),
            )
        }
    };
    assert_eq!(send(b"12345678").await.0, CacheOutcome::Storing);
    assert_eq!(send(b"12345678").await.0, CacheOutcome::Hit);
    let (outcome, echoed) = send(b"123456789").await;
    assert_eq!(outcome, CacheOutcome::Bypassed);
    assert_eq!(echoed, "123456789", "the body reached upstream whole");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(layer.cache().len().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn flush_waits_for_the_writes_behind_the_responses() {
    let storage = reqcache_test::Gated::new(MemoryStorage::new());
    let upstream = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("cache-control", "max-age=60")
                .body(Full::new(Bytes::from_static(b"x")))
                .unwrap(),
        )
    });
    let layer = CacheLayer::builder(storage.clone())
        .storage_timeouts(None, Some(Duration::from_secs(60)))
        .write_mode(WriteMode::Behind)
        .build();
    let service = layer.layer(upstream);
    storage.hold_writes();
    let response = service
        .clone()
        .oneshot(Request::get("http://e.com/").body(Full::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "x"
    );
    assert_eq!(layer.cache().stats().pending_writes, 1);
    let flush = tokio::spawn({
        let cache = layer.cache().clone();
        async move { cache.flush().await }
    });
    tokio::task::yield_now().await;
    assert!(!flush.is_finished(), "the write is held");
    storage.release_writes();
    flush.await.unwrap();
    assert_eq!(layer.cache().stats().pending_writes, 0);
    assert_eq!(layer.cache().len().await.unwrap(), 1);
}

#[tokio::test]
async fn a_follower_reads_on_while_the_leader_holds_its_body_unread() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| b);
    let leader = s.call().await;
    let body_in = s.next_body().await;
    let follower = s.call().await;
    assert_eq!(status(&follower).outcome(), CacheOutcome::Hit);
    body_in.send(chunk("one ")).unwrap();
    body_in.send(chunk("two")).unwrap();
    drop(body_in);
    // The follower pulls the body from upstream itself: it does not wait
    // for the leader's caller to read.
    assert_eq!(
        follower.into_body().collect().await.unwrap().to_bytes(),
        "one two"
    );
    assert_eq!(
        leader.into_body().collect().await.unwrap().to_bytes(),
        "one two"
    );
    s.layer.cache().flush().await;
    assert_eq!(s.layer.cache().len().await.unwrap(), 1);
}

#[tokio::test]
async fn past_the_limit_a_reader_that_falls_too_far_behind_is_cut_off_and_the_others_go_on() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| {
        b.max_body_size(8)
    });
    let leader = s.call().await;
    let body_in = s.next_body().await;
    let slow = s.call().await;
    assert_eq!(status(&slow).outcome(), CacheOutcome::Hit);
    let mut leader_body = leader.into_body();
    for piece in ["12345", "67890", "abcde"] {
        body_in.send(chunk(piece)).unwrap();
        assert_eq!(next_data(&mut leader_body).await, piece);
    }
    drop(body_in);
    assert!(
        leader_body.frame().await.is_none(),
        "the leader's body is whole"
    );
    let error = slow.into_body().collect().await.unwrap_err();
    assert!(error.downcast_ref::<SharedBodyError>().is_some(), "{error}");
    s.layer.cache().flush().await;
    assert_eq!(
        s.layer.cache().len().await.unwrap(),
        0,
        "past max_body_size"
    );
}

/// A body of one data frame, then trailers.
struct WithTrailers(u8);

impl Body for WithTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0 += 1;
        Poll::Ready(match self.0 {
            1 => Some(Ok(Frame::data(Bytes::from_static(b"data")))),
            2 => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                Some(Ok(Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

#[tokio::test]
async fn trailers_reach_the_caller_and_such_a_body_is_not_stored() {
    let upstream = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("cache-control", "max-age=60")
                .body(WithTrailers(0))
                .unwrap(),
        )
    });
    let layer = CacheLayer::new(MemoryStorage::new());
    let service = layer.layer(upstream);
    for _ in 0..2 {
        let response = service
            .clone()
            .oneshot(
                Request::get("http://e.com/t")
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        assert_eq!(collected.to_bytes(), "data");
    }
    layer.cache().flush().await;
    assert_eq!(
        layer.cache().len().await.unwrap(),
        0,
        "storing would drop the trailers"
    );
}

/// Polls `future` to its end on this thread, without any runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

#[test]
fn without_a_runtime_memory_writes_complete_in_place_and_pending_ones_are_dropped() {
    let storage = reqcache_test::Gated::new(MemoryStorage::new());
    let layer = CacheLayer::new(storage.clone());
    let service = layer.layer(tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("cache-control", "max-age=60")
                .body(Full::new(Bytes::from_static(b"x")))
                .unwrap(),
        )
    }));
    let get = |path: &str| {
        let response = block_on(
            service.clone().oneshot(
                Request::get(format!("http://e.com/{path}"))
                    .body(Full::default())
                    .unwrap(),
            ),
        )
        .unwrap();
        let outcome = status(&response).outcome();
        assert_eq!(
            block_on(response.into_body().collect()).unwrap().to_bytes(),
            "x"
        );
        outcome
    };
    assert_eq!(get("a"), CacheOutcome::Storing);
    assert_eq!(
        get("a"),
        CacheOutcome::Hit,
        "written in place: memory is ready at once"
    );

    // A write that would have to wait has no runtime to finish on.
    storage.hold_writes();
    assert_eq!(get("b"), CacheOutcome::Storing);
    let stats = layer.cache().stats();
    assert_eq!((stats.writes_dropped, stats.pending_writes), (1, 0));
    storage.release_writes();
    assert_eq!(get("b"), CacheOutcome::Storing, "it was not stored");
}

/// A leader whose body has brought `pieces`, each read by the leader: the
/// sender of the rest of the body, and the leader's body.
async fn leader_having_read(
    s: &mut Setup,
    pieces: &[&'static str],
) -> (Sender, CacheBody<ChannelBody>) {
    let leader = s.call().await;
    let body_in = s.next_body().await;
    let mut leader_body = leader.into_body();
    for piece in pieces {
        body_in.send(chunk(piece)).unwrap();
        assert_eq!(next_data(&mut leader_body).await, *piece);
    }
    (body_in, leader_body)
}

/// The body is copied into one buffer as it arrives and its chunks go once
/// read: a follower that comes after the leader has read (and released)
/// the first chunks reads them out of that buffer, and the entry stored is
/// the whole body.
#[tokio::test]
async fn a_follower_that_comes_late_reads_the_chunks_already_released() {
    let mut s = setup(&[("cache-control", "max-age=60")], Some(15), |b| b);
    let (body_in, leader_body) = leader_having_read(&mut s, &["12345", "67890"]).await;
    let late = s.call().await;
    assert_eq!(status(&late).outcome(), CacheOutcome::Hit);
    body_in.send(chunk("abcde")).unwrap();
    drop(body_in);
    assert_eq!(leader_body.collect().await.unwrap().to_bytes(), "abcde");
    assert_eq!(
        late.into_body().collect().await.unwrap().to_bytes(),
        "1234567890abcde"
    );
    s.layer.cache().flush().await;
    let hit = s.call().await;
    assert_eq!(status(&hit).outcome(), CacheOutcome::Hit);
    assert_eq!(
        hit.into_body().collect().await.unwrap().to_bytes(),
        "1234567890abcde"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

/// When the body goes past the limit, a follower still reading out of the
/// buffer gets the chunks it has not read back, and reads on intact.
#[tokio::test]
async fn a_late_follower_reads_on_intact_when_the_body_goes_past_the_limit() {
    let mut s = setup(&[("cache-control", "max-age=60")], None, |b| {
        b.max_body_size(12)
    });
    let (body_in, mut leader_body) = leader_having_read(&mut s, &["12345", "67890"]).await;
    let late = s.call().await;
    assert_eq!(status(&late).outcome(), CacheOutcome::Hit);
    let mut late_body = late.into_body();
    assert_eq!(next_data(&mut late_body).await, "12345");
    body_in.send(chunk("abcde")).unwrap();
    assert_eq!(next_data(&mut leader_body).await, "abcde");
    drop(body_in);
    assert!(leader_body.frame().await.is_none());
    assert_eq!(late_body.collect().await.unwrap().to_bytes(), "67890abcde");
    s.layer.cache().flush().await;
    assert_eq!(
        s.layer.cache().len().await.unwrap(),
        0,
        "past max_body_size"
    );
}
