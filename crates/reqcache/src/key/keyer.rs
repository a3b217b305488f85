//! [`Keyer`]: the key of a request, from the custom key function when one
//! is set, else the default key: the request's parts laid out as key
//! material, each field length-prefixed, and hashed with BLAKE3.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::cache_key::CacheKey;
use super::normalize::{Normalizer, Use};
use super::parts::{KeyFn, KeyParts};
use super::url::{QueryPairs, Target};
use crate::policy::vary::normalized_value;

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

/// Bumped whenever the key layout changes, so old entries become misses.
const KEY_FORMAT: &[u8] = b"rqk2";

impl Normalizer {
    /// The default key.
    ///
    /// The key material is laid out in one buffer, each field length-prefixed,
    /// and hashed in one call: for inputs this small that is several times
    /// faster than feeding an incremental hasher. The buffer is the thread's
    /// own, reused, and the query's pairs are on the stack: the usual key
    /// allocates nothing.
    pub(crate) fn default_key(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> CacheKey {
        with_key_material(|m| {
            m.extend_from_slice(KEY_FORMAT);
            field(m, method.as_str().as_bytes());
            let target = Target::of(uri, headers);
            field_lower(m, target.scheme.as_bytes());
            field_lower(m, target.host.as_bytes());
            m.extend_from_slice(&target.port.to_le_bytes());
            field(m, target.path.as_bytes());
            // An empty query (`/p?`), or one of only ignored parameters, is no
            // query: one entry either way.
            // (Filled in place: the inline pairs are too big to move around.)
            let mut pairs = QueryPairs::new();
            if let Some(query) = uri.query() {
                self.collect_pairs(query, Use::Key, &mut false, &mut pairs);
            }
            if pairs.is_empty() {
                m.extend_from_slice(&u32::MAX.to_le_bytes());
            } else {
                m.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
                for (name, value) in &pairs {
                    field(m, name.as_bytes());
                    field(m, value.as_bytes());
                }
            }
            field(m, &self.key_body(headers, body));
            // Matched headers by value as lists: `gzip,  deflate` and
            // `deflate, GZIP` are one value.
            let matched = self.matched_headers(headers);
            for (i, (name, _)) in matched.iter().enumerate() {
                if i > 0 && matched[i - 1].0 == *name {
                    continue;
                }
                field(m, name.as_str().as_bytes());
                field(m, &normalized_value(headers, name));
            }
            m.push(0xff);
            if self.credentials_in_key {
                // One pass over the (few) headers beats hashing every redacted
                // name; sorted by name so that header order does not matter.
                let mut credentials: Vec<(&HeaderName, &HeaderValue)> = headers
                    .iter()
                    .filter(|(name, _)| self.is_redacted_header(name))
                    .collect();
                credentials.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                for (name, value) in credentials {
                    field(m, name.as_str().as_bytes());
                    field(m, value.as_bytes());
                }
            }
            CacheKey::from_hash(&blake3::hash(m))
        })
    }
}

/// The key's material, laid out before it is hashed.
type KeyMaterial = Vec<u8>;

/// Runs `f` on an empty key-material buffer: the calling thread's, kept
/// between keys so that the usual key allocates nothing.
fn with_key_material<R>(f: impl FnOnce(&mut KeyMaterial) -> R) -> R {
    use std::cell::Cell;
    thread_local! {
        static BUFFER: Cell<KeyMaterial> = const { Cell::new(Vec::new()) };
    }
    let mut m = BUFFER.try_with(Cell::take).unwrap_or_default();
    m.clear();
    let out = f(&mut m);
    // A buffer grown by a large body is not kept.
    if m.capacity() <= 4096 {
        let _ = BUFFER.try_with(|buffer| buffer.set(m));
    }
    out
}

/// Appends a length-prefixed field, so that field boundaries are unambiguous.
/// Lengths are 32-bit: a field over 4 GiB cannot reach here (bodies are
/// buffered in memory first), and a shorter prefix means fewer blocks to hash.
fn field(m: &mut KeyMaterial, bytes: &[u8]) {
    m.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    m.extend_from_slice(bytes);
}

/// Like [`field`], ASCII-lower-cased.
fn field_lower(m: &mut KeyMaterial, bytes: &[u8]) {
    field(m, bytes);
    let start = m.len() - bytes.len();
    m[start..].make_ascii_lowercase();
}
