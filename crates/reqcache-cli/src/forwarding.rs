//! The proxy's forwarding headers: what a client may say about the request's
//! origin and route, and what the proxy says itself.
//!
//! A shared cache keys on the URL, not on these headers, so a header that
//! makes the upstream answer differently (`X-Original-URL: /admin`,
//! `X-Forwarded-Host: evil.example`) would let one client poison what every
//! other client is served. By default the proxy removes every such header a
//! client sends, before the cache, and sets its own on the requests that go
//! upstream; from a peer listed as a trusted proxy (a load balancer in front
//! of it) it keeps the chain and appends to it.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Request headers that override the URL, host, scheme, client address or
/// method as the upstream sees them; removed unless the peer is trusted.
const OVERRIDES: [&str; 13] = [
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-host",
    "x-http-host-override",
    "x-real-ip",
    "true-client-ip",
    "client-ip",
    "x-client-ip",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether a client-supplied header is one the proxy does not pass on from
/// an untrusted peer: the overrides above and every `X-Forwarded-*`.
fn is_override(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-forwarded-") || OVERRIDES.contains(&name)
}

/// Removes every override header a client sent (before the cache sees the
/// request, so that none is compared for `Vary` or stored either).
pub(crate) fn strip_overrides(headers: &mut HeaderMap) {
    // One pass over the (few) names finds most requests have none.
    if !headers.keys().any(is_override) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| is_override(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// Who sent a request, as the proxy saw it: a request extension that
/// [`AddForwarding`] turns into forwarding headers when the request goes
/// upstream.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) peer: IpAddr,
    /// The `Host` the client asked for.
    pub(crate) host: Option<HeaderValue>,
}

/// The service under the cache, above the upstream client: adds the
/// proxy's forwarding headers to each request that does go upstream (a hit
/// never pays for them).
#[derive(Debug, Clone)]
pub(crate) struct AddForwarding<S>(pub(crate) S);

impl<S, B> tower::Service<http::Request<B>> for AddForwarding<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match request.extensions_mut().remove::<Client>() {
            Some(client) => set_own(request.headers_mut(), client.peer, client.host.as_ref()),
            // A request the cache made up (a retry without the client's
            // extensions): say who forwarded it at least.
            None => add_via(request.headers_mut()),
        }
        self.0.call(request)
    }
}

/// Sets the proxy's own forwarding headers on a request going upstream:
/// `X-Forwarded-For` (appended to a trusted chain), `X-Forwarded-Host` and
/// `X-Forwarded-Proto` (kept when a trusted peer set them), `Forwarded`
/// (appended) and `Via`. From an untrusted peer, [`strip_overrides`] has
/// removed the client's already.
pub(crate) fn set_own(headers: &mut HeaderMap, peer: IpAddr, host: Option<&HeaderValue>) {
    let peer_text = peer.to_string();
    let xff = HeaderName::from_static("x-forwarded-for");
    let chain = headers
        .get_all(&xff)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let chain = if chain.is_empty() {
        peer_text.clone()
    } else {
        format!("{chain}, {peer_text}")
    };
    insert(headers, xff, &chain);
    let xfh = HeaderName::from_static("x-forwarded-host");
    if !headers.contains_key(&xfh)
        && let Some(host) = host
    {
        headers.insert(xfh, host.clone());
    }
    let xfp = HeaderName::from_static("x-forwarded-proto");
    if !headers.contains_key(&xfp) {
        headers.insert(xfp, HeaderValue::from_static("http"));
    }
    // RFC 7239: an IPv6 address is quoted and bracketed.
    let node = match peer {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut forwarded = format!("for={node};proto=http");
    if let Some(host) = host.and_then(|h| h.to_str().ok())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        forwarded.push_str(";host=");
        forwarded.push_str(host);
    }
    let forwarded = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(chain) => format!("{chain}, {forwarded}"),
        None => forwarded,
    };
    insert(headers, header::FORWARDED, &forwarded);
    add_via(headers);
}

/// Appends the proxy to `Via` (RFC 9110 section 7.6.3), on requests and
/// responses alike.
pub(crate) fn add_via(headers: &mut HeaderMap) {
    match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(chain) => {
            let via = format!("{chain}, 1.1 reqcache");
            insert(headers, header::VIA, &via);
        }
        None => {
            headers.insert(header::VIA, HeaderValue::from_static("1.1 reqcache"));
        }
    }
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn an_untrusted_peers_overrides_are_replaced_by_the_proxys_own() {
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/admin"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("forwarded", "for=6.6.6.6;host=evil.example"),
            ("x-http-method-override", "DELETE"),
            ("accept", "text/html"),
        ]);
        let host = HeaderValue::from_static("shop.example");
        strip_overrides(&mut h);
        set_own(&mut h, "10.0.0.7".parse().unwrap(), Some(&host));
        assert_eq!(h["x-forwarded-for"], "10.0.0.7");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["forwarded"], "for=10.0.0.7;proto=http;host=shop.example");
        assert_eq!(h["via"], "1.1 reqcache");
        for gone in [
            "x-forwarded-prefix",
            "x-original-url",
            "x-rewrite-url",
            "x-http-method-override",
        ] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert_eq!(h["accept"], "text/html");
    }

    #[test]
    fn a_trusted_peers_chain_is_kept_and_extended() {
        let mut h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.9;proto=https"),
            ("via", "1.1 lb"),
        ]);
        set_own(&mut h, "::1".parse().unwrap(), None);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, ::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.9;proto=https, for=\"[::1]\";proto=http"
        );
        assert_eq!(h["via"], "1.1 lb, 1.1 reqcache");
    }
}
