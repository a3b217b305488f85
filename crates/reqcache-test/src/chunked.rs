//! Checks for storages that keep large bodies in chunks
//! ([`Storage::chunks`]): a body past
//! [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM) through a
//! layer, stored in chunks and streamed back on hits, ranges read from the
//! chunks, a `304` that keeps them, a replaced body's chunks removed, and a
//! body cut short never stored.
//!
//! Bodies are a byte pattern made and checked as they stream, so no check
//! holds a whole body in memory.

use std::convert::Infallible;
use std::error::Error;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::storage::backend::BodyRef;
use reqcache::{CacheBody, CacheLayer, CacheStatus, ManualClock, WriteMode};
use tower::{Layer, ServiceExt};

/// The storage timeouts of the checks' layers: test servers on a loaded
/// machine (a Python MongoDB) may take more than the defaults to move a
/// body of megabytes, and these checks are about what is stored, not how
/// fast.
const SLOW_SERVER: Duration = Duration::from_secs(30);

/// Byte `at` of every pattern body.
pub fn pattern_byte(at: u64) -> u8 {
    (at ^ (at >> 9) ^ (at >> 17)).wrapping_mul(31) as u8
}

/// A body of `len` pattern bytes from `start`, in frames of `frame` bytes,
/// failing after `fail_at` bytes when set.
#[derive(Debug, Clone)]
pub struct PatternBody {
    at: u64,
    end: u64,
    frame: usize,
    fail_at: Option<u64>,
}

impl PatternBody {
    /// `len` bytes in frames of 64 KiB.
    pub fn new(len: u64) -> Self {
        Self {
            at: 0,
            end: len,
            frame: 64 * 1024,
            fail_at: None,
        }
    }

    /// Fails with an error once `at` bytes are sent.
    #[must_use]
    pub fn failing_at(mut self, at: u64) -> Self {
        self.fail_at = Some(at);
        self
    }
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.fail_at.is_some_and(|fail| self.at >= fail) {
            self.fail_at = None;
            self.end = self.at;
            return Poll::Ready(Some(Err("the upstream body failed".into())));
        }
        if self.at >= self.end {
            return Poll::Ready(None);
        }
        let mut n = (self.end - self.at).min(self.frame as u64);
        if let Some(fail) = self.fail_at {
            n = n.min(fail - self.at).max(1);
        }
        let start = self.at;
        let data: Vec<u8> = (start..start + n).map(pattern_byte).collect();
        self.at += n;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(data)))))
    }

    fn is_end_stream(&self) -> bool {
        self.at >= self.end && self.fail_at.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.end - self.at)
    }
}

/// Reads `body` through, checking it is pattern bytes `start..start+len`;
/// returns how many frames it came in.
///
/// # Panics
/// When the body fails, is short or long, or has another byte.
pub async fn check_pattern<B>(mut body: B, start: u64, len: u64) -> usize
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut at = start;
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the body reads whole");
        if let Ok(data) = frame.into_data() {
            for (offset, byte) in data.iter().enumerate() {
                assert_eq!(
                    *byte,
                    pattern_byte(at + offset as u64),
                    "byte {} of the body",
                    at + offset as u64 - start
                );
            }
            at += data.len() as u64;
            frames += 1;
        }
    }
    assert_eq!(at - start, len, "the body's length");
    frames
}

/// An upstream that sends a pattern body of `len` bytes, `max-age=60` with
/// `ETag: "v<version>"`, and `304` to a matching `If-None-Match`; it counts
/// full answers and `304`s.
#[derive(Debug, Clone)]
struct Origin {
    len: u64,
    version: Arc<AtomicUsize>,
    full: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
    fail_at: Option<u64>,
}

impl Origin {
    fn etag(&self) -> HeaderValue {
        HeaderValue::try_from(format!("\"v{}\"", self.version.load(Ordering::SeqCst)))
            .expect("a valid ETag")
    }

