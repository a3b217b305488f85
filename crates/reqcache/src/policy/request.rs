//! Request classification: whether a request uses the cache at all, and
//! what of its headers the rest of the path needs.

use http::{HeaderMap, HeaderName, Method, Uri, header};

use super::cache_control::CacheControl;
use super::expiration::{Expiration, match_target};
use super::rules::Rules;

/// Why a request passes by the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Inside [`with_cache_disabled`](crate::with_cache_disabled).
    Disabled,
    /// [`RequestOptions::bypass`](crate::RequestOptions::bypass).
    Bypass,
    /// The request's own `Cache-Control: no-store`.
    NoStore,
    /// The method is not in `allowable_methods`.
    MethodNotAllowed,
    /// A `Range` request of another method than `GET`: partial content is
    /// never stored, and only a `GET`'s range is answered from the cache.
    Range,
    /// Its expiration (per request, URL pattern or layer) is
    /// [`DoNotCache`](crate::Expiration::DoNotCache).
    DoNotCache,
}

impl Skip {
    /// The reason, as logged.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Disabled => "caching disabled in this scope",
            Self::Bypass => "RequestOptions::bypass",
            Self::NoStore => "request Cache-Control: no-store",
            Self::MethodNotAllowed => "method not in allowable_methods",
            Self::Range => "Range request",
            Self::DoNotCache => "expire_after DoNotCache",
        }
    }
}

/// What the policy makes of a request before any lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Classified {
    /// The request's directives (none when `cache_control` is off).
    pub(crate) directives: CacheControl,
    /// Whether the client sent a conditional request of its own.
    pub(crate) conditional: bool,
    /// Why the cache is left out, if it is.
    pub(crate) skip: Option<Skip>,
    /// Whether, once upstream succeeds, what is stored for the URL is
    /// invalidated (an unsafe method that is not cached, RFC 9111 section 4.4).
    pub(crate) invalidates: bool,
    /// A `GET` with `Range`: answered from a fresh stored complete response
    /// (a `206`), else sent upstream as it is, and nothing stored.
    pub(crate) range: bool,
}

/// Classifies a request: `disabled` is the task scope's switch, `bypass` and
/// `expire_after` the request's options.
pub(crate) fn classify(
    rules: &Rules,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    disabled: bool,
    bypass: bool,
    expire_after: Option<Expiration>,
) -> Classified {
    let flags = RequestFlags::scan(headers);
    let directives = if rules.cache_control && flags.cache_directives {
        CacheControl::parse(headers)
    } else {
        CacheControl::default()
    };
    let method_allowed = method_allowed(rules, method, headers);
    let skip = if disabled {
        Some(Skip::Disabled)
    } else if bypass {
        Some(Skip::Bypass)
    } else if directives.no_store {
        Some(Skip::NoStore)
    } else if !method_allowed {
        Some(Skip::MethodNotAllowed)
    } else if flags.range && method != Method::GET && method != Method::HEAD {
        Some(Skip::Range)
    } else if expiration(rules, uri, headers, expire_after).is_do_not_cache() {
        Some(Skip::DoNotCache)
    } else {
        None
    };
    Classified {
        directives,
        conditional: flags.conditional,
        skip,
        invalidates: !disabled
            && !bypass
            && !method_allowed
            && rules.cache_control
            && !method.is_safe(),
        range: flags.range && method == Method::GET,
    }
}

/// The headers that override a request's method, in the order they are read.
const METHOD_OVERRIDE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Whether a request's method is cacheable, counting method-override headers
/// (a `POST` with `X-HTTP-Method-Override: GET` is a `GET` here).
fn method_allowed(rules: &Rules, method: &Method, headers: &HeaderMap) -> bool {
    // One pass over the (few) headers beats hashing three names.
    let overridden = headers
        .iter()
        .filter_map(|(name, value)| {
            let rank = METHOD_OVERRIDE_HEADERS.iter().position(|o| o == name)?;
            Some((rank, value))
        })
        .min_by_key(|(rank, _)| *rank)
        .and_then(|(_, value)| Method::from_bytes(value.as_bytes()).ok());
    rules
        .allowable_methods
        .contains(overridden.as_ref().unwrap_or(method))
}

/// The expiration that applies to a request, by the guide's precedence
/// below the headers: per request, then the first matching URL pattern, then
/// the layer's `expire_after`.
pub(crate) fn expiration(
    rules: &Rules,
    uri: &Uri,
    headers: &HeaderMap,
    per_request: Option<Expiration>,
) -> Expiration {
    per_request
        .or_else(|| {
            if rules.urls_expire_after.is_empty() {
                return None;
            }
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            rules.urls_expire_after.find_in(&match_target(uri, host))
        })
        .unwrap_or(rules.expire_after)
}

