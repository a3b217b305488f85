//! [`CacheMiddleware`]: the cache as a reqwest-middleware middleware.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Extensions;
use reqcache::{CacheHandle, CacheLayer, RequestOptions};
use reqwest_middleware::{Middleware, Next};
use tokio::sync::{mpsc, oneshot};
use tower::Service;

use crate::adapter::into_http_response;
use crate::choice::CacheChoice;
use crate::response::into_reqwest_response;

/// The cache as a [`reqwest_middleware`] middleware, for clients built with
/// `reqwest_middleware::ClientBuilder` (feature `middleware`).
///
/// Requests that reach upstream go on through the rest of the middleware
/// chain (retries, tracing, auth) after the cache. Per-request settings: a
/// [`RequestOptions`] given with `RequestBuilder::with_extension`. The response's
/// [`CacheStatusExt`](crate::CacheStatusExt) says what the cache did.
///
/// Order matters for credentials: the cache keys the request as it reaches
/// it, so a middleware that adds credentials (an auth token, a tenant
/// header) must come **before** the cache in the chain; after it, its
/// headers are not part of the key, and responses could cross credentials.
///
/// One difference from [`CachedClient`](crate::CachedClient): the rest of the
/// chain can only be called while `handle` runs, so a
/// `stale-while-revalidate` answer is not refreshed in the background; the
/// entry is revalidated by the first request after its window.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
/// use reqcache_reqwest::CacheMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(CacheMiddleware::new(CacheLayer::builder(MemoryStorage::new()).expire_after(60)))
///     .build();
/// # let _ = client;
/// ```
#[derive(Debug, Clone)]
pub struct CacheMiddleware {
    cache: CacheChoice,
}

impl CacheMiddleware {
    /// The middleware with `layer`'s cache.
    pub fn new(layer: impl Into<CacheLayer>) -> Self {
        Self {
            cache: CacheChoice::Own(layer.into()),
        }
    }

    /// The middleware with the [`current`](reqcache::global::current) cache
    /// at each request (installed, scoped, or none).
    ///
    /// # Example
    /// ```
    /// let middleware = reqcache_reqwest::CacheMiddleware::installed();
    /// assert!(middleware.cache().is_none());
    /// ```
    pub fn installed() -> Self {
        Self {
            cache: CacheChoice::Installed,
        }
    }

    /// The handle of the cache a request made here and now would use.
    pub fn cache(&self) -> Option<CacheHandle> {
        self.cache.cache()
    }
}

#[async_trait::async_trait]
impl Middleware for CacheMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = request.url().clone();
        let mut request = http::Request::<reqwest::Body>::try_from(request)?;
        if let Some(options) = extensions.get::<RequestOptions>() {
            request.extensions_mut().insert(*options);
        }
        // The cache calls upstream through a channel served here, by the rest
        // of the chain, which only lives as long as this call.
        let (sender, mut requests) = mpsc::unbounded_channel();
        let answer = self.cache.call(NextService { sender }, request);
        tokio::pin!(answer);
        let response = loop {
            tokio::select! {
                biased;
                response = &mut answer => break response?,
                Some(Upstream { request, reply }) = requests.recv() => {
                    let response = next.clone().run(request, extensions).await;
                    // The cache may have given up waiting; nothing to do then.
                    let _ = reply.send(response);
                }
            }
        };
        Ok(into_reqwest_response(response, &url))
    }
}

/// One request for the rest of the chain.
struct Upstream {
    request: reqwest::Request,
    reply: oneshot::Sender<reqwest_middleware::Result<reqwest::Response>>,
}

/// The inner service of the cache inside a middleware: it hands requests to
/// the `handle` call that serves them with `Next`.
#[derive(Clone)]
struct NextService {
    sender: mpsc::UnboundedSender<Upstream>,
}

/// A request made after the middleware call that could serve it returned
/// (a background refresh).
#[derive(Debug)]
struct ChainGone;

impl fmt::Display for ChainGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reqcache: the middleware call that could reach upstream has returned")
    }
}

impl std::error::Error for ChainGone {}

type NextFuture =
    Pin<Box<dyn Future<Output = reqwest_middleware::Result<http::Response<reqwest::Body>>> + Send>>;

impl Service<http::Request<reqwest::Body>> for NextService {
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest_middleware::Error;
    type Future = NextFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<reqwest::Body>) -> NextFuture {
        let sender = self.sender.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let (reply, response) = oneshot::channel();
            sender
                .send(Upstream { request, reply })
                .map_err(|_| reqwest_middleware::Error::middleware(ChainGone))?;
            let response = response
                .await
                .map_err(|_| reqwest_middleware::Error::middleware(ChainGone))??;
            Ok(into_http_response(response))
        })
    }
}