    fn answer(&self, request: &Request<Full<Bytes>>) -> Response<PatternBody> {
        let etag = self.etag();
        let mut response = if request.headers().get(header::IF_NONE_MATCH) == Some(&etag) {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            let mut response = Response::new(PatternBody::new(0));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            self.full.fetch_add(1, Ordering::SeqCst);
            let body = PatternBody::new(self.len);
            let body = match self.fail_at {
                Some(at) => body.failing_at(at),
                None => body,
            };
            let mut response = Response::new(body);
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(self.len));
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        response
    }
}

type Answer = Response<CacheBody<PatternBody>>;

fn request(range: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("https://example.com/large.bin");
    if let Some(range) = range {
        builder = builder.header(header::RANGE, range);
    }
    builder.body(Full::default()).expect("a valid request")
}

fn status(response: &Answer) -> CacheStatus {
    response
        .extensions()
        .get::<CacheStatus>()
        .cloned()
        .expect("a CacheStatus")
}

/// The body the storage holds for the one response stored.
async fn stored_body(storage: &dyn Storage) -> BodyRef {
    let entries = storage.entries().await.expect("entries");
    let key = &entries
        .iter()
        .find(|e| e.kind.is_response())
        .expect("a response stored")
        .key;
    storage
        .get(key, std::time::SystemTime::now())
        .await
        .expect("read")
        .expect("the response")
        .stored_body
        .clone()
        .expect("its body in chunks")
}

