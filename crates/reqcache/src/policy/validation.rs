//! Validation: conditional requests to upstream, `304` matching and header
//! merging (RFC 9111 section 4.3), and a client's own conditional requests
//! answered from a stored response.
//!
//! Everything here is lenient: malformed values and dates are ignored,
//! never an error.

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::http_date;

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

/// An entity tag: `(weak, opaque-tag)`, from `W/"x"` or `"x"`.
fn entity_tag(text: &str) -> Option<(bool, &str)> {
    let text = text.trim();
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    (tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')).then_some((weak, tag))
}

/// Weak comparison (RFC 9110 section 8.8.3.2): the opaque tags are equal,
/// weak or not.
pub(crate) fn etag_weak_eq(a: &str, b: &str) -> bool {
    matches!((entity_tag(a), entity_tag(b)), (Some((_, x)), Some((_, y))) if x == y)
}

/// Strong comparison: both strong, and equal.
pub(crate) fn etag_strong_eq(a: &str, b: &str) -> bool {
    matches!((entity_tag(a), entity_tag(b)), (Some((false, x)), Some((false, y))) if x == y)
}

/// Whether a `304` describes the stored response (RFC 9111 section 4.3.4):
/// a strong ETag in the `304` must equal the stored one strongly, a weak one
/// weakly; without an ETag, a `Last-Modified` in the `304` must equal the
/// stored one; with neither, it does.
pub(crate) fn not_modified_matches(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let text = |map: &HeaderMap, name| {
        map.get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(new) = text(not_modified, header::ETAG) {
        let Some(old) = text(stored, header::ETAG) else {
            return false;
        };
        return match entity_tag(&new) {
            Some((false, _)) => etag_strong_eq(&new, &old),
            Some((true, _)) => etag_weak_eq(&new, &old),
            None => false,
        };
    }
    match text(not_modified, header::LAST_MODIFIED) {
        Some(new) => {
            text(stored, header::LAST_MODIFIED).is_some_and(|old| old.trim() == new.trim())
        }
        None => true,
    }
}

/// What an upstream answer means for the stored response it was asked
/// about: see [`judge_not_modified`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotModified {
    /// A `304` that describes the stored response: refreshed with the
    /// `304`'s fields, it answers the request.
    Refreshes,
    /// A `304` to the cache's validators that describes another
    /// representation: drop the stored one and ask again, unconditionally.
    AskAgain,
    /// Not a `304` about the stored response: the answer stands as it is
    /// (a client's own conditional request gets its `304`).
    No,
}

/// What an upstream answer with `status` and `headers` means for the stored
/// response whose fields are `stored` (RFC 9111 section 4.3.3-4.3.4).
/// `sent_validators`: the cache added the stored validators to the request;
/// `client_conditional`: the client's request was conditional itself.
///
/// A `304` to the cache's validators refreshes the stored response when it
/// matches it ([`not_modified_matches`]), else the request goes again
/// without them. A matching `304` to a request that had no validators at
/// all (the stored response has none, and the client sent none) refreshes
/// it too: the client did not ask for a `304`.
pub(crate) fn judge_not_modified(
    status: StatusCode,
    sent_validators: bool,
    client_conditional: bool,
    stored: &HeaderMap,
    headers: &HeaderMap,
) -> NotModified {
    if status != StatusCode::NOT_MODIFIED {
        return NotModified::No;
    }
    match (sent_validators, not_modified_matches(stored, headers)) {
        (true, true) => NotModified::Refreshes,
        (true, false) => NotModified::AskAgain,
        (false, true) if !client_conditional => NotModified::Refreshes,
        (false, _) => NotModified::No,
    }
}

/// Whether a client's own conditional request is satisfied by a stored
/// response, so the cache may answer `304 Not Modified` (RFC 9110 section
/// 13.2.2): `If-None-Match` by weak comparison (`*` matches anything), else
/// `If-Modified-Since` against `Last-Modified` or, without one, the stored
/// `Date` or else `generated`, when it was made (RFC 9111 section 4.3.2).
/// `None`: no conditional. `now` places two-digit years in dates.
pub(crate) fn client_conditional_matches(
    request: &HeaderMap,
    stored: &HeaderMap,
    generated: SystemTime,
    now: SystemTime,
) -> Option<bool> {
    let inm: Vec<&str> = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !inm.is_empty() {
        let etag = stored.get(header::ETAG).and_then(|v| v.to_str().ok());
        return Some(inm.iter().flat_map(|v| v.split(',')).any(|candidate| {
            candidate.trim() == "*" || etag.is_some_and(|etag| etag_weak_eq(candidate, etag))
        }));
    }
    let since = http_date::field(request, &header::IF_MODIFIED_SINCE, now)?;
    let modified = if stored.contains_key(header::LAST_MODIFIED) {
        http_date::field(stored, &header::LAST_MODIFIED, now)
    } else {
        Some(http_date::field(stored, &header::DATE, now).unwrap_or(generated))
    };
    Some(modified.is_some_and(|modified| modified <= since))
}

/// Headers a `304` answered from the cache carries (RFC 9110 section 15.4.5).
pub(crate) const NOT_MODIFIED_HEADERS: [HeaderName; 6] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_headers::headers;

    #[test]
    fn a_304_refreshes_asks_again_or_stands_as_rfc_9111_says() {
        use NotModified::{AskAgain, No, Refreshes};
        let stored = headers(&[("etag", "\"a\"")]);
        let same = headers(&[("etag", "\"a\"")]);
        let other = headers(&[("etag", "\"b\"")]);
        let none = HeaderMap::new();
        let judge = |status, sent, client, answer: &HeaderMap| {
            judge_not_modified(status, sent, client, &stored, answer)
        };
        let not_modified = StatusCode::NOT_MODIFIED;
        // To the cache's validators.
        assert_eq!(judge(not_modified, true, false, &same), Refreshes);
        assert_eq!(judge(not_modified, true, true, &same), Refreshes);
        assert_eq!(judge(not_modified, true, false, &other), AskAgain);
        assert_eq!(judge(not_modified, true, false, &none), Refreshes);
        // No validators sent by the cache: the client's own 304 stands.
        assert_eq!(judge(not_modified, false, true, &same), No);
        assert_eq!(judge(not_modified, false, false, &same), Refreshes);
        assert_eq!(judge(not_modified, false, false, &other), No);
        // Not a 304.
        assert_eq!(judge(StatusCode::OK, true, false, &same), No);
        assert_eq!(judge(StatusCode::BAD_GATEWAY, true, false, &same), No);
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
    fn etag_comparisons() {
        assert!(etag_weak_eq("W/\"a\"", "\"a\""));
        assert!(!etag_strong_eq("W/\"a\"", "\"a\""));
        assert!(etag_strong_eq("\"a\"", " \"a\" "));
        assert!(!etag_weak_eq("\"a\"", "\"b\""));
        assert!(!etag_weak_eq("a", "a"), "unquoted tags are not entity tags");
    }

    #[test]
    fn a_304_must_describe_the_stored_response() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 13 Nov 2023 00:00:00 GMT"),
        ]);
        assert!(not_modified_matches(
            &stored,
            &headers(&[("etag", "\"v1\"")])
        ));
        assert!(!not_modified_matches(
            &stored,
            &headers(&[("etag", "\"v2\"")])
        ));
        assert!(not_modified_matches(
            &stored,
            &headers(&[("etag", "W/\"v1\"")])
        ));
        assert!(not_modified_matches(&stored, &HeaderMap::new()));
        let weak = headers(&[("etag", "W/\"v1\"")]);
        assert!(
            !not_modified_matches(&weak, &headers(&[("etag", "\"v1\"")])),
            "strong needs strong"
        );
    }

    #[test]
    fn client_conditionals() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 13 Nov 2023 00:00:00 GMT"),
        ]);
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let inm = |v| headers(&[("if-none-match", v)]);
        assert_eq!(
            client_conditional_matches(&inm("\"x\", W/\"v1\""), &stored, t, t),
            Some(true)
        );
        assert_eq!(
            client_conditional_matches(&inm("\"x\""), &stored, t, t),
            Some(false)
        );
        assert_eq!(
            client_conditional_matches(&inm("*"), &stored, t, t),
            Some(true)
        );
        let ims = |v| headers(&[("if-modified-since", v)]);
        assert_eq!(
            client_conditional_matches(&ims("Tue, 14 Nov 2023 00:00:00 GMT"), &stored, t, t),
            Some(true)
        );
        assert_eq!(
            client_conditional_matches(&ims("Sun, 12 Nov 2023 00:00:00 GMT"), &stored, t, t),
            Some(false)
        );
        assert_eq!(
            client_conditional_matches(&HeaderMap::new(), &stored, t, t),
            None
        );
        // Without Last-Modified: the stored Date, else when it was made.
        let dated = headers(&[("date", "Mon, 13 Nov 2023 00:00:00 GMT")]);
        let after = ims("Tue, 14 Nov 2023 00:00:00 GMT");
        let before = ims("Sun, 12 Nov 2023 00:00:00 GMT");
        assert_eq!(client_conditional_matches(&after, &dated, t, t), Some(true));
        assert_eq!(
            client_conditional_matches(&before, &dated, t, t),
            Some(false)
        );
        let made = httpdate::parse_http_date("Mon, 13 Nov 2023 00:00:00 GMT").unwrap();
        let bare = HeaderMap::new();
        assert_eq!(
            client_conditional_matches(&after, &bare, made, t),
            Some(true)
        );
        assert_eq!(
            client_conditional_matches(&before, &bare, made, t),
            Some(false)
        );
    }
}
