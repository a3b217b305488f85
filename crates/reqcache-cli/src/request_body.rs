//! The body the proxy sends upstream: the client's, streamed as it arrives
//! (never collected whole) and cut off past a size limit, or bytes the cache
//! rebuilt it from.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use tower::BoxError;

/// A request body on its way upstream.
#[derive(Debug)]
pub(crate) struct RequestBody(BoxBody<Bytes, BoxError>);

impl RequestBody {
    /// The client's body, streamed, failing with [`LengthLimitError`] once
    /// more than `limit` bytes have come.
    pub(crate) fn streamed(body: Incoming, limit: usize) -> Self {
        Self(Limited::new(body, limit).boxed())
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self(Full::new(bytes).map_err(|never| match never {}).boxed())
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// Whether an upstream failure comes from a request body past the limit.
pub(crate) fn is_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}
