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

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use smallvec::SmallVec;

use super::cache_key::CacheKey;
use super::redact::Names;
use crate::policy::vary::{VaryHeader, normalized_value};
use crate::storage::CachedRequest;

/// Bumped whenever the key layout changes, so old entries become misses.
const KEY_FORMAT: &[u8] = b"rqk2";

/// Which request headers take part in the key: requests-cache's
/// `include_get_headers`, made selective.
///
/// Redacted headers (credentials) are governed by `credentials_in_key` on the
/// layer, not by this; ignored ones never take part.
///
/// # Example
/// ```
/// use reqcache::key::MatchHeaders;
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
    /// Only the named headers: [`HeaderName`]s or names as text, in any case
    /// (`"Accept-Language"`). A name that is not a valid header name is
    /// skipped with a warning.
    ///
    /// ```
    /// use reqcache::key::MatchHeaders;
    ///
    /// assert_eq!(
    ///     MatchHeaders::only(["Accept", "ACCEPT-LANGUAGE"]),
    ///     MatchHeaders::only([http::header::ACCEPT, http::header::ACCEPT_LANGUAGE]),
    /// );
    /// ```
    pub fn only<N>(names: impl IntoIterator<Item = N>) -> Self
    where
        N: TryInto<HeaderName>,
    {
        Self::Only(
            names
                .into_iter()
                .filter_map(|name| match name.try_into() {
                    Ok(name) => Some(name),
                    Err(_) => {
                        tracing::warn!("reqcache: MatchHeaders::only: invalid header name skipped");
                        None
                    }
                })
                .collect(),
        )
    }
}

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
enum Use {
    /// Keying: what the key hashes.
    Key,
    /// Storing: what reaches storage.
    Store,
}

impl Normalizer {
    /// `true` when a parameter named `name` is kept for `purpose`.
    fn keeps_parameter(&self, name: &str, purpose: Use) -> bool {
        if self.ignored.has_parameter(name) {
            return false;
        }
        match purpose {
            Use::Key => self.credentials_in_key || !self.redacted.has_parameter(name),
            Use::Store => !self.redacted.has_parameter(name),
        }
    }

    fn is_redacted_header(&self, name: &HeaderName) -> bool {
        self.redacted.has_header(name)
    }

    /// How a `Vary`ed request header relates to the key and to redaction.
    pub(crate) fn classify_vary(&self, name: &HeaderName) -> VaryHeader {
        if self.ignored.has_header(name) {
            VaryHeader::Redacted
        } else if self.is_redacted_header(name) {
            if self.credentials_in_key {
                VaryHeader::InKey
            } else {
                VaryHeader::Redacted
            }
        } else {
            VaryHeader::Compare
        }
    }

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

    /// The headers `match_headers` names, in a stable order, without ignored
    /// or redacted ones.
    pub(crate) fn matched_headers<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> Vec<(&'h HeaderName, &'h HeaderValue)> {
        let usable =
            |name: &HeaderName| !self.ignored.has_header(name) && !self.is_redacted_header(name);
        let mut matched = Vec::new();
        match &self.match_headers {
            MatchHeaders::None => {}
            MatchHeaders::Only(names) => {
                for name in names.iter().filter(|n| usable(n)) {
                    matched.extend(headers.get_all(name).iter().map(|value| (name, value)));
                }
            }
            MatchHeaders::All => {
                let mut names: Vec<&HeaderName> = headers.keys().filter(|n| usable(n)).collect();
                names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                for name in names {
                    matched.extend(headers.get_all(name).iter().map(|value| (name, value)));
                }
            }
        }
        matched
    }