/// `true` when a request carries a credential that shared caches must
/// respect (RFC 9111 section 3.5).
pub(crate) fn has_authorization(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// What the request path needs to know of a request's headers, found in one
/// pass over their names: for the handful of headers a request has, cheaper
/// than a hash lookup per name.
#[derive(Debug, Clone, Copy, Default)]
struct RequestFlags {
    /// `Cache-Control` or `Pragma` present.
    cache_directives: bool,
    /// `Range` present.
    range: bool,
    /// `If-None-Match` or `If-Modified-Since` present.
    conditional: bool,
}

impl RequestFlags {
    fn scan(headers: &HeaderMap) -> Self {
        let mut flags = Self::default();
        for name in headers.keys() {
            if name == header::CACHE_CONTROL || name == header::PRAGMA {
                flags.cache_directives = true;
            } else if name == header::RANGE {
                flags.range = true;
            } else if name == header::IF_NONE_MATCH || name == header::IF_MODIFIED_SINCE {
                flags.conditional = true;
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn uri() -> Uri {
        "http://e.com/".parse().unwrap()
    }

    #[test]
    fn do_not_cache_skips_by_request_pattern_or_layer() {
        let patterned = Rules {
            urls_expire_after: crate::policy::expiration::UrlExpiration::new()
                .pattern("e.com/private", Expiration::DoNotCache)
                .unwrap(),
            ..Rules::default()
        };
        let none = HeaderMap::new();
        let at = |path: &str| -> Uri { format!("http://e.com{path}").parse().unwrap() };
        let skip = |rules: &Rules, path: &str, per_request| {
            classify(
                rules,
                &Method::GET,
                &at(path),
                &none,
                false,
                false,
                per_request,
            )
            .skip
        };
        assert_eq!(skip(&patterned, "/private/1", None), Some(Skip::DoNotCache));
        assert_eq!(skip(&patterned, "/public", None), None);
        assert_eq!(
            skip(&patterned, "/public", Some(Expiration::DoNotCache)),
            Some(Skip::DoNotCache)
        );
        assert_eq!(
            skip(&patterned, "/private/1", Some(Expiration::Never)),
            None,
            "per request wins"
        );
        let layer = Rules {
            expire_after: Expiration::DoNotCache,
            ..Rules::default()
        };
        assert_eq!(skip(&layer, "/x", None), Some(Skip::DoNotCache));
        assert_eq!(skip(&layer, "/x", Some(Expiration::Immediately)), None);
    }

    #[test]
    fn skip_reasons_in_order_of_precedence() {
        let rules = Rules::default();
        let get = Method::GET;
        let cases: [(&Method, HeaderMap, bool, bool, Option<Skip>); 8] = [
            (&get, headers(&[]), false, false, None),
            (&get, headers(&[]), true, true, Some(Skip::Disabled)),
            (
                &get,
                headers(&[("cache-control", "no-store")]),
                false,
                true,
                Some(Skip::Bypass),
            ),
            (
                &get,
                headers(&[("cache-control", "no-store")]),
                false,
                false,
                Some(Skip::NoStore),
            ),
            (
                &Method::POST,
                headers(&[]),
                false,
                false,
                Some(Skip::MethodNotAllowed),
            ),
            (
                &Method::POST,
                headers(&[("x-http-method-override", "GET")]),
                false,
                false,
                None,
            ),
            // A GET's range may be answered from the cache; another method's not.
            (&get, headers(&[("range", "bytes=0-1")]), false, false, None),
            (
                &Method::POST,
                headers(&[("x-http-method-override", "GET"), ("range", "bytes=0-1")]),
                false,
                false,
                Some(Skip::Range),
            ),
        ];
        for (method, headers, disabled, bypass, expected) in cases {
            let classified = classify(
                &rules,
                method,
                &"http://e.com/".parse().unwrap(),
                &headers,
                disabled,
                bypass,
                None,
            );
            assert_eq!(classified.skip, expected, "{method} {headers:?}");
        }
    }

    #[test]
    fn only_uncached_unsafe_methods_invalidate() {
        let rules = Rules::default();
        let none = HeaderMap::new();
        assert!(classify(&rules, &Method::POST, &uri(), &none, false, false, None).invalidates);
        assert!(classify(&rules, &Method::DELETE, &uri(), &none, false, false, None).invalidates);
        assert!(!classify(&rules, &Method::OPTIONS, &uri(), &none, false, false, None).invalidates);
        assert!(!classify(&rules, &Method::POST, &uri(), &none, true, false, None).invalidates);
        assert!(!classify(&rules, &Method::POST, &uri(), &none, false, true, None).invalidates);
        let no_store = headers(&[("cache-control", "no-store")]);
        assert!(classify(&rules, &Method::POST, &uri(), &no_store, false, false, None).invalidates);
        let off = Rules {
            cache_control: false,
            ..Rules::default()
        };
        assert!(!classify(&off, &Method::POST, &uri(), &none, false, false, None).invalidates);
    }

    #[test]
    fn conditional_requests_are_noticed() {
        let rules = Rules::default();
        let conditional = headers(&[("if-none-match", "\"a\"")]);
        assert!(
            classify(
                &rules,
                &Method::GET,
                &uri(),
                &conditional,
                false,
                false,
                None
            )
            .conditional
        );
        assert!(
            !classify(
                &rules,
                &Method::GET,
                &uri(),
                &HeaderMap::new(),
                false,
                false,
                None
            )
            .conditional
        );
    }
}
