//! Lenient parsing of `Cache-Control` (and `Pragma: no-cache`).
//!
//! Unknown directives, duplicates, odd spacing and case, quoted values and
//! malformed numbers are handled without error: what is not understood is
//! ignored, and conflicting duplicates resolve to the most conservative value.

use http::{HeaderMap, HeaderName, header};

use super::targeted;

/// Delta-seconds above this are treated as this (RFC 9111 section 1.2.2).
pub(crate) const MAX_DELTA_SECONDS: u64 = 2_147_483_648;

/// The directives of every `Cache-Control` field of a request or response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
    /// `max-stale`; without a value, any staleness (`u64::MAX`).
    pub(crate) max_stale: Option<u64>,
    pub(crate) min_fresh: Option<u64>,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) stale_if_error: Option<u64>,
    pub(crate) no_cache: bool,
    pub(crate) no_store: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) proxy_revalidate: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) immutable: bool,
    pub(crate) only_if_cached: bool,
    /// `must-understand` (RFC 9111 section 5.2.2.3): store only a status
    /// code the cache understands, and then ignore `no-store`.
    pub(crate) must_understand: bool,
    /// Read from a targeted field (RFC 9213, `CDN-Cache-Control`), not from
    /// `Cache-Control`: the response's `Expires` is then ignored too.
    pub(crate) targeted: bool,
}

impl CacheControl {
    /// Parses every `Cache-Control` field in `headers`; with none, a
    /// `Pragma: no-cache` counts as `no-cache`.
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        let mut any = false;
        for value in headers.get_all(header::CACHE_CONTROL) {
            any = true;
            // A field with non-visible bytes is not understood: skip it.
            let Ok(text) = value.to_str() else { continue };
            for (name, argument) in directives(text) {
                cc.apply(name, argument);
            }
        }
        if !any {
            cc.no_cache = headers.get_all(header::PRAGMA).iter().any(|value| {
                value.to_str().is_ok_and(|text| {
                    directives(text).any(|(name, _)| name.eq_ignore_ascii_case("no-cache"))
                })
            });
        }
        cc
    }

    /// The directives a response gives this cache: those of the `targeted`
    /// field (RFC 9213 section 2.2) when the response carries it with at
    /// least one directive and as a valid dictionary, else those of its
    /// `Cache-Control`.
    pub(crate) fn for_response(headers: &HeaderMap, targeted: Option<&HeaderName>) -> Self {
        if let Some(name) = targeted {
            let mut cc = Self::default();
            // Field lines combine into one dictionary (RFC 8941 section 3.2).
            let mut lines = headers.get_all(name).iter().peekable();
            if lines.peek().is_some() {
                let combined = lines
                    .map(|value| value.to_str().ok())
                    .collect::<Option<Vec<_>>>()
                    .map(|lines| lines.join(", "));
                if let Some(members) = combined.as_deref().and_then(targeted::directives)
                    && !members.is_empty()
                {
                    cc.targeted = true;
                    for (name, argument) in members {
                        cc.apply(name, argument);
                    }
                    return cc;
                }
            }
        }
        Self::parse(headers)
    }

    fn apply(&mut self, name: &str, argument: Option<&str>) {
        let seconds = || argument.and_then(parse_delta_seconds);
        // Conflicting duplicates: the smallest lifetime wins.
        let min = |old: Option<u64>, new: Option<u64>| match (old, new) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match name.to_ascii_lowercase().as_str() {
            "max-age" => self.max_age = min(self.max_age, seconds()),
            "s-maxage" => self.s_maxage = min(self.s_maxage, seconds()),
            "min-fresh" => self.min_fresh = self.min_fresh.max(seconds()),
            "max-stale" => {
                let allowed = match argument {
                    None => Some(u64::MAX),
                    Some(_) => seconds(),
                };
                self.max_stale = min(self.max_stale, allowed);
            }
            "stale-while-revalidate" => {
                self.stale_while_revalidate = min(self.stale_while_revalidate, seconds());
            }
            "stale-if-error" => self.stale_if_error = min(self.stale_if_error, seconds()),
            // Qualified forms (`no-cache="set-cookie"`, `private="x"`) are
            // treated as the unqualified ones: the conservative reading.
            "no-cache" => self.no_cache = true,
            "no-store" => self.no_store = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "immutable" => self.immutable = true,
            "only-if-cached" => self.only_if_cached = true,
            "must-understand" => self.must_understand = true,
            _ => {}
        }
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

/// Delta-seconds: digits, optionally quoted; anything else is not a number.
pub(crate) fn parse_delta_seconds(argument: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_headers::headers;
    use http::HeaderValue;

    #[test]
    fn parses_leniently() {
        let cc = CacheControl::parse(&headers(&[(
            "cache-control",
            "  Max-Age=\"60\" ,, foo=\"a,b\", NO-STORE, private=\"x, y\", S-MAXAGE=5, Immutable",
        )]));
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(5));
        assert!(cc.no_store && cc.private && cc.immutable);
        assert!(!cc.no_cache && !cc.public);
    }

    #[test]
    fn malformed_values_are_ignored_and_duplicates_take_the_minimum() {
        let cc = CacheControl::parse(&headers(&[
            ("cache-control", "max-age=abc, max-age=-1, max-age="),
            (
                "cache-control",
                "max-age=100, max-age=30, min-fresh=5, min-fresh=9",
            ),
        ]));
        assert_eq!(cc.max_age, Some(30));
        assert_eq!(cc.min_fresh, Some(9));
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
    fn max_stale_without_a_value_allows_any_staleness() {
        let cc = CacheControl::parse(&headers(&[("cache-control", "max-stale")]));
        assert_eq!(cc.max_stale, Some(u64::MAX));
        let cc = CacheControl::parse(&headers(&[(
            "cache-control",
            "max-stale=10, only-if-cached",
        )]));
        assert_eq!(cc.max_stale, Some(10));
        assert!(cc.only_if_cached);
    }

    #[test]
    fn pragma_no_cache_counts_only_without_cache_control() {
        assert!(CacheControl::parse(&headers(&[("pragma", "no-cache")])).no_cache);
        let both = headers(&[("pragma", "no-cache"), ("cache-control", "max-age=5")]);
        assert!(!CacheControl::parse(&both).no_cache);
    }
}
