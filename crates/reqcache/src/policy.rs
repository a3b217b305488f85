//! HTTP caching decisions: Cache-Control parsing, freshness from response
//! headers, conditional requests, `304` header merging and `Vary` checks.
//!
//! Everything here is lenient: unknown or malformed directives, values and
//! dates are ignored, never an error.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The Cache-Control directives reqcache acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) max_age: Option<u64>,
    pub(crate) no_cache: bool,
    pub(crate) no_store: bool,
}

/// Delta-seconds above this are treated as this (RFC 9111 section 1.2.2).
const MAX_DELTA_SECONDS: u64 = 2_147_483_648;

impl CacheControl {
    /// Parses every `Cache-Control` field in `headers`.
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            // A field with non-visible bytes is not understood: skip it.
            let Ok(text) = value.to_str() else { continue };
            for (name, argument) in directives(text) {
                if name.eq_ignore_ascii_case("max-age") {
                    if let Some(secs) = argument.and_then(parse_delta_seconds) {
                        // Conflicting duplicates: the most conservative wins.
                        cc.max_age = Some(cc.max_age.map_or(secs, |old| old.min(secs)));
                    }
                } else if name.eq_ignore_ascii_case("no-cache") {
                    cc.no_cache = true;
                } else if name.eq_ignore_ascii_case("no-store") {
                    cc.no_store = true;
                }
            }
        }
        cc
    }
}

/// Splits a Cache-Control value into `(name, argument)` pairs, honouring
/// quoted strings (which may hold commas) and odd spacing.
fn directives(text: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return None;
            }
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if in_quotes => escaped = true,
                    '"' => in_quotes = !in_quotes,
                    ',' if !in_quotes => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let item = &rest[..end];
            rest = &rest[end..];
            let (name, argument) = match item.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim())),
                None => (item.trim(), None),
            };
            if !name.is_empty() {
                return Some((name, argument));
            }
        }
    })
}

fn parse_delta_seconds(argument: &str) -> Option<u64> {
    let digits = argument
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(argument);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only overflow can fail, and overflow means "very large".
    Some(
        digits
            .parse::<u64>()
            .unwrap_or(u64::MAX)
            .min(MAX_DELTA_SECONDS),
    )
}

/// What a response's own headers say about its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderExpiry {
    /// `Cache-Control: no-store`.
    NoStore,
    /// Fresh until this moment (at or before "now" means: stale at once).
    At(SystemTime),
}

/// The lifetime a response's headers give it, if they say anything:
/// `no-store`, then `max-age`, then `no-cache`, then `Expires`.
pub(crate) fn response_expiry(headers: &HeaderMap, now: SystemTime) -> Option<HeaderExpiry> {
    let cc = CacheControl::parse(headers);
    if cc.no_store {
        return Some(HeaderExpiry::NoStore);
    }
    if let Some(max_age) = cc.max_age {
        return Some(HeaderExpiry::At(
            now.checked_add(Duration::from_secs(max_age)).unwrap_or(now),
        ));
    }
    if cc.no_cache {
        return Some(HeaderExpiry::At(now));
    }
    let expires = headers.get(header::EXPIRES)?.to_str().ok()?;
    httpdate::parse_http_date(expires.trim())
        .ok()
        .map(HeaderExpiry::At)
}

/// `true` when response headers carry a validator for conditional requests.
pub(crate) fn has_validators(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED)
}

/// Adds `If-None-Match` / `If-Modified-Since` from a stored response, unless
/// the client sent conditional headers of its own. Returns whether it added any.
pub(crate) fn add_validators(request: &mut HeaderMap, stored: &HeaderMap) -> bool {
    if request.contains_key(header::IF_NONE_MATCH)
        || request.contains_key(header::IF_MODIFIED_SINCE)
    {
        return false;
    }
    let mut added = false;
    if let Some(etag) = stored.get(header::ETAG) {
        request.insert(header::IF_NONE_MATCH, etag.clone());
        added = true;
    }
    if let Some(last_modified) = stored.get(header::LAST_MODIFIED) {
        request.insert(header::IF_MODIFIED_SINCE, last_modified.clone());
        added = true;
    }
    added
}

/// Headers a `304` must not overwrite in the stored response.
fn keep_on_not_modified(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length"
            | "content-encoding"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-connection"
    )
}

