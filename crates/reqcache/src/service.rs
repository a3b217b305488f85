//! [`CacheService`]: the middleware service a [`CacheLayer`](crate::CacheLayer) makes.

use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use tower_service::Service;
use tracing::Instrument;

use crate::body::CacheBody;
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::engine::{self, with_status};
use crate::future::ResponseFuture;
use crate::handle::CacheHandle;
use crate::status::CacheStatus;

/// Answers requests from the cache where it can, and from the inner service
/// otherwise. Made by [`CacheLayer`](crate::CacheLayer).
///
/// Its error type is the inner service's: cache failures are logged and
/// turned into misses or skipped writes, never errors. Responses carry a
/// [`CacheStatus`](crate::CacheStatus) extension.
///
/// The request body type must be buildable from [`Bytes`](bytes::Bytes) (`Full<Bytes>`,
/// `axum::body::Body`, `reqwest::Body`, ...): a request whose method
/// is cacheable and whose body is not known to be empty is read whole, to be
/// part of the key, then handed on rebuilt. If that read fails, the layer
/// answers `400 Bad Request` without calling the inner service.
///
/// # Example
/// ```
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use reqcache::{CacheLayer, MemoryStorage};
/// use tower::Layer;
///
/// let upstream = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
///     Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from_static(b"hello"))))
/// });
/// let service = CacheLayer::new(MemoryStorage::new()).layer(upstream);
/// let _inner = service.get_ref();
/// ```
#[derive(Debug, Clone)]
pub struct CacheService<S> {
    inner: S,
    source: CacheSource,
}

/// Where a service's cache comes from.
#[derive(Debug, Clone)]
enum CacheSource {
    /// The cache of the layer that made it.
    Fixed(CacheHandle),
    /// Chosen per request, in the caller's task: the
    /// [`global::current`](crate::global::current) cache, if any.
    Installed,
}

impl<S> CacheService<S> {
    pub(crate) fn new(inner: S, cache: CacheHandle) -> Self {
        Self {
            inner,
            source: CacheSource::Fixed(cache),
        }
    }

    /// A service whose cache is the installed one of each request's task
    /// ([`InstalledCacheLayer`](crate::global::InstalledCacheLayer)).
    pub(crate) fn installed(inner: S) -> Self {
        Self {
            inner,
            source: CacheSource::Installed,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The cache handle, shared with the layer; `None` for a service of
    /// [`InstalledCacheLayer`](crate::global::InstalledCacheLayer), whose
    /// cache is chosen per request.
    pub fn cache(&self) -> Option<&CacheHandle> {
        match &self.source {
            CacheSource::Fixed(cache) => Some(cache),
            CacheSource::Installed => None,
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheService<S>
where
    // The equality names `ResBody` for the impl; the rest of the bounds are
    // `CacheableService`'s.
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The instance that was polled ready goes into the future; a clone
        // stays behind to be polled ready next time.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        // Read here, in the caller's task, where the task-local scope lives.
        let (cache, disabled) = match &self.source {
            CacheSource::Fixed(cache) => (Some(cache.clone()), crate::scope::is_cache_disabled()),
            CacheSource::Installed => (crate::scope::current_cache(), false),
        };
        start(cache, inner, request, disabled)
    }
}

/// Starts answering one request: [`respond`] inside a `reqcache` span
/// (method, URI); the events inside it say what happened. `cache` is `None`
/// for an installed-cache service when nothing is installed: the request
/// passes through.
fn start<S, ReqBody, ResBody>(
    cache: Option<CacheHandle>,
    inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> ResponseFuture<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    let Some(cache) = cache else {
        return pass_through(inner, request);
    };
    let span = request_span(&cache, &request);
    if cache.shared.settings.cache_status_header.is_some() {
        let clock = cache.shared.clock.clone();
        let name = cache.shared.settings.cache_status_header.clone();
        let respond = engine::respond(cache.shared, inner, request, disabled);
        return ResponseFuture::new(
            async move {
                let response = respond.await?;
                Ok(match name {
                    Some(name) => add_cache_status(response, &name, clock.now()),
                    None => response,
                })
            }
            .instrument(span),
        );
    }
    let respond = engine::respond(cache.shared, inner, request, disabled);
    // Entering a disabled span on every poll still costs; skip the wrapper
    // when no subscriber wants the span (measured in BENCHMARKS.md).
    if span.is_disabled() {
        ResponseFuture::new(respond)
    } else {
        ResponseFuture::new(respond.instrument(span))
    }
}

/// Appends this cache's `Cache-Status` member (RFC 9211) to `response`'s:
/// one field line, the upstream's members first.
pub(crate) fn add_cache_status<B>(
    mut response: Response<B>,
    name: &str,
    now: std::time::SystemTime,
) -> Response<B> {
    let Some(status) = response.extensions().get::<CacheStatus>() else {
        return response;
    };
    let ours = status.cache_status(name, now);
    let name = HeaderName::from_static("cache-status");
    let upstream: Vec<&[u8]> = response
        .headers()
        .get_all(&name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let value = if upstream.is_empty() {
        ours
    } else {
        let mut joined = upstream.join(&b", "[..]);
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(ours.as_bytes());
        HeaderValue::from_bytes(&joined).unwrap_or(ours)
    };
    response.headers_mut().insert(name, value);
    response
}

/// Passes one request through with no cache (an installed-cache service when
/// nothing is installed).
fn pass_through<S, ReqBody, ResBody>(
    mut inner: S,
    request: Request<ReqBody>,
) -> ResponseFuture<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ResBody: CacheableResponseBody,
{
    tracing::trace!(reason = "no cache installed", "reqcache: skipped");
    let future = inner.call(request);
    ResponseFuture::new(async move {
        let response = future.await?;
        Ok(with_status(
            response.map(CacheBody::upstream),
            CacheStatus::bypassed(),
        ))
    })
}

/// The span every request is answered in. Its fields are only formatted when
/// a subscriber wants `reqcache` spans at `debug`. The URI is recorded as it
/// would be stored, normalized and without ignored or redacted parameters
/// (`api_key`, `token`, ...): no secret reaches a log through it.
fn request_span<B>(cache: &CacheHandle, request: &Request<B>) -> tracing::Span {
    let span = tracing::debug_span!(
        "reqcache",
        method = %request.method(),
        uri = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let uri = cache
            .shared
            .settings
            .key
            .normalize
            .normalized_url(request.uri());
        span.record("uri", uri.as_str());
    }
    span
}
