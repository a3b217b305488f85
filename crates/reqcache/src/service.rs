//! [`CacheService`]: the middleware service a [`CacheLayer`](crate::CacheLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use crate::body::CacheBody;
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::future::ResponseFuture;
use crate::handle::Cache;

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
    cache: Cache,
}

impl<S> CacheService<S> {
    pub(crate) fn new(inner: S, cache: Cache) -> Self {
        Self { inner, cache }
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

    /// The cache handle, shared with the layer.
    pub fn cache(&self) -> &Cache {
        &self.cache
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
        let inner = take_ready(&mut self.inner);
        // Read here, in the caller's task, where the task-local scope lives.
        let disabled = crate::scope::is_cache_disabled();
        crate::flow::start(self.cache.clone(), inner, request, disabled)
    }
}

/// The instance that was polled ready, to go into a request's future; a
/// clone stays behind to be polled ready next time.
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
