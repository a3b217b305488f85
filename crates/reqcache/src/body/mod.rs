//! [`CacheBody`]: the body of every response from the layer, and what it
//! is made of: the tape a miss's body is recorded on and shared through,
//! and the landing of its write.

pub(crate) mod landing;
mod shared_error;
pub(crate) mod spool;
pub(crate) mod tape;

pub use shared_error::SharedBodyError;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use crate::storage::BoxError;
use spool::{SpoolFollower, StoredRead};
use std::sync::Arc;
use tape::{Tape, TapeReader};

/// A response body: bytes from the cache, the upstream body streamed
/// through (and recorded for storing as it goes), or the body of a
/// concurrent request for the same key, read as it arrives.
///
/// A body whose response is being stored, in
/// [`WriteMode::Durable`](crate::WriteMode::Durable), gives its last bytes
/// and its end only once the entry is in storage (or its write was given
/// up): whoever has read it to the end can count on the entry.
///
/// Its error is a [`BoxError`]: the upstream body's own error, boxed (get it
/// back with `downcast_ref`), or a [`SharedBodyError`]
/// when the concurrent response this one shared failed part way.
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
    kind: Kind<B>,
}

enum Kind<B: Body> {
    /// Bytes from the cache (`None` once read).
    Cached(Option<Bytes>),
    /// The upstream body, streamed through untouched.
    // Boxed so that `CacheBody` is `Unpin` whatever the body is.
    Upstream(Pin<Box<B>>),
    /// An upstream body being recorded for storing, shared with the
    /// concurrent requests for the same key. Boxed: only misses have one,
    /// and a hit's body, moved from layer to caller, stays small.
    Shared(Box<SharedBody>),
    /// A body the storage keeps in chunks, read chunk by chunk.
    Stored(Box<StoredRead>),
    /// A concurrent request's body, read from the chunks it is being
    /// written to; its end waits for the entry's write, as `Shared`'s.
    Following(Box<Following>),
}

/// A [`Kind::Following`] body's reading state.
struct Following {
    follower: SpoolFollower,
    tape: Arc<Tape>,
    exact: Option<u64>,
    read: u64,
}

/// A [`Kind::Shared`] body's reading state.
struct SharedBody {
    reader: TapeReader,
    exact: Option<u64>,
    read: u64,
    /// The last bytes, held until the entry's write lands.
    last: Option<Bytes>,
}

// No field is ever structurally pinned: the inner body is boxed.
impl<B: Body> Unpin for CacheBody<B> {}

impl<B: Body> CacheBody<B> {
    /// A body of bytes from the cache.
    pub fn cached(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Cached((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The upstream body, streamed through untouched.
    pub fn upstream(body: B) -> Self {
        Self {
            kind: Kind::Upstream(Box::pin(body)),
        }
    }

    /// A body read from a [`Tape`](crate::body::tape::Tape): the recorded upstream
    /// body of this or a concurrent request; `exact` is its length when known.
    pub(crate) fn shared(reader: TapeReader, exact: Option<u64>) -> Self {
        Self {
            kind: Kind::Shared(Box::new(SharedBody {
                reader,
                exact,
                read: 0,
                last: None,
            })),
        }
    }

    /// A concurrent request's body, from the chunks it is written to;
    /// `exact` is its length when known.
    pub(crate) fn following(follower: SpoolFollower, tape: Arc<Tape>, exact: Option<u64>) -> Self {
        Self {
            kind: Kind::Following(Box::new(Following {
                follower,
                tape,
                exact,
                read: 0,
            })),
        }
    }

    /// A body the storage keeps in chunks, read as it is sent.
    pub(crate) fn stored(read: StoredRead) -> Self {
        Self {
            kind: Kind::Stored(Box::new(read)),
        }
    }

    /// `true` when the body comes from the cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.kind, Kind::Cached(_) | Kind::Stored(_))
    }

    /// The bytes of a body from the cache, or the body itself when it
    /// streams from upstream, or from a storage that keeps it in chunks.
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
    pub fn into_cached_bytes(mut self) -> Result<Bytes, Self> {
        match &mut self.kind {
            Kind::Cached(bytes) => Ok(bytes.take().unwrap_or_default()),
            _ => Err(self),
        }
    }
}

impl<B> Body for CacheBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = this.poll_kind(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            // Nothing comes after an error.
            this.kind = Kind::Cached(None);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Cached(bytes) => bytes.is_none(),
            Kind::Upstream(inner) => inner.is_end_stream(),
            Kind::Stored(read) => read.remaining() == 0,
            Kind::Following(following) => {
                following.follower.is_end_stream()
                    && following
                        .tape
                        .poll_landed(&Context::from_waker(std::task::Waker::noop()))
                        .is_ready()
            }
            Kind::Shared(shared) => {
                shared.last.is_none()
                    && shared.reader.is_end_stream()
                    && shared
                        .reader
                        .poll_landed(&Context::from_waker(std::task::Waker::noop()))
                        .is_ready()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Cached(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Upstream(inner) => inner.size_hint(),
            Kind::Stored(read) => SizeHint::with_exact(read.remaining()),
            Kind::Following(following) => match following.exact {
                Some(exact) => SizeHint::with_exact(exact.saturating_sub(following.read)),
                None => SizeHint::default(),
            },
            Kind::Shared(shared) => match (shared.exact, shared.reader.remaining()) {
                (_, Some(remaining)) => SizeHint::with_exact(
                    remaining + shared.last.as_ref().map_or(0, |last| last.len() as u64),
                ),
                (Some(exact), None) => SizeHint::with_exact(exact.saturating_sub(shared.read)),
                (None, None) => SizeHint::default(),
            },
        }
    }
}

impl<B> CacheBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_kind(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Cached(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stored(read) => read
                .poll_next(cx)
                .map(|next| next.map(|chunk| chunk.map(Frame::data))),
            Kind::Following(following) => {
                match std::task::ready!(following.follower.poll_next(cx)) {
                    Some(Ok(chunk)) => {
                        following.read += chunk.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(chunk))))
                    }
                    Some(Err(error)) => Poll::Ready(Some(Err(error))),
                    // The end waits for the entry's write, if any.
                    None => following.tape.poll_landed(cx).map(|()| None),
                }
            }
            Kind::Upstream(inner) => Poll::Ready(
                std::task::ready!(inner.as_mut().poll_frame(cx)).map(|frame| {
                    frame
                        .map(|frame| {
                            frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                        })
                        .map_err(Into::into)
                }),
            ),
            Kind::Shared(shared) => {
                let SharedBody {
                    reader, read, last, ..
                } = &mut **shared;
                let polled = match last.take() {
                    Some(data) => Some(Ok(Frame::data(data))),
                    None => std::task::ready!(reader.poll_frame(cx)),
                };
                // The end of the body, or its last bytes, wait for the
                // entry's write (there is none to wait for unless it is
                // being stored durably).
                let at_end = match &polled {
                    None => true,
                    Some(Ok(frame)) => frame.is_data() && reader.is_end_stream(),
                    Some(Err(_)) => false,
                };
                if at_end && reader.poll_landed(cx).is_pending() {
                    if let Some(Ok(frame)) = polled {
                        *last = frame.into_data().ok();
                    }
                    return Poll::Pending;
                }
                if let Some(Ok(data)) = polled.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    *read += data.map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(polled)
            }
        }
    }
}

impl<B: Body> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Cached(_) => "cached",
            Kind::Upstream(_) => "upstream",
            Kind::Shared(_) => "shared",
            Kind::Stored(_) => "stored",
            Kind::Following(_) => "following",
        };
        f.debug_struct("CacheBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}