/// The stored headers updated with those of a `304` (RFC 9111 section 3.2):
/// every field the `304` carries replaces the stored field of that name.
pub(crate) fn merge_not_modified(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    for name in not_modified.keys() {
        if keep_on_not_modified(name) {
            continue;
        }
        merged.remove(name);
        for value in not_modified.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

/// How the key treats a request header that a stored response `Vary`s on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VaryHeader {
    /// Compare the stored request's value with this request's.
    Compare,
    /// The key already tells requests with different values apart.
    InKey,
    /// The value was redacted from storage: it cannot be compared, so the
    /// stored response is not used (never a cross-user hit).
    Redacted,
}

/// `true` when a stored response may answer a request with `request` headers,
/// as far as its `Vary` field is concerned. `Vary: *` never matches.
pub(crate) fn vary_matches(
    stored_response: &HeaderMap,
    stored_request: &HeaderMap,
    request: &HeaderMap,
    classify: impl Fn(&HeaderName) -> VaryHeader,
) -> bool {
    for value in stored_response.get_all(header::VARY) {
        let Ok(text) = value.to_str() else {
            return false;
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return false;
            }
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                return false;
            };
            match classify(&name) {
                VaryHeader::InKey => {}
                VaryHeader::Redacted => return false,
                VaryHeader::Compare => {
                    let stored: Vec<&HeaderValue> = stored_request.get_all(&name).iter().collect();
                    let current: Vec<&HeaderValue> = request.get_all(&name).iter().collect();
                    if stored != current {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn parses_leniently() {
        let cc = CacheControl::parse(&headers(&[(
            "cache-control",
            "  Max-Age=\"60\" ,, foo=\"a,b\", NO-STORE, private=\"x, y\"",
        )]));
        assert_eq!(cc.max_age, Some(60));
        assert!(cc.no_store);
        assert!(!cc.no_cache);
    }

    #[test]
    fn malformed_values_are_ignored_and_duplicates_take_the_minimum() {
        let cc = CacheControl::parse(&headers(&[
            ("cache-control", "max-age=abc, max-age=-1, max-age="),
            ("cache-control", "max-age=100, max-age=30"),
        ]));
        assert_eq!(cc.max_age, Some(30));
        let huge = CacheControl::parse(&headers(&[(
            "cache-control",
            "max-age=99999999999999999999999",
        )]));
        assert_eq!(huge.max_age, Some(MAX_DELTA_SECONDS));
        let mut raw = HeaderMap::new();
        raw.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_bytes(b"max-age=5\xff").unwrap(),
        );
        assert_eq!(CacheControl::parse(&raw), CacheControl::default());
    }

    #[test]
    fn response_expiry_precedence() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let h = headers(&[
            ("cache-control", "max-age=10"),
            ("expires", "Thu, 01 Jan 2037 00:00:00 GMT"),
        ]);
        assert_eq!(
            response_expiry(&h, now),
            Some(HeaderExpiry::At(now + Duration::from_secs(10)))
        );
        let h = headers(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]);
        assert_eq!(
            response_expiry(&h, now),
            Some(HeaderExpiry::At(SystemTime::UNIX_EPOCH))
        );
        let h = headers(&[("expires", "not a date")]);
        assert_eq!(response_expiry(&h, now), None);
        let h = headers(&[("cache-control", "max-age=10, no-store")]);
        assert_eq!(response_expiry(&h, now), Some(HeaderExpiry::NoStore));
        let h = headers(&[("cache-control", "no-cache")]);
        assert_eq!(response_expiry(&h, now), Some(HeaderExpiry::At(now)));
    }

    #[test]
    fn merge_replaces_fields_but_keeps_length() {
        let stored = headers(&[("etag", "\"a\""), ("content-length", "5"), ("x-old", "1")]);
        let fresh = headers(&[("etag", "\"b\""), ("content-length", "0"), ("x-new", "2")]);
        let merged = merge_not_modified(&stored, &fresh);
        assert_eq!(merged["etag"], "\"b\"");
        assert_eq!(merged["content-length"], "5");
        assert_eq!(merged["x-old"], "1");
        assert_eq!(merged["x-new"], "2");
    }

    #[test]
    fn vary_star_and_redacted_never_match() {
        let compare = |_: &HeaderName| VaryHeader::Compare;
        let req = headers(&[("accept", "text/html")]);
        assert!(!vary_matches(
            &headers(&[("vary", "*")]),
            &req,
            &req,
            compare
        ));
        assert!(vary_matches(
            &headers(&[("vary", "Accept")]),
            &req,
            &req,
            compare
        ));
        let other = headers(&[("accept", "application/json")]);
        assert!(!vary_matches(
            &headers(&[("vary", "accept")]),
            &req,
            &other,
            compare
        ));
        assert!(!vary_matches(
            &headers(&[("vary", "accept")]),
            &req,
            &req,
            |_| VaryHeader::Redacted
        ));
    }
}
