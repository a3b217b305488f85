//! [`CacheBody`]: the body of every response from the layer.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// A response body: bytes from the cache, the upstream body streamed
/// through, or the part of the upstream body already read for caching
/// followed by the rest of it, intact.
///
/// # Example
/// ```
/// use http_body_util::{BodyExt, Full};
/// use reqcache::CacheBody;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let body: CacheBody<Full<bytes::Bytes>> = CacheBody::upstream(Full::new(bytes::Bytes::from_static(b"hello")));
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
/// # }
/// ```
pub struct CacheBody<B: Body> {
    head: Option<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<B::Error>,
    // Boxed so that a body can be read partly for caching and then handed on,
    // whatever its `Unpin`-ness; cached bodies have none and allocate nothing.
    inner: Option<Pin<Box<B>>>,
}

// No field is ever structurally pinned: the inner body is boxed.
impl<B: Body> Unpin for CacheBody<B> {}

impl<B: Body> CacheBody<B> {
    /// A body of bytes from the cache.
    pub fn cached(bytes: Bytes) -> Self {
        Self {
            head: (!bytes.is_empty()).then_some(bytes),
            trailers: None,
            error: None,
            inner: None,
        }
    }

    /// The upstream body, streamed through untouched.
    pub fn upstream(body: B) -> Self {
        Self {
            head: None,
            trailers: None,
            error: None,
            inner: Some(Box::pin(body)),
        }
    }

    /// `true` when the body comes from the cache.
    pub fn is_cached(&self) -> bool {
        self.inner.is_none() && self.error.is_none()
    }

    /// The bytes of a body from the cache, or the body itself when it
    /// streams from upstream.
    ///
    /// # Errors
    /// The body, unchanged, when it is not a cached one.
    ///
    /// # Example
    /// ```
    /// use http_body_util::Full;
    /// use reqcache::CacheBody;
    ///
    /// let cached: CacheBody<Full<bytes::Bytes>> = CacheBody::cached(bytes::Bytes::from_static(b"hi"));
    /// assert_eq!(cached.into_cached_bytes().ok().unwrap(), "hi");
    /// let streaming = CacheBody::upstream(Full::new(bytes::Bytes::from_static(b"hi")));
    /// assert!(streaming.into_cached_bytes().is_err());
    /// ```
    // The body itself comes back unchanged, like `Arc::try_unwrap`; boxing it
    // would cost an allocation on the hit path.
    #[allow(clippy::result_large_err)]
    pub fn into_cached_bytes(self) -> Result<Bytes, Self> {
        if self.is_cached() && self.trailers.is_none() {
            Ok(self.head.unwrap_or_default())
        } else {
            Err(self)
        }
    }

    /// Reads `body` whole if it fits in `limit` bytes. Otherwise returns it as
    /// a body that replays what was read, then streams the rest (or the read
    /// error, or the trailers) unchanged.
    pub(crate) async fn buffer(body: B, limit: usize) -> Result<Bytes, Self> {
        if body.size_hint().lower() > limit as u64 {
            return Err(Self::upstream(body));
        }
        let mut body = Box::pin(body);
        let mut chunks: VecDeque<Bytes> = VecDeque::new();
        let mut total = 0usize;
        loop {
            match body.frame().await {
                None => return Ok(concat(chunks, total)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let chunk = data.copy_to_bytes(data.remaining());
                        total += chunk.len();
                        chunks.push_back(chunk);
                        if total > limit {
                            return Err(Self::resume(concat(chunks, total), None, None, body));
                        }
                    }
                    Err(frame) => {
                        // Trailers: caching would drop them, so stream instead.
                        let trailers = frame.into_trailers().ok();
                        return Err(Self::resume(concat(chunks, total), trailers, None, body));
                    }
                },
                Some(Err(error)) => {
                    return Err(Self::resume(concat(chunks, total), None, Some(error), body));
                }
            }
        }
    }

    fn resume(
        head: Bytes,
        trailers: Option<HeaderMap>,
        error: Option<B::Error>,
        body: Pin<Box<B>>,
    ) -> Self {
        Self {
            head: (!head.is_empty()).then_some(head),
            trailers,
            error,
            inner: Some(body),
        }
    }
}

fn concat(mut chunks: VecDeque<Bytes>, total: usize) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop_front().unwrap_or_default(),
        _ => {
            let mut out = Vec::with_capacity(total);
            for chunk in chunks {
                out.extend_from_slice(&chunk);
            }
            Bytes::from(out)
        }
    }
}

impl<B: Body> Body for CacheBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if let Some(error) = this.error.take() {
            this.inner = None;
            return Poll::Ready(Some(Err(error)));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        Poll::Ready(match std::task::ready!(inner.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => Some(Ok(
                frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
            )),
            Some(Err(error)) => Some(Err(error)),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.trailers.is_none()
            && self.error.is_none()
            && self
                .inner
                .as_ref()
                .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match &self.inner {
            None => SizeHint::with_exact(head),
            Some(_) if self.trailers.is_some() || self.error.is_some() => {
                let mut hint = SizeHint::new();
                hint.set_lower(head);
                hint
            }
            Some(inner) => {
                let inner = inner.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + head);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + head);
                }
                hint
            }
        }
    }
}

impl<B: Body> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBody")
            .field("cached", &self.is_cached())
            .field("head_len", &self.head.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}
