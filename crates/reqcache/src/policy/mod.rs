//! Every caching decision, pure: no async, no storage, no clock reads (time
//! is an argument), each decision in one place.
//!
//! | file | decides |
//! |---|---|
//! | `request` | whether a request uses the cache at all (skip reasons, method overrides, credentials) |
//! | `freshness` | a response's initial age and lifetime, and the read-time verdict on a stored one |
//! | `storable` | whether a response is stored, and its created / expires / retain-until times |
//! | `range` | the bytes a `Range` selects of a stored response |
//! | `validation` | conditional requests, `304` matching and merging |
//! | `status_codes` | which statuses are understood, heuristically cacheable, storable |
//! | `http_date` | the three HTTP date formats |
//! | `vary` | `Vary` names and matching |
//! | `cache_control`, `targeted` | `Cache-Control` and `CDN-Cache-Control` (RFC 9213) parsing |
//! | `cache_groups` | a response's cache groups and the groups an unsafe request invalidates (RFC 9875) |
//! | `rules` | the settings every decision reads |
//! | `mode`, `filter` | the cache's kind, heuristics, and the user's store filter |
//! | `expiration` | requests-cache's expiration values and URL patterns |
//!
//! The engine asks; nothing here awaits, reads storage or reads the clock.

pub(crate) mod cache_control;
pub(crate) mod cache_groups;
pub(crate) mod expiration;
pub(crate) mod filter;
pub(crate) mod freshness;
pub(crate) mod http_date;
pub(crate) mod mode;
pub(crate) mod range;
pub(crate) mod request;
mod rules;
pub(crate) mod status_codes;
pub(crate) mod storable;
mod targeted;
pub(crate) mod validation;
pub(crate) mod vary;

pub(crate) use rules::Rules;

/// Header maps for the tests of this module's files.
#[cfg(test)]
mod test_headers {
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// A header map of `(name, value)` pairs, repeated names appended.
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }
}