    /// Query pairs, percent-decoded, kept for `purpose`, sorted by name and
    /// then value (requests-cache's order: `?p=b&p=a` is `?p=a&p=b`).
    /// Sets `removed` when a redacted pair was left out.
    fn query_pairs<'q>(&self, query: &'q str, purpose: Use, removed: &mut bool) -> QueryPairs<'q> {
        let mut pairs = QueryPairs::new();
        self.collect_pairs(query, purpose, removed, &mut pairs);
        pairs
    }

    /// [`query_pairs`](Self::query_pairs), into `pairs`.
    fn collect_pairs<'q>(
        &self,
        query: &'q str,
        purpose: Use,
        removed: &mut bool,
        pairs: &mut QueryPairs<'q>,
    ) {
        pairs.extend(parse_pairs(query).filter(|(name, _)| {
            let keep = self.keeps_parameter(name, purpose);
            if !keep && self.redacted.has_parameter(name) {
                *removed = true;
            }
            keep
        }));
        // Equal pairs are equal bytes: an unstable sort gives the same key.
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    }

    /// The body as the default key hashes it.
    pub(crate) fn key_body<'b>(&self, headers: &HeaderMap, body: &'b [u8]) -> Cow<'b, [u8]> {
        self.normalized_body(headers, body, Use::Key, &mut false)
    }

    /// The body normalized for `purpose`: JSON canonicalized (keys sorted, at
    /// every level) with parameters removed from its top level (or from under
    /// `content_root_key`), forms sorted with parameters removed, anything
    /// else as is.
    fn normalized_body<'b>(
        &self,
        headers: &HeaderMap,
        body: &'b [u8],
        purpose: Use,
        removed: &mut bool,
    ) -> Cow<'b, [u8]> {
        if body.is_empty() {
            return Cow::Borrowed(body);
        }
        // The media type, whatever its case and parameters
        // (`Application/JSON; charset=utf-8`).
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let looks_json = content_type.contains("json")
            || (content_type.is_empty()
                && matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')));
        if looks_json {
            if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) {
                let root = match &self.content_root_key {
                    Some(root) => value.get_mut(root.as_str()),
                    None => Some(&mut value),
                };
                if let Some(serde_json::Value::Object(map)) = root {
                    map.retain(|name, _| {
                        let keep = self.keeps_parameter(name, purpose);
                        if !keep && self.redacted.has_parameter(name) {
                            *removed = true;
                        }
                        keep
                    });
                }
                let mut out = Vec::with_capacity(body.len());
                canonical_json(&value, &mut out);
                return Cow::Owned(out);
            }
        } else if content_type == "application/x-www-form-urlencoded"
            && let Ok(text) = std::str::from_utf8(body)
        {
            let pairs = self.query_pairs(text, purpose, removed);
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
    /// dropped, query sorted and without ignored or redacted parameters, no
    /// fragment. Relative request URIs (server-side use) stay in origin form.
    pub(crate) fn normalized_url(&self, uri: &Uri) -> String {
        self.stored_url(uri, &mut false)
    }

    fn stored_url(&self, uri: &Uri, removed: &mut bool) -> String {
        let mut url = String::new();
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            let (host, port) = host_and_port(authority.as_str());
            let scheme = scheme.to_ascii_lowercase();
            url.push_str(&scheme);
            url.push_str("://");
            url.push_str(&host.to_ascii_lowercase());
            if let Some(port) = port.filter(|&p| p != default_port(&scheme)) {
                url.push(':');
                url.push_str(&port.to_string());
            }
        }
        url.push_str(&normalized_path(uri.path()));
        if let Some(query) = uri.query() {
            let pairs = self.query_pairs(query, Use::Store, removed);
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
    /// ignored or redacted parameters; `redacted` says whether any were.
    pub(crate) fn stored_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> CachedRequest {
        let mut removed = false;
        let mut stored_headers = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            if self.is_redacted_header(name) {
                removed = true;
            } else if !self.ignored.has_header(name) {
                stored_headers.append(name.clone(), value.clone());
            }
        }
        let url = self.stored_url(uri, &mut removed);
        let body = match self.normalized_body(headers, body, Use::Store, &mut removed) {
            Cow::Borrowed(_) => body.clone(),
            Cow::Owned(normalized) => Bytes::from(normalized),
        };
        CachedRequest {
            method: method.clone(),
            url,
            headers: stored_headers,
            body,
            redacted: removed,
        }
    }
}

