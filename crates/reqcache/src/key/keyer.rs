//! [`Keyer`]: the key of a request, from the custom key function when one
//! is set, else from the [`Normalizer`]'s default key.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Method, Uri};

use super::cache_key::CacheKey;
use super::normalize::Normalizer;
use super::parts::{KeyFn, KeyParts};

/// Keying and redaction settings, fixed when the layer is built.
#[derive(Clone, Default)]
pub(crate) struct Keyer {
    /// Normalization and redaction: what the default key hashes and what
    /// is stored.
    pub(crate) normalize: Normalizer,
    /// The user's key function, replacing the default key.
    pub(crate) key_fn: Option<Arc<KeyFn>>,
}

impl Keyer {
    /// The key of a request: the custom key function's, or the default.
    pub(crate) fn key(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> CacheKey {
        match &self.key_fn {
            Some(key_fn) => CacheKey::custom(key_fn(&KeyParts {
                normalizer: &self.normalize,
                method,
                uri,
                headers,
                body,
            })),
            None => self.normalize.default_key(method, uri, headers, body),
        }
    }
}

impl fmt::Debug for Keyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyer")
            .field("normalize", &self.normalize)
            .field("key_fn", &self.key_fn.as_ref().map(|_| "custom"))
            .finish()
    }
}
