//! The bounds the layer puts on what it wraps, named once: the inner
//! service, the request body and the response body. Each trait is
//! implemented for every type that meets its bounds; use them to write code
//! that is generic over the services a [`CacheLayer`](crate::CacheLayer) can
//! wrap.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::storage::BoxError;

/// A service a [`CacheLayer`](crate::CacheLayer) can wrap: it answers
/// `http::Request<ReqBody>` with `http::Response<ResBody>`, can be cloned
/// (a clone goes into each request's future, and into background
/// refreshes), and is `Send + 'static`, with its future and error.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, CacheService, MemoryStorage};
/// use reqcache::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
/// use tower::Layer;
///
/// fn cached<S, ReqBody, ResBody>(inner: S) -> CacheService<S>
/// where
///     S: CacheableService<ReqBody, ResBody>,
///     ReqBody: CacheableRequestBody,
///     ResBody: CacheableResponseBody,
/// {
///     CacheLayer::new(MemoryStorage::new()).layer(inner)
/// }
///
/// let upstream = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::<bytes::Bytes>::default()))
/// });
/// let _service = cached(upstream);
/// ```
pub trait CacheableService<ReqBody, ResBody>:
    Service<
        Request<ReqBody>,
        Response = Response<ResBody>,
        Future: Send + 'static,
        Error: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, ReqBody, ResBody> CacheableService<ReqBody, ResBody> for S
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
}

/// A request body the cache can read whole for the key and hand on rebuilt:
/// buildable from [`Bytes`] (`Full<Bytes>`, `axum::body::Body`,
/// `reqwest::Body`, ...; not `String`, which has no `From<Bytes>`).
///
/// # Example
/// ```
/// fn assert_cacheable<B: reqcache::bounds::CacheableRequestBody>() {}
/// assert_cacheable::<http_body_util::Full<bytes::Bytes>>();
/// ```
pub trait CacheableRequestBody:
    Body<Data: Send, Error: Into<BoxError>> + From<Bytes> + Send + 'static
{
}

impl<B> CacheableRequestBody for B
where
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
}

/// A response body the cache can record for storing as it streams on: its
/// error becomes the [`CacheBody`](crate::CacheBody)'s boxed error.
///
/// # Example
/// ```
/// fn assert_cacheable<B: reqcache::bounds::CacheableResponseBody>() {}
/// assert_cacheable::<http_body_util::Full<bytes::Bytes>>();
/// ```
pub trait CacheableResponseBody:
    Body<Data: Send, Error: Into<BoxError> + Send> + Send + 'static
{
}

impl<B> CacheableResponseBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError> + Send,
{
}
