//! Request normalization: what the default key hashes, and what is stored.
//!
//! Three kinds of names shape both:
//! - **ignored** parameters and headers are left out of the key and out of
//!   storage (requests-cache's `ignored_parameters`);
//! - **redacted** ones (credentials, API keys; a default set plus the user's)
//!   are never stored, but their values, hashed, still take part in the key,
//!   so responses never cross credentials (`credentials_in_key(false)` makes
//!   them ignored instead);
//! - everything else takes part in the key and is stored.

use std::fmt;

use http::HeaderName;

use super::match_headers::MatchHeaders;
use super::redact::Names;

/// The settings that shape keys and what is stored.
#[derive(Clone)]
pub(crate) struct Normalizer {
    pub(crate) ignored: Names,
    pub(crate) redacted: Names,
    pub(crate) match_headers: MatchHeaders,
    pub(crate) credentials_in_key: bool,
    pub(crate) content_root_key: Option<String>,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self {
            ignored: Names::default(),
            redacted: Names::redacted(true, [] as [&str; 0]),
            match_headers: MatchHeaders::None,
            credentials_in_key: true,
            content_root_key: None,
        }
    }
}

impl fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Normalizer")
            .field("ignored", &self.ignored.parameters())
            .field("redacted", &self.redacted.parameters())
            .field("match_headers", &self.match_headers)
            .field("credentials_in_key", &self.credentials_in_key)
            .field("content_root_key", &self.content_root_key)
            .finish()
    }
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    /// Keying: what the key hashes.
    Key,
    /// Storing: what reaches storage.
    Store,
}

impl Normalizer {
    /// `true` when a parameter named `name` is kept for `purpose`.
    pub(super) fn keeps_parameter(&self, name: &str, purpose: Use) -> bool {
        if self.ignored.has_parameter(name) {
            return false;
        }
        match purpose {
            Use::Key => self.credentials_in_key || !self.redacted.has_parameter(name),
            Use::Store => !self.redacted.has_parameter(name),
        }
    }

    pub(super) fn is_redacted_header(&self, name: &HeaderName) -> bool {
        self.redacted.has_header(name)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, Method};

    use super::*;
    use crate::key::CacheKey;

    fn settings(ignored: &[&str]) -> Normalizer {
        Normalizer {
            ignored: Names::new(ignored),
            ..Normalizer::default()
        }
    }

