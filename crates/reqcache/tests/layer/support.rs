//! A recording upstream service and a harness that drives the layer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{
    CacheBody, CacheHandle, CacheLayer, CacheLayerBuilder, CacheService, CacheStatus, ManualClock,
    MemoryStorage,
};
use tower::{Layer, Service, ServiceExt};

/// The error the test upstream fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamError(pub &'static str);

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UpstreamError {}

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) uri: http::Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) extensions: http::Extensions,
}

/// A response body of several chunks, optionally ending in an error.
#[derive(Debug, Default)]
pub(crate) struct TestBody {
    chunks: VecDeque<Bytes>,
    error: Option<UpstreamError>,
}

impl TestBody {
    pub(crate) fn chunks<I: IntoIterator<Item = Bytes>>(chunks: I) -> Self {
        Self {
            chunks: chunks.into_iter().collect(),
            error: None,
        }
    }

    pub(crate) fn failing_after<I: IntoIterator<Item = Bytes>>(
        chunks: I,
        error: UpstreamError,
    ) -> Self {
        Self {
            chunks: chunks.into_iter().collect(),
            error: Some(error),
        }
    }
}

impl From<&'static str> for TestBody {
    fn from(s: &'static str) -> Self {
        Self::chunks([Bytes::from_static(s.as_bytes())])
    }
}

impl From<String> for TestBody {
    fn from(s: String) -> Self {
        Self::chunks([Bytes::from(s)])
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = UpstreamError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(self.error.take().map(Err))
    }

    fn size_hint(&self) -> SizeHint {
        let len: usize = self.chunks.iter().map(Bytes::len).sum();
        if self.error.is_some() {
            let mut hint = SizeHint::new();
            hint.set_lower(len as u64);
            hint
        } else {
            SizeHint::with_exact(len as u64)
        }
    }
}

type Handler = dyn Fn(&Seen, usize) -> Result<Response<TestBody>, UpstreamError> + Send + Sync;

/// An upstream that records every request and answers with a handler, given
/// the request and the number of calls before it.
#[derive(Clone)]
pub(crate) struct Upstream {
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Seen>>>,
    calls: Arc<AtomicUsize>,
}

impl Upstream {
    pub(crate) fn new(
        handler: impl Fn(&Seen, usize) -> Result<Response<TestBody>, UpstreamError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            handler: Arc::new(handler),
            seen: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// Always `200` with `body` and the given headers.
    pub(crate) fn ok(body: &'static str, headers: &'static [(&'static str, &'static str)]) -> Self {
        Self::new(move |_, _| Ok(response(200, headers, body)))
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn last(&self) -> Seen {
        self.seen().pop().expect("upstream was never called")
    }
}

pub(crate) fn response(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<TestBody>,
) -> Response<TestBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

impl Service<Request<Full<Bytes>>> for Upstream {
    type Response = Response<TestBody>;
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<TestBody>, UpstreamError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), UpstreamError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e: Infallible| match e {})?
                .to_bytes();
            let seen = Seen {
                uri: parts.uri,
                headers: parts.headers,
                body,
                extensions: parts.extensions,
            };
            let before = this.calls.fetch_add(1, Ordering::SeqCst);
            this.seen.lock().unwrap().push(seen.clone());
            (this.handler)(&seen, before)
        })
    }
}

/// What the client got.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) cache: CacheStatus,
}

pub(crate) async fn reply<B>(response: Response<CacheBody<B>>) -> Reply
where
    B: Body,
    B::Error: Into<reqcache::storage::backend::BoxError>,
{
    let (parts, body) = response.into_parts();
    let cache = parts
        .extensions
        .get::<CacheStatus>()
        .cloned()
        .expect("every response carries a CacheStatus");
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body failed").to_bytes(),
        cache,
    }
}

pub(crate) fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The layer over an [`Upstream`], with a manual clock.
pub(crate) struct Harness {
    pub(crate) service: CacheService<Upstream>,
    pub(crate) upstream: Upstream,
    pub(crate) clock: Arc<ManualClock>,
}

impl Harness {
    /// Memory storage, default settings but for what `configure` changes.
    pub(crate) fn new(
        upstream: Upstream,
        configure: impl FnOnce(CacheLayerBuilder) -> CacheLayerBuilder,
    ) -> Self {
        Self::with_storage(MemoryStorage::new(), upstream, configure)
    }

    pub(crate) fn with_storage(
        storage: impl Storage,
        upstream: Upstream,
        configure: impl FnOnce(CacheLayerBuilder) -> CacheLayerBuilder,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let layer = configure(CacheLayer::builder(storage).clock(Arc::clone(&clock))).build();
        Self {
            service: layer.layer(upstream.clone()),
            upstream,
            clock,
        }
    }

    pub(crate) fn cache(&self) -> &CacheHandle {
        self.service
            .cache()
            .expect("a CacheLayer service has its cache")
    }

    pub(crate) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub(crate) fn calls(&self) -> usize {
        self.upstream.calls()
    }

    pub(crate) async fn try_send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<Reply, UpstreamError> {
        let response = self.service.ready().await?.call(request).await?;
        Ok(reply(response).await)
    }

    pub(crate) async fn send(&mut self, request: Request<Full<Bytes>>) -> Reply {
        self.try_send(request).await.expect("upstream failed")
    }

    pub(crate) async fn get(&mut self, uri: &str) -> Reply {
        self.send(get(uri)).await
    }
}

pub(crate) fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

pub(crate) fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from_static(body))).unwrap()
}

/// A body the test sends chunk by chunk; `length` is its exact size, when
/// announced.
pub(crate) struct ChannelBody {
    pub(crate) chunks: tokio::sync::mpsc::UnboundedReceiver<Result<Bytes, UpstreamError>>,
    pub(crate) length: Option<u64>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = UpstreamError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamError>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.length.map_or_else(SizeHint::new, SizeHint::with_exact)
    }
}

/// The test's end of a [`ChannelBody`].
pub(crate) type Sender = tokio::sync::mpsc::UnboundedSender<Result<Bytes, UpstreamError>>;
