//! Cache keys: [`CacheKey`], and the normalization and redaction of requests
//! that produce them.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Uri, header};

use crate::entry::CachedRequest;
use crate::policy::VaryHeader;

/// Bumped whenever the key layout changes, so old entries become misses.
const KEY_FORMAT: &[u8] = b"rqk1";

/// Request headers that carry credentials. By default their values take part
/// in the key (hashed), and they are never stored.
pub const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// A cache key: 32 lower-case hex characters, 128 bits of a BLAKE3 hash of the
/// normalized request. Cheap to copy; no allocation.
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    fn from_hash(hash: &blake3::Hash) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, byte) in hash.as_bytes()[..16].iter().enumerate() {
            out[2 * i] = HEX[(byte >> 4) as usize];
            out[2 * i + 1] = HEX[(byte & 0xf) as usize];
        }
        Self(out)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or_default()
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

/// Which request headers take part in the key: requests-cache's
/// `include_get_headers`, made selective.
///
/// Credentials ([`CREDENTIAL_HEADERS`]) are governed by `credentials_in_key`
/// on the layer, not by this; ignored parameters never take part.
///
/// # Example
/// ```
/// use reqcache::MatchHeaders;
///
/// let only_accept = MatchHeaders::only([http::header::ACCEPT]);
/// assert!(matches!(only_accept, MatchHeaders::Only(_)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchHeaders {
    /// No headers (the default).
    #[default]
    None,
    /// Every header (requests-cache's `include_get_headers=True`).
    All,
    /// Only these headers.
    Only(Vec<HeaderName>),
}

impl MatchHeaders {
    /// Only the named headers.
    pub fn only(names: impl IntoIterator<Item = HeaderName>) -> Self {
        Self::Only(names.into_iter().collect())
    }
}

/// The settings that shape keys and redaction.
#[derive(Debug, Clone)]
pub(crate) struct KeySettings {
    /// Names removed from query strings, JSON and form bodies, and headers.
    pub(crate) ignored_parameters: Vec<String>,
    /// The ignored parameters that are valid header names.
    pub(crate) ignored_headers: Vec<HeaderName>,
    pub(crate) match_headers: MatchHeaders,
    pub(crate) credentials_in_key: bool,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            ignored_parameters: Vec::new(),
            ignored_headers: Vec::new(),
            match_headers: MatchHeaders::None,
            credentials_in_key: true,
        }
    }
}

impl KeySettings {
    pub(crate) fn set_ignored_parameters(&mut self, names: Vec<String>) {
        self.ignored_headers = names
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        self.ignored_parameters = names;
    }

    fn is_ignored_parameter(&self, name: &str) -> bool {
        self.ignored_parameters
            .iter()
            .any(|ignored| ignored == name)
    }

    fn is_ignored_header(&self, name: &HeaderName) -> bool {
        self.ignored_headers.contains(name)
    }

    /// How a `Vary`ed request header relates to the key and to redaction.
    pub(crate) fn classify_vary(&self, name: &HeaderName) -> VaryHeader {
        if CREDENTIAL_HEADERS.contains(name) {
            if self.credentials_in_key {
                VaryHeader::InKey
            } else {
                VaryHeader::Redacted
            }
        } else if self.is_ignored_header(name) {
            VaryHeader::Redacted
        } else {
            VaryHeader::Compare
        }
    }