    fn key(
        s: &Normalizer,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> CacheKey {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        s.default_key(&method, &uri.parse().unwrap(), &map, body)
    }

    /// Keys are stored: the same request must keep its key across releases
    /// unless `KEY_FORMAT` changes. These were computed before the key's
    /// buffers moved to the stack (e1c9801).
    #[test]
    fn keys_are_stable_across_releases() {
        let s = Normalizer {
            match_headers: MatchHeaders::only(["accept"]),
            ..Normalizer::default()
        };
        // (uri, headers, body, key)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8], &'a str);
        let cases: [Case<'_>; 5] = [
            (
                "https://api.example.com/v1/items/42?fields=all&lang=en",
                &[],
                b"",
                "5024efe465583423d80922bd7ab34efc",
            ),
            (
                "http://Example.com:80/a?y=2&&x=1&x=0&z",
                &[("accept", "text/html")],
                b"",
                "5876c62aeb690ddd482afc3e6b409d36",
            ),
            (
                "http://example.com/p?q=%41+b&token=secret",
                &[("authorization", "Bearer t")],
                b"",
                "b51e37f82c1c6408b20b44c6a886ca20",
            ),
            (
                "http://example.com/",
                &[("content-type", "application/json")],
                br#"{"b":1,"a":2}"#,
                "1a7a0bff4dda0263f372a30069a3db5e",
            ),
            (
                "http://example.com/%7Euser/?",
                &[],
                b"",
                "e6b973587cb8cdda607e117337ec0938",
            ),
        ];
        for (uri, headers, body, expected) in cases {
            let method = if body.is_empty() {
                Method::GET
            } else {
                Method::POST
            };
            let got = key(&s, method, uri, headers, body);
            assert_eq!(got.as_str(), expected, "{uri}");
        }
    }

    #[test]
    fn url_normalization_is_key_equivalence() {
        let s = settings(&[]);
        let base = key(&s, Method::GET, "http://example.com/a?x=1&y=2", &[], b"");
        for same in [
            "HTTP://EXAMPLE.com:80/a?y=2&x=1",
            "http://example.com/a?x=1&y=2#fragment",
            "http://example.com/a?y=2&x=%31",
        ] {
            assert_eq!(key(&s, Method::GET, same, &[], b""), base, "{same}");
        }
        for different in [
            "http://example.com/A?x=1&y=2",
            "https://example.com/a?x=1&y=2",
            "http://example.com:8080/a?x=1&y=2",
            "http://example.com/a?x=1",
            "http://example.com/a?x=1&y=2&y=3",
        ] {
            assert_ne!(
                key(&s, Method::GET, different, &[], b""),
                base,
                "{different}"
            );
        }
        assert_ne!(
            key(&s, Method::HEAD, "http://example.com/a?x=1&y=2", &[], b""),
            base
        );
    }

    #[test]
    fn repeated_parameters_sort_by_value_as_in_requests_cache() {
        let s = settings(&[]);
        assert_eq!(
            key(&s, Method::GET, "http://e.com/?a=1&a=2", &[], b""),
            key(&s, Method::GET, "http://e.com/?a=2&a=1", &[], b"")
        );
        assert_ne!(
            key(&s, Method::GET, "http://e.com/?a=1&a=2", &[], b""),
            key(&s, Method::GET, "http://e.com/?a=1&a=3", &[], b"")
        );
    }

    #[test]
    fn json_bodies_are_key_order_independent_and_ignored_keys_dropped() {
        let s = settings(&["token"]);
        let json = [("content-type", "application/json")];
        let a = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{"a":1,"b":{"y":2,"x":1},"token":"s1"}"#,
        );
        let b = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{ "b":{"x":1,"y":2}, "token":"s2", "a":1 }"#,
        );
        assert_eq!(a, b);
        let c = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{"a":2,"b":{"x":1,"y":2}}"#,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn relative_uris_use_the_host_header() {
        let s = settings(&[]);
        let a = key(&s, Method::GET, "/p?q=1", &[("host", "a.example")], b"");
        let b = key(&s, Method::GET, "/p?q=1", &[("host", "A.EXAMPLE")], b"");
        let c = key(&s, Method::GET, "/p?q=1", &[("host", "b.example")], b"");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(s.normalized_url(&"/p?q=1".parse().unwrap()), "/p?q=1");
    }

    #[test]
    fn stored_request_is_redacted() {
        let s = settings(&["api_key", "x-secret"]);
        assert!(
            !s.stored_request(
                &Method::GET,
                &"http://e.com/?a=1".parse().unwrap(),
                &HeaderMap::new(),
                &Bytes::new()
            )
            .redacted
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-secret", "s".parse().unwrap());
        headers.insert("authorization", "Bearer t".parse().unwrap());
        headers.insert("cookie", "c=1".parse().unwrap());
        headers.insert("accept", "*/*".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let stored = s.stored_request(
            &Method::POST,
            &"HTTPS://Example.COM:443/x?b=2&api_key=SECRET&a=1"
                .parse()
                .unwrap(),
            &headers,
            &Bytes::from_static(b"z=1&api_key=SECRET"),
        );
        assert_eq!(stored.url, "https://example.com/x?a=1&b=2");
        assert_eq!(stored.body, "z=1");
        assert_eq!(stored.headers.len(), 2);
        assert!(stored.headers.contains_key("accept"));
        assert!(stored.redacted, "credentials were removed");
    }

    #[test]
    fn redacted_parameters_are_keyed_but_not_stored() {
        let s = settings(&[]);
        let a = key(&s, Method::GET, "http://e.com/?q=1&api_key=alice", &[], b"");
        let b = key(&s, Method::GET, "http://e.com/?q=1&api_key=bob", &[], b"");
        assert_ne!(a, b);
        let stored = s.stored_request(
            &Method::GET,
            &"http://e.com/?q=1&api_key=alice".parse().unwrap(),
            &HeaderMap::new(),
            &Bytes::new(),
        );
        assert_eq!(stored.url, "http://e.com/?q=1");
        assert!(stored.redacted);
        let shared = Normalizer {
            credentials_in_key: false,
            ..settings(&[])
        };
        assert_eq!(
            key(
                &shared,
                Method::GET,
                "http://e.com/?q=1&api_key=alice",
                &[],
                b""
            ),
            key(
                &shared,
                Method::GET,
                "http://e.com/?q=1&api_key=bob",
                &[],
                b""
            )
        );
    }

    #[test]
    fn content_root_key_scopes_parameters_to_one_json_member() {
        let s = Normalizer {
            content_root_key: Some("data".into()),
            ..settings(&["page"])
        };
        let json = [("content-type", "application/json")];
        let a = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{"data": {"q": 1, "page": 1}, "page": 1}"#,
        );
        let b = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{"data": {"q": 1, "page": 2}, "page": 1}"#,
        );
        let c = key(
            &s,
            Method::POST,
            "http://e.com/",
            &json,
            br#"{"data": {"q": 1, "page": 2}, "page": 2}"#,
        );
        assert_eq!(a, b, "page under data is ignored");
        assert_ne!(b, c, "page at the top level is not");
    }
}
