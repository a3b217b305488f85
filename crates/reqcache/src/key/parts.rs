//! [`KeyParts`]: what a custom key function sees.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::cache_key::CacheKey;
use super::normalize::Normalizer;

/// A custom key function: replaces the default key builder, and may call it.
pub(crate) type KeyFn = dyn Fn(&KeyParts<'_>) -> String + Send + Sync;

/// What a custom key function sees: the request, and the default key's
/// pieces, each computed only when asked for.
///
/// # Example: a key per tenant, wrapping the default
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
/// use reqcache::key::KeyParts;
///
/// let layer = CacheLayer::builder(MemoryStorage::new())
///     .key_fn(|parts: &KeyParts<'_>| {
///         let tenant = parts
///             .headers()
///             .get("x-tenant")
///             .and_then(|v| v.to_str().ok())
///             .unwrap_or("none");
///         format!("{tenant}:{}", parts.default_key())
///     })
///     .build();
/// let request = http::Request::get("https://example.com/")
///     .header("x-tenant", "acme")
///     .body(&b""[..])
///     .unwrap();
/// assert!(layer.cache().key_for(&request).starts_with("acme:"));
/// ```
pub struct KeyParts<'a> {
    pub(crate) normalizer: &'a Normalizer,
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

impl KeyParts<'_> {
    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request URI, as sent.
    pub fn uri(&self) -> &Uri {
        self.uri
    }

    /// The request headers, as sent.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The request body, as sent.
    pub fn body(&self) -> &[u8] {
        self.body
    }

    /// The normalized URL, as stored: lower-case scheme and host, default port
    /// dropped, query sorted, ignored and redacted parameters removed.
    pub fn normalized_url(&self) -> String {
        self.normalizer.normalized_url(self.uri)
    }

    /// The body as the default key hashes it: JSON canonicalized and forms
    /// sorted, ignored parameters removed.
    pub fn normalized_body(&self) -> Cow<'_, [u8]> {
        self.normalizer.key_body(self.headers, self.body)
    }

    /// The headers named by `match_headers`, as the default key uses them.
    pub fn matched_headers(&self) -> Vec<(&HeaderName, &HeaderValue)> {
        self.normalizer.matched_headers(self.headers)
    }

    /// The default key of this request.
    pub fn default_key(&self) -> CacheKey {
        self.normalizer
            .default_key(self.method, self.uri, self.headers, self.body)
    }
}

impl fmt::Debug for KeyParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyParts")
            .field("method", self.method)
            .field("uri", self.uri)
            .finish_non_exhaustive()
    }
}
