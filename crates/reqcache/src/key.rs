//! Cache keys: [`CacheKey`], and [`KeyParts`] for custom key functions.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::normalize::KeySettings;

/// A cache key.
///
/// The default key is 32 lower-case hex characters: 128 bits of a BLAKE3 hash
/// of the normalized request, held inline (no allocation). A custom key
/// function ([`CacheLayerBuilder::key_fn`](crate::CacheLayerBuilder::key_fn))
/// makes keys of any text.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
///
/// let layer = CacheLayer::new(MemoryStorage::new());
/// let a = http::Request::get("https://Example.com:443/p?b=2&a=1#frag").body(&b""[..]).unwrap();
/// let b = http::Request::get("https://example.com/p?a=1&b=2").body(&b""[..]).unwrap();
/// assert_eq!(layer.cache().key_for(&a), layer.cache().key_for(&b));
/// assert_eq!(layer.cache().key_for(&a).as_str().len(), 32);
/// ```
#[derive(Clone)]
pub struct CacheKey(Repr);

#[derive(Clone)]
enum Repr {
    Hash([u8; 32]),
    Custom(Arc<str>),
}

impl CacheKey {
    pub(crate) fn from_hash(hash: &blake3::Hash) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, byte) in hash.as_bytes()[..16].iter().enumerate() {
            out[2 * i] = HEX[(byte >> 4) as usize];
            out[2 * i + 1] = HEX[(byte & 0xf) as usize];
        }
        Self(Repr::Hash(out))
    }

    /// A key of the given text, as a custom key function makes.
    ///
    /// ```
    /// let key = reqcache::CacheKey::custom("tenant-7:/users");
    /// assert_eq!(key.as_str(), "tenant-7:/users");
    /// ```
    pub fn custom(key: impl Into<Arc<str>>) -> Self {
        Self(Repr::Custom(key.into()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ASCII hex digits are ever written into the array.
            Repr::Hash(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            Repr::Custom(text) => text,
        }
    }
}

// Keys compare as text, whichever way they were made.
impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for CacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CacheKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&str> for CacheKey {
    fn from(key: &str) -> Self {
        Self::custom(key)
    }
}

impl std::ops::Deref for CacheKey {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.as_str())
    }
}

/// A custom key function: replaces the default key builder, and may call it.
pub(crate) type KeyFn = dyn Fn(&KeyParts<'_>) -> String + Send + Sync;

/// What a custom key function sees: the request, and the default key's
/// pieces, each computed only when asked for.
///
/// # Example: a key per tenant, wrapping the default
/// ```
/// use reqcache::{CacheLayer, KeyParts, MemoryStorage};
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
    pub(crate) settings: &'a KeySettings,
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
        self.settings.normalized_url(self.uri)
    }

    /// The body as the default key hashes it: JSON canonicalized and forms
    /// sorted, ignored parameters removed.
    pub fn normalized_body(&self) -> Cow<'_, [u8]> {
        self.settings.key_body(self.headers, self.body)
    }

    /// The headers named by `match_headers`, as the default key uses them.
    pub fn matched_headers(&self) -> Vec<(&HeaderName, &HeaderValue)> {
        self.settings.matched_headers(self.headers)
    }

    /// The default key of this request.
    pub fn default_key(&self) -> CacheKey {
        self.settings
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
