//! [`ReqwestService`]: a `reqwest::Client` as a `Service<http::Request<B>>`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use tower::Service;
use tower_http::follow_redirect::RequestUri;

/// A [`reqwest::Client`] as a tower `Service<http::Request<B>>`, so that it
/// can sit under a [`CacheLayer`](reqcache::CacheLayer) (or any other tower
/// middleware: timeouts, retries, rate limits).
///
/// Requests are converted with reqwest's own `TryFrom<http::Request<B>>`
/// (any body that is `Into<reqwest::Body>`); responses are
/// `http::Response<reqwest::Body>`. When reqwest followed redirects, the
/// response carries the final URI as tower-http's
/// [`RequestUri`] extension, which the cache uses to store the response under
/// the final URL with an alias for the first one (requests-cache's redirect
/// aliases).
///
/// Headers reqwest adds by itself when sending (its client's
/// `default_headers`, cookies from its cookie store) are not seen by the
/// cache and so are not part of the key: set credentials on the requests.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
/// use reqcache_reqwest::ReqwestService;
/// use tower::ServiceBuilder;
///
/// let client = ServiceBuilder::new()
///     .layer(CacheLayer::new(MemoryStorage::new()))
///     .service(ReqwestService::new(reqwest::Client::new()));
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReqwestService {
    client: reqwest::Client,
}

impl ReqwestService {
    /// The service over `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl From<reqwest::Client> for ReqwestService {
    fn from(client: reqwest::Client) -> Self {
        Self::new(client)
    }
}

/// The response future of [`ReqwestService`].
pub struct ReqwestFuture {
    inner:
        Pin<Box<dyn Future<Output = Result<http::Response<reqwest::Body>, reqwest::Error>> + Send>>,
}

impl Future for ReqwestFuture {
    type Output = Result<http::Response<reqwest::Body>, reqwest::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ReqwestFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestFuture").finish_non_exhaustive()
    }
}

impl<B> Service<http::Request<B>> for ReqwestService
where
    B: Into<reqwest::Body>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), reqwest::Error>> {
        // A reqwest client is always ready: it queues on its own pool.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> ReqwestFuture {
        let request = reqwest::Request::try_from(request);
        let client = self.client.clone();
        ReqwestFuture {
            inner: Box::pin(async move {
                let response = client.execute(request?).await?;
                Ok(into_http_response(response))
            }),
        }
    }
}

/// An `http::Response` from a reqwest one, with the final URL kept as a
/// [`RequestUri`] extension.
pub(crate) fn into_http_response(response: reqwest::Response) -> http::Response<reqwest::Body> {
    let final_uri = response.url().as_str().parse::<Uri>().ok();
    let mut response = http::Response::from(response);
    if let Some(uri) = final_uri {
        response.extensions_mut().insert(RequestUri(uri));
    }
    response
}
