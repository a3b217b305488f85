//! The URL as the key and storage see it: scheme, host and port as `http`
//! reads them, the path normalized (RFC 3986 section 6.2.2), the query's
//! pairs decoded and sorted, without ignored (and, in what is stored,
//! redacted) parameters.

use std::borrow::Cow;

use http::{HeaderMap, Uri, header};
use smallvec::SmallVec;

use super::normalize::{Normalizer, Use};

impl Normalizer {
    /// Query pairs, percent-decoded, kept for `purpose`, sorted by name and
    /// then value (requests-cache's order: `?p=b&p=a` is `?p=a&p=b`).
    /// Sets `removed` when a redacted pair was left out.
    pub(super) fn query_pairs<'q>(
        &self,
        query: &'q str,
        purpose: Use,
        removed: &mut bool,
    ) -> QueryPairs<'q> {
        let mut pairs = QueryPairs::new();
        self.collect_pairs(query, purpose, removed, &mut pairs);
        pairs
    }

    /// [`query_pairs`](Self::query_pairs), into `pairs`.
    pub(super) fn collect_pairs<'q>(
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

    /// The normalized URL as stored: lower-case scheme and host, default port
    /// dropped, query sorted and without ignored or redacted parameters, no
    /// fragment. Relative request URIs (server-side use) stay in origin form.
    pub(crate) fn normalized_url(&self, uri: &Uri) -> String {
        self.stored_url(uri, &mut false)
    }

    pub(super) fn stored_url(&self, uri: &Uri, removed: &mut bool) -> String {
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
}

/// The scheme, host, port and path of a request, from its URI or, for a
/// relative URI, its `Host` header.
pub(super) struct Target<'a> {
    pub(super) scheme: &'a str,
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) path: Cow<'a, str>,
}

impl<'a> Target<'a> {
    pub(super) fn of(uri: &'a Uri, headers: &'a HeaderMap) -> Self {
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
pub(super) type QueryPairs<'q> = SmallVec<[(Cow<'q, str>, Cow<'q, str>); 8]>;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
