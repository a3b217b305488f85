//! `Vary` (RFC 9111 section 4.1): which request headers a stored response
//! varies on, and whether a request's headers select it.

use http::{HeaderMap, HeaderName, header};

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
                    if normalized_value(stored_request, &name) != normalized_value(request, &name) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// The request header names a response `Vary`s on, lower-cased; `None` for
/// `Vary: *` or an unreadable field.
pub(crate) fn vary_names(response: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    if !response.contains_key(header::VARY) {
        return Some(names);
    }
    for value in response.get_all(header::VARY) {
        for name in value
            .to_str()
            .ok()?
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if name == "*" {
                return None;
            }
            names.push(HeaderName::from_bytes(name.as_bytes()).ok()?);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    Some(names)
}

/// A request header's value as `Vary` and `match_headers` compare it: every
/// field line's list members, trimmed, lower-cased, empty ones dropped,
/// sorted, joined with `, `; so `gzip,  deflate` and `deflate, GZIP` (or
/// `Accept-Language: en, de` and `de, en`) are one value.
pub(crate) fn normalized_value(headers: &HeaderMap, name: &HeaderName) -> Vec<u8> {
    let mut members: Vec<Vec<u8>> = headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|member| !member.is_empty())
        .map(<[u8]>::to_ascii_lowercase)
        .collect();
    members.sort_unstable();
    members.join(&b", "[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_headers::headers;

    #[test]
    fn vary_names_and_values_normalize() {
        assert_eq!(
            vary_names(&headers(&[
                ("vary", "Accept, accept-encoding"),
                ("vary", "accept")
            ]))
            .unwrap()
            .len(),
            2
        );
        assert_eq!(vary_names(&headers(&[("vary", "accept, *")])), None);
        let a = headers(&[("accept", "a,b"), ("accept", " c ")]);
        let b = headers(&[("accept", "a, b, c")]);
        assert_eq!(
            normalized_value(&a, &header::ACCEPT),
            normalized_value(&b, &header::ACCEPT)
        );
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
