//! [`CacheKey`]: the key a stored response is found under.

use std::fmt;
use std::sync::Arc;

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
    /// let key = reqcache::key::CacheKey::custom("tenant-7:/users");
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
