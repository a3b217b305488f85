//! Reading the cache's status from a response, and turning the layer's
//! responses into reqwest ones.

use http_body::Body;
use reqcache::{CacheBody, CacheStatus};
use reqwest::ResponseBuilderExt;
use tower_http::follow_redirect::RequestUri;

/// The cache's [`CacheStatus`] of a response: what the cache did for it.
///
/// Implemented for `reqwest::Response` (from a
/// [`CachedClient`](crate::CachedClient) or the
/// `CacheMiddleware`) and for `http::Response`.
///
/// # Example
/// ```
/// use reqcache_reqwest::CacheStatusExt;
///
/// let response = reqwest::Response::from(http::Response::new(""));
/// assert!(response.cache_status().is_none());
/// assert!(!response.from_cache());
/// ```
pub trait CacheStatusExt {
    /// The status, when the response passed through a cache.
    fn cache_status(&self) -> Option<&CacheStatus>;

    /// `true` when the body came from the cache (requests-cache's
    /// `response.from_cache()`).
    // The name is requests-cache's; it reads as a question, not a conversion.
    #[allow(clippy::wrong_self_convention)]
    fn from_cache(&self) -> bool {
        self.cache_status()
            .is_some_and(|status| status.from_cache())
    }

    /// `true` when the response served is past its expiry (requests-cache's
    /// `response.is_expired()`).
    fn is_expired(&self) -> bool {
        self.cache_status()
            .is_some_and(|status| status.is_expired())
    }
}

impl CacheStatusExt for reqwest::Response {
    fn cache_status(&self) -> Option<&CacheStatus> {
        self.extensions().get()
    }
}

impl<B> CacheStatusExt for http::Response<B> {
    fn cache_status(&self) -> Option<&CacheStatus> {
        self.extensions().get()
    }
}

/// A reqwest response from the layer's: bytes from the cache become a
/// reusable body, an upstream body streams on; `url()` is the final URL
/// (after redirects) for responses from upstream and the request's URL for
/// responses from the cache.
pub(crate) fn into_reqwest_response<B>(
    response: http::Response<CacheBody<B>>,
    request_url: &reqwest::Url,
) -> reqwest::Response
where
    B: Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + Sync,
{
    let (mut parts, body) = response.into_parts();
    let url = parts
        .extensions
        .get::<RequestUri>()
        .and_then(|uri| reqwest::Url::parse(&uri.0.to_string()).ok())
        .unwrap_or_else(|| request_url.clone());
    // reqwest keeps a response's URL in a private extension; its
    // `ResponseBuilderExt::url` is the public way to set it.
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    let body = match body.into_cached_bytes() {
        Ok(bytes) => reqwest::Body::from(bytes),
        Err(streaming) => reqwest::Body::wrap(streaming),
    };
    reqwest::Response::from(http::Response::from_parts(parts, body))
}
