//! What the benches share. To build a bench against an older tree, copy
//! this folder beside it.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::Service;

/// An in-process upstream: from a request with a `Full` body to a response
/// with one, never failing, cheap to clone and `Send`, as `CacheLayer`
/// wants it.
pub(crate) trait Upstream:
    Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Upstream for S where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// Sends `request` through a clone of `service` and checks that the
/// answer's body is the 1 KiB the upstreams send: one verified hit.
#[allow(dead_code)] // not every bench counts its hits this way
pub(crate) async fn verified_hit<S, B>(service: &S, request: Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let response = service.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 1024);
}
