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
#[allow(dead_code)] // the storage benches (sweep) have no upstream
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

/// The process's CPU time so far, user and system (Linux: `/proc/self/stat`,
/// 100 clock ticks a second; zero elsewhere).
#[allow(dead_code)] // not every bench measures CPU
pub(crate) fn process_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')';
    // utime and stime are the 12th and 13th of them.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    std::time::Duration::from_millis(ticks * 10)
}
