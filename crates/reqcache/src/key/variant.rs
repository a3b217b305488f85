//! The key of one variant of a `Vary`ing response.

use http::{HeaderMap, HeaderName};

use super::cache_key::CacheKey;
use super::normalize::Normalizer;
use crate::policy::vary::{VaryHeader, normalized_value};

/// The key of the variant of `primary` that `headers` select for a response
/// varying on `names`; `None` when it varies on a header whose value is
/// never stored (the variant could not be told apart safely).
pub(crate) fn variant_key(
    normalizer: &Normalizer,
    primary: &CacheKey,
    names: &[HeaderName],
    headers: &HeaderMap,
) -> Option<CacheKey> {
    let mut material = Vec::with_capacity(64);
    material.extend_from_slice(b"variant\0");
    material.extend_from_slice(primary.as_bytes());
    for name in names {
        match normalizer.classify_vary(name) {
            VaryHeader::Redacted => return None,
            VaryHeader::InKey => {}
            VaryHeader::Compare => {
                material.push(0);
                material.extend_from_slice(name.as_str().as_bytes());
                material.push(0);
                material.extend_from_slice(&normalized_value(headers, name));
            }
        }
    }
    Some(CacheKey::from_hash(&blake3::hash(&material)))
}