    /// The key of a request.
    ///
    /// The key material is laid out in one buffer, each field length-prefixed,
    /// and hashed in one call: for inputs this small that is several times
    /// faster than feeding an incremental hasher.
    pub(crate) fn key(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> CacheKey {
        let mut m = Vec::with_capacity(192 + body.len());
        m.extend_from_slice(KEY_FORMAT);
        field(&mut m, method.as_str().as_bytes());
        let target = Target::of(uri, headers);
        field_lower(&mut m, target.scheme.as_bytes());
        field_lower(&mut m, target.host.as_bytes());
        m.extend_from_slice(&target.port.to_le_bytes());
        field(&mut m, target.path.as_bytes());
        if let Some(query) = uri.query() {
            let pairs = self.query_pairs(query);
            m.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
            for (name, value) in &pairs {
                field(&mut m, name.as_bytes());
                field(&mut m, value.as_bytes());
            }
        } else {
            m.extend_from_slice(&u32::MAX.to_le_bytes());
        }
        field(&mut m, &self.normalized_body(headers, body));
        match &self.match_headers {
            MatchHeaders::None => {}
            MatchHeaders::Only(names) => {
                for name in names {
                    self.key_header(&mut m, headers, name);
                }
            }
            MatchHeaders::All => {
                let mut names: Vec<&HeaderName> = headers
                    .keys()
                    .filter(|name| !CREDENTIAL_HEADERS.contains(name))
                    .collect();
                names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                for name in names {
                    self.key_header(&mut m, headers, name);
                }
            }
        }
        m.push(0xff);
        if self.credentials_in_key {
            for name in &CREDENTIAL_HEADERS {
                for value in headers.get_all(name) {
                    field(&mut m, value.as_bytes());
                }
                m.push(0xfe);
            }
        }
        CacheKey::from_hash(&blake3::hash(&m))
    }

    fn key_header(&self, m: &mut Vec<u8>, headers: &HeaderMap, name: &HeaderName) {
        if self.is_ignored_header(name) || CREDENTIAL_HEADERS.contains(name) {
            return;
        }
        field(m, name.as_str().as_bytes());
        for value in headers.get_all(name) {
            field(m, value.as_bytes());
        }
        m.push(0xfe);
    }

    /// Query pairs, percent-decoded, ignored ones removed, stably sorted by
    /// name: repeated names keep their relative order, which may matter.
    fn query_pairs<'q>(&self, query: &'q str) -> Vec<(Cow<'q, str>, Cow<'q, str>)> {
        let mut pairs: Vec<_> = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| !self.is_ignored_parameter(name))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
    }

    /// The body as keyed and stored: JSON canonicalized (keys sorted, ignored
    /// top-level keys removed), forms sorted with ignored fields removed,
    /// anything else as is.
    pub(crate) fn normalized_body<'b>(&self, headers: &HeaderMap, body: &'b [u8]) -> Cow<'b, [u8]> {
        if body.is_empty() {
            return Cow::Borrowed(body);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let looks_json = content_type.contains("json")
            || (content_type.is_empty()
                && matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')));
        if looks_json {
            if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) {
                if let serde_json::Value::Object(map) = &mut value {
                    map.retain(|name, _| !self.is_ignored_parameter(name));
                }
                let mut out = Vec::with_capacity(body.len());
                canonical_json(&value, &mut out);
                return Cow::Owned(out);
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded")
            && let Ok(text) = std::str::from_utf8(body)
        {
            let pairs = self.query_pairs(text);
            return Cow::Owned(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes(),
            );
        }
        Cow::Borrowed(body)
    }

    /// The normalized URL as stored: lower-case scheme and host, default port
    /// dropped, query sorted and without ignored parameters, no fragment.
    /// Relative request URIs (server-side use) stay in origin form.
    pub(crate) fn normalized_url(&self, uri: &Uri) -> String {
        let mut url = String::with_capacity(uri.to_string().len());
        if let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) {
            let scheme = scheme.to_ascii_lowercase();
            url.push_str(&scheme);
            url.push_str("://");
            url.push_str(&host.to_ascii_lowercase());
            if let Some(port) = uri.port_u16().filter(|&p| p != default_port(&scheme)) {
                url.push(':');
                url.push_str(&port.to_string());
            }
        }
        url.push_str(if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        });
        if let Some(query) = uri.query() {
            let pairs = self.query_pairs(query);
            if !pairs.is_empty() {
                url.push('?');
                url.push_str(
                    &form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs)
                        .finish(),
                );
            }
        }
        url
    }

    /// The request as stored: normalized URL, and headers and body without
    /// ignored parameters or credentials.
    pub(crate) fn stored_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> CachedRequest {
        let mut stored_headers = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            if !CREDENTIAL_HEADERS.contains(name) && !self.is_ignored_header(name) {
                stored_headers.append(name.clone(), value.clone());
            }
        }
        let body = match self.normalized_body(headers, body) {
            Cow::Borrowed(_) => body.clone(),
            Cow::Owned(normalized) => Bytes::from(normalized),
        };
        CachedRequest {
            method: method.clone(),
            url: self.normalized_url(uri),
            headers: stored_headers,
            body,
        }
    }
}

/// The scheme, host, port and path of a request, from its URI or, for a
/// relative URI, its `Host` header.
struct Target<'a> {
    scheme: &'a str,
    host: &'a str,
    port: u16,
    path: &'a str,
}

impl<'a> Target<'a> {
    fn of(uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        let scheme = uri.scheme_str().unwrap_or("");
        let (host, port) = match uri.host() {
            Some(host) => (host, uri.port_u16().unwrap_or(0)),
            None => (
                headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or(""),
                0,
            ),
        };
        let port = if scheme.eq_ignore_ascii_case("https") && port == 443
            || scheme.eq_ignore_ascii_case("http") && port == 80
        {
            0
        } else {
            port
        };
        let path = if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        };
        Self {
            scheme,
            host,
            port,
            path,
        }
    }
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => 0,
    }
}

/// Appends a length-prefixed field, so that field boundaries are unambiguous.
/// Lengths are 32-bit: a field over 4 GiB cannot reach here (bodies are
/// buffered in memory first), and a shorter prefix means fewer blocks to hash.
fn field(m: &mut Vec<u8>, bytes: &[u8]) {
    m.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    m.extend_from_slice(bytes);
}

/// Like [`field`], ASCII-lower-cased.
fn field_lower(m: &mut Vec<u8>, bytes: &[u8]) {
    m.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    m.extend(bytes.iter().map(u8::to_ascii_lowercase));
}

/// JSON with object keys sorted at every level, whatever serde_json's map
/// ordering features are.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (name, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serializing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, name);
                out.push(b':');
                canonical_json(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ignored: &[&str]) -> KeySettings {
        let mut s = KeySettings::default();
        s.set_ignored_parameters(ignored.iter().map(|s| s.to_string()).collect());
        s
    }

    fn key(
        s: &KeySettings,
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
        s.key(&method, &uri.parse().unwrap(), &map, body)
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
    fn repeated_parameters_keep_their_order() {
        let s = settings(&[]);
        assert_ne!(
            key(&s, Method::GET, "http://e.com/?a=1&a=2", &[], b""),
            key(&s, Method::GET, "http://e.com/?a=2&a=1", &[], b"")
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
    }
}