/// The scheme, host, port and path of a request, from its URI or, for a
/// relative URI, its `Host` header.
struct Target<'a> {
    scheme: &'a str,
    host: &'a str,
    port: u16,
    path: Cow<'a, str>,
}

impl<'a> Target<'a> {
    fn of(uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        let scheme = uri.scheme_str().unwrap_or("");
        let (host, port) = match uri.authority() {
            Some(authority) => {
                let (host, port) = host_and_port(authority.as_str());
                (host, port.unwrap_or(0))
            }
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
        let path = normalized_path(uri.path());
        Self {
            scheme,
            host,
            port,
            path,
        }
    }
}

/// The host and the port of an authority, as `http` reads them
/// (`Authority::host` and `Authority::port_u16`), in one pass over a text
/// that `http` has already validated: the key's share of a hit was two
/// reverse searches and a parse each, for the same few bytes.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    let port = authority
        .bytes()
        .rposition(|b| b == b':')
        .and_then(|colon| authority[colon + 1..].parse().ok());
    let host_port = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let host_end = if host_port.starts_with('[') {
        host_port.bytes().position(|b| b == b']').map(|end| end + 1)
    } else {
        host_port.bytes().position(|b| b == b':')
    };
    (&host_port[..host_end.unwrap_or(host_port.len())], port)
}

/// A path as the key and storage see it (RFC 3986 section 6.2.2): `/` for
/// an empty one, percent-encoded unreserved characters decoded
/// (`/%7Euser` is `/~user`), other escapes with upper-case hex digits.
fn normalized_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hex = after
            .get(..2)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
        match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok().map(|v| (hex, v))) {
            Some((_, value))
                if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') =>
            {
                out.push(char::from(value));
                rest = &after[2..];
            }
            Some((hex, _)) => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => 0,
    }
}

/// `name=value` pairs of a query or form, percent-decoded. Most queries hold
/// nothing to decode: those are split in place, which is several times faster
/// than decoding each part.
fn parse_pairs(query: &str) -> Pairs<'_> {
    if query.bytes().any(|b| b == b'%' || b == b'+') {
        Pairs::Encoded(form_urlencoded::parse(query.as_bytes()))
    } else {
        Pairs::Plain(query)
    }
}

/// A query's pairs, inline up to eight (no allocation for most queries).
type QueryPairs<'q> = SmallVec<[(Cow<'q, str>, Cow<'q, str>); 8]>;

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

enum Pairs<'q> {
    Encoded(form_urlencoded::Parse<'q>),
    /// What is left of a query with nothing to decode.
    Plain(&'q str),
}

impl<'q> Iterator for Pairs<'q> {
    type Item = (Cow<'q, str>, Cow<'q, str>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Encoded(parse) => parse.next(),
            // A byte loop: for parts this short it beats the `char`
            // searcher that `split` sets up per call.
            Self::Plain(rest) => loop {
                if rest.is_empty() {
                    return None;
                }
                let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
                let pair = &rest[..end];
                *rest = rest.get(end + 1..).unwrap_or("");
                if pair.is_empty() {
                    continue;
                }
                let (name, value) = match pair.bytes().position(|b| b == b'=') {
                    Some(at) => (&pair[..at], &pair[at + 1..]),
                    None => (pair, ""),
                };
                return Some((Cow::Borrowed(name), Cow::Borrowed(value)));
            },
        }
    }
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
    fn hosts_and_ports_are_read_as_http_reads_them() {
        let mut read = Vec::new();
        for authority in [
            "example.com",
            "Example.COM:8080",
            "user:pw@host:1",
            "a@b@c:9",
            "[::1]",
            "[::1]:443",
            "user@[fe80::1]:65535",
            "host:",
            "host:65536",
            "h:0",
            "x.y.z:00080",
        ] {
            let Ok(uri) = format!("http://{authority}/p").parse::<Uri>() else {
                continue;
            };
            let expected = (uri.host().unwrap(), uri.port_u16());
            assert_eq!(host_and_port(authority), expected, "{authority}");
            read.push(authority);
        }
        assert_eq!(read.len(), 11, "the ones http accepts: {read:?}");
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
