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