/// A body of `len` bytes (more than
/// [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)) through a
/// layer on `storage`: stored in chunks, with its record; answered from
/// them (in many frames, not one); a range read from them; a `304` that
/// keeps the same chunks; a new body that replaces them (the old ones go);
/// a record whose chunks are gone answered as a miss; a removal that takes
/// them.
///
/// # Panics
/// When any of that does not hold.
pub async fn chunked_bodies(storage: Arc<dyn Storage>, len: u64) {
    let chunks = storage.chunks().expect("a storage that keeps chunks");
    let clock = Arc::new(ManualClock::starting_now());
    let layer = CacheLayer::builder(Arc::clone(&storage))
        .clock(Arc::clone(&clock))
        .write_mode(WriteMode::Durable)
        .storage_timeouts(Some(SLOW_SERVER), Some(SLOW_SERVER))
        .max_body_size(usize::try_from(len).unwrap_or(usize::MAX))
        .build();
    let origin = Origin {
        len,
        version: Arc::new(AtomicUsize::new(1)),
        full: Arc::default(),
        not_modified: Arc::default(),
        fail_at: None,
    };
    let upstream = origin.clone();
    let service = layer.layer(tower::service_fn(move |request: Request<Full<Bytes>>| {
        let response = upstream.answer(&request);
        async move { Ok::<_, Infallible>(response) }
    }));
    let call = |range: Option<&str>| {
        let service = service.clone();
        let request = request(range);
        async move { service.oneshot(request).await.expect("infallible") }
    };

    // The miss streams through and is stored in chunks.
    let miss = call(None).await;
    assert!(!status(&miss).from_cache());
    check_pattern(miss.into_body(), 0, len).await;
    layer.cache().flush().await;
    let first = stored_body(&*storage).await;
    assert_eq!(first.len, len);
    assert!(first.chunks() > 1, "{first:?}");
    for index in [0, first.chunks() - 1] {
        let chunk = chunks
            .read_chunk(&first.id, index)
            .await
            .expect("read a chunk")
            .expect("the chunk");
        assert_eq!(chunk.len() as u64, first.chunk_len(index));
    }

    // Hits stream from the chunks.
    for _ in 0..2 {
        let hit = call(None).await;
        assert!(status(&hit).from_cache());
        assert_eq!(
            http_body::Body::size_hint(hit.body()).exact(),
            Some(len),
            "a hit's length is known"
        );
        let frames = check_pattern(hit.into_body(), 0, len).await;
        assert!(frames as u64 >= first.chunks(), "{frames} frames");
    }
    assert_eq!(origin.full.load(Ordering::SeqCst), 1);

    // A range, from the chunks it covers; one across a chunk's end.
    let (start, end) = (
        u64::from(first.chunk_size) - 1000,
        u64::from(first.chunk_size) + 5000,
    );
    let partial = call(Some(&format!("bytes={start}-{}", end - 1))).await;
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    assert!(status(&partial).from_cache());
    assert_eq!(
        partial.headers()[header::CONTENT_RANGE],
        format!("bytes {start}-{}/{len}", end - 1).as_str()
    );
    check_pattern(partial.into_body(), start, end - start).await;
    let tail = call(Some("bytes=-100")).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    check_pattern(tail.into_body(), len - 100, 100).await;
    let beyond = call(Some(&format!("bytes={len}-"))).await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // If-Range naming another representation: the whole body.
    let mut other = request(Some("bytes=0-99"));
    other
        .headers_mut()
        .insert(header::IF_RANGE, HeaderValue::from_static("\"v0\""));
    let whole = service.clone().oneshot(other).await.expect("infallible");
    assert_eq!(whole.status(), StatusCode::OK);
    check_pattern(whole.into_body(), 0, len).await;
    let mut same = request(Some("bytes=0-99"));
    same.headers_mut().insert(header::IF_RANGE, origin.etag());
    let partial = service.clone().oneshot(same).await.expect("infallible");
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    check_pattern(partial.into_body(), 0, 100).await;
    assert_eq!(origin.full.load(Ordering::SeqCst), 1);

    // A 304 rewrites the record and keeps the chunks.
    clock.advance(Duration::from_secs(120));
    let revalidated = call(None).await;
    assert_eq!(revalidated.status(), StatusCode::OK);
    check_pattern(revalidated.into_body(), 0, len).await;
    layer.cache().flush().await;
    assert_eq!(origin.not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(stored_body(&*storage).await, first, "the same chunks");
    let hit = call(None).await;
    assert!(status(&hit).from_cache(), "fresh again after the 304");
    check_pattern(hit.into_body(), 0, len).await;

    // A new body replaces the chunks: the old ones go.
    origin.version.fetch_add(1, Ordering::SeqCst);
    clock.advance(Duration::from_secs(120));
    let replaced = call(None).await;
    check_pattern(replaced.into_body(), 0, len).await;
    layer.cache().flush().await;
    assert_eq!(origin.full.load(Ordering::SeqCst), 2);
    let second = stored_body(&*storage).await;
    assert_ne!(second.id, first.id);
    assert_eq!(
        chunks.read_chunk(&first.id, 0).await.expect("read"),
        None,
        "the replaced body's chunks are gone"
    );

    // A record whose body is gone is a miss, never an answer cut short.
    chunks.discard(&second.id).await.expect("discard");
    let refetched = call(None).await;
    assert!(!status(&refetched).from_cache(), "a body gone is a miss");
    check_pattern(refetched.into_body(), 0, len).await;
    layer.cache().flush().await;
    assert_eq!(origin.full.load(Ordering::SeqCst), 3);
    let third = stored_body(&*storage).await;
    assert_ne!(third.id, second.id);

    // A removal takes the chunks with the record.
    let entries = storage.entries().await.expect("entries");
    for entry in entries {
        storage.delete(&entry.key).await.expect("delete");
    }
    assert_eq!(
        chunks.read_chunk(&third.id, 0).await.expect("read"),
        None,
        "a removed record's chunks are gone"
    );
}

/// A body of `len` bytes that fails upstream after most of it was written
/// in chunks: the caller gets the error, nothing is stored, the next
/// request is a miss, and the chunks written are removed.
///
/// # Panics
/// When any of that does not hold.
pub async fn chunked_body_cut_short_is_never_stored(storage: Arc<dyn Storage>, len: u64) {
    let layer = CacheLayer::builder(Arc::clone(&storage))
        .write_mode(WriteMode::Durable)
        .storage_timeouts(Some(SLOW_SERVER), Some(SLOW_SERVER))
        .max_body_size(usize::try_from(len).unwrap_or(usize::MAX))
        .build();
    let origin = Origin {
        len,
        version: Arc::new(AtomicUsize::new(1)),
        full: Arc::default(),
        not_modified: Arc::default(),
        fail_at: Some(len - len / 4),
    };
    let upstream = origin.clone();
    let service = layer.layer(tower::service_fn(move |request: Request<Full<Bytes>>| {
        let response = upstream.answer(&request);
        async move { Ok::<_, Infallible>(response) }
    }));
    let response = service
        .clone()
        .oneshot(request(None))
        .await
        .expect("infallible");
    let mut body = response.into_body();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the caller sees the upstream failure");
    layer.cache().flush().await;
    assert_eq!(storage.len().await.expect("len"), 0, "nothing stored");
    let response = service.oneshot(request(None)).await.expect("infallible");
    assert!(!status(&response).from_cache(), "a miss");
    assert_eq!(origin.full.load(Ordering::SeqCst), 2);
    // It fails too: read it through, so that nothing is left writing.
    let mut body = response.into_body();
    while let Some(Ok(_)) = body.frame().await {}
    layer.cache().flush().await;
    assert_eq!(storage.len().await.expect("len"), 0, "nothing stored");
}

/// A response of `len` bytes stored in chunks on `storage` moves with its
/// body: copied to `other` (into its chunks, or whole when it keeps none)
/// and to a memory storage, and rekeyed within `storage`; each is then a
/// hit with the whole body, and the original still is.
///
/// # Panics
/// When any of that does not hold.
pub async fn chunked_records_move_with_their_bodies(
    storage: Arc<dyn Storage>,
    other: Arc<dyn Storage>,
    len: u64,
) {
    let origin = Origin {
        len,
        version: Arc::new(AtomicUsize::new(1)),
        full: Arc::default(),
        not_modified: Arc::default(),
        fail_at: None,
    };
    let layer_on = |storage: Arc<dyn Storage>, ignored: &[&str]| {
        CacheLayer::builder(storage)
            .write_mode(WriteMode::Durable)
            .storage_timeouts(Some(SLOW_SERVER), Some(SLOW_SERVER))
            .max_body_size(usize::try_from(len).unwrap_or(usize::MAX))
            .ignored_parameters(ignored.iter().map(|name| (*name).to_owned()))
            .build()
    };
    let get = |layer: &CacheLayer| {
        let upstream = origin.clone();
        let service = layer.layer(tower::service_fn(move |request: Request<Full<Bytes>>| {
            let response = upstream.answer(&request);
            async move { Ok::<_, Infallible>(response) }
        }));
        async move {
            let request = Request::get("https://example.com/large.bin?x=1")
                .body(Full::default())
                .expect("a valid request");
            service.oneshot(request).await.expect("infallible")
        }
    };
    let layer = layer_on(Arc::clone(&storage), &[]);
    check_pattern(get(&layer).await.into_body(), 0, len).await;
    layer.cache().flush().await;
    let memory: Arc<dyn Storage> = Arc::new(
        reqcache::MemoryStorage::builder()
            .max_size(2 * len + (1 << 20))
            .build(),
    );
    for destination in [other, memory] {
        assert_eq!(layer.cache().copy_to(&*destination).await.expect("copy"), 1);
        let hit = get(&layer_on(destination, &[])).await;
        assert!(status(&hit).from_cache(), "a hit on the copy");
        check_pattern(hit.into_body(), 0, len).await;
    }
    // Rekeyed: `x` ignored from now on.
    let rekeyed = layer_on(Arc::clone(&storage), &["x"]);
    let report = rekeyed.cache().rekey().await.expect("rekey");
    assert_eq!(report.rekeyed, 1, "{report:?}");
    let hit = get(&rekeyed).await;
    assert!(status(&hit).from_cache(), "a hit under the new key");
    check_pattern(hit.into_body(), 0, len).await;
    assert_eq!(origin.full.load(Ordering::SeqCst), 1);
}
