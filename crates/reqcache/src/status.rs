//! [`CacheStatus`]: the response extension that says what the cache did.

use std::fmt::Write as _;
use std::time::SystemTime;

use http::HeaderValue;

use crate::key::CacheKey;

/// What the cache did for one request; every response from a
/// [`CacheService`](crate::CacheService) carries one in its extensions.
///
/// # Example
/// ```
/// use reqcache::{CacheOutcome, CacheStatus};
///
/// let response = http::Response::new(());
/// // A response that did not pass through the layer has none:
/// assert!(response.extensions().get::<CacheStatus>().is_none());
/// let status = CacheStatus::default();
/// assert_eq!(status.outcome(), CacheOutcome::Bypassed);
/// assert!(!status.from_cache());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStatus {
    pub(crate) from_cache: bool,
    pub(crate) is_expired: bool,
    pub(crate) created_at: Option<SystemTime>,
    pub(crate) expires: Option<SystemTime>,
    pub(crate) key: Option<CacheKey>,
    pub(crate) revalidated: bool,
    pub(crate) outcome: CacheOutcome,
    pub(crate) forwarded: Option<Forward>,
}

/// Why a request went upstream: RFC 9211's `fwd` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Forward {
    /// The cache was not used for it (`fwd=bypass`): a method, rule or
    /// setting kept it out, or the request said `no-store`.
    Bypass,
    /// Nothing was stored for its URL and variant (`fwd=uri-miss`).
    UriMiss,
    /// The request asked for a fresh response: `no-cache`, `max-age=0`, a
    /// refresh option (`fwd=request`).
    Request,
    /// A stored response was stale (`fwd=stale`): revalidated, replaced, or
    /// served because upstream failed.
    Stale,
}

impl Forward {
    /// Its name in a `Cache-Status` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::UriMiss => "uri-miss",
            Self::Request => "request",
            Self::Stale => "stale",
        }
    }
}

/// What happened to a request, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// The cache was not consulted: method not allowed, caching disabled,
    /// bypassed, or `no-store` in the request.
    #[default]
    Bypassed,
    /// A fresh stored response answered; upstream was not called.
    Hit,
    /// Nothing usable was stored; upstream answered with a response that
    /// may be stored, and the cache is recording its body to store it. This
    /// is a promise of intent, made before the body arrives: the entry is
    /// written when the body ends, whole, within
    /// [`max_body_size`](crate::CacheLayerBuilder::max_body_size).
    ///
    /// - Read the body to its end: in
    ///   [`WriteMode::Durable`](crate::WriteMode::Durable) (a private
    ///   cache's default) the entry is in storage when the end reaches you;
    ///   in [`WriteMode::Behind`](crate::WriteMode::Behind) it is written
    ///   behind, and [`flush`](crate::CacheHandle::flush) waits for it.
    /// - Drop the body unread: with a `Content-Length` within the limit,
    ///   the [`background_fill`](crate::CacheLayerBuilder::background_fill)
    ///   reads the rest and stores it (`flush` waits for it); without one,
    ///   or with the fill off, nothing is stored.
    /// - A body that turns out larger than the limit, fails part way, or
    ///   whose write fails, is not stored; that is counted in
    ///   [`CacheStats`](crate::handle::CacheStats) and logged, not here.
    ///
    /// Called `Stored` before 0.2: renamed because it was read as a
    /// promise already kept.
    Storing,
    /// Upstream answered and the response was not stored (status, headers,
    /// expiration, size, or a storage failure).
    NotStored,
    /// A stale entry was confirmed by upstream (`304`) and served.
    Revalidated,
    /// Upstream failed and a stale entry was served (`stale_if_error`, or
    /// the response's own `stale-if-error`).
    StaleOnError,
    /// A stale entry within its `stale-while-revalidate` window was served
    /// at once, and is being refreshed in the background.
    StaleWhileRevalidate,
    /// `only_if_cached` and nothing fresh was stored: a `504` was answered.
    OnlyIfCachedMiss,
}

impl CacheStatus {
    pub(crate) fn bypassed() -> Self {
        Self {
            forwarded: Some(Forward::Bypass),
            ..Self::default()
        }
    }

    /// `true` when the body came from storage (a hit, a revalidated entry, or
    /// stale data served on error).
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// `true` when the response served is past its expiry (stale data served
    /// because upstream failed, or within `stale-while-revalidate`).
    pub fn is_expired(&self) -> bool {
        self.is_expired
    }

    /// When the served or stored response was generated; `None` when nothing
    /// was cached.
    pub fn created_at(&self) -> Option<SystemTime> {
        self.created_at
    }

    /// When the served or stored response expires; `None` when it never does
    /// or nothing was cached.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }

    /// The cache key, when the request was eligible for caching.
    pub fn key(&self) -> Option<&CacheKey> {
        self.key.as_ref()
    }

    /// `true` when upstream confirmed the stored response with a `304`.
    pub fn revalidated(&self) -> bool {
        self.revalidated
    }

    /// What happened, in one word.
    pub fn outcome(&self) -> CacheOutcome {
        self.outcome
    }

    /// Why the request went upstream; `None` when it did not (a hit, an
    /// `only-if-cached` miss).
    pub fn forwarded(&self) -> Option<Forward> {
        self.forwarded
    }

    /// This status as one member of an RFC 9211 `Cache-Status` field, for a
    /// cache called `cache` (a token, such as `reqcache`; anything else is
    /// sent as a quoted string) at `now`: `hit` and `ttl` (seconds of
    /// freshness left, negative when stale) for answers from the cache;
    /// `fwd` (with `fwd-status=304` for a revalidation) and `stored` for
    /// requests that went upstream; `detail` for stale answers and
    /// `only-if-cached` misses.
    ///
    /// # Example
    /// ```
    /// use std::time::SystemTime;
    /// use reqcache::CacheStatus;
    ///
    /// let bypassed = CacheStatus::default();
    /// assert_eq!(bypassed.cache_status("reqcache", SystemTime::now()), "reqcache; fwd=bypass");
    /// ```
    pub fn cache_status(&self, cache: &str, now: SystemTime) -> HeaderValue {
        let mut text = String::with_capacity(48);
        let token = !cache.is_empty()
            && cache.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphabetic()
                    || b == b'*'
                    || (i > 0 && (b.is_ascii_digit() || b"!#$%&'*+-.^_`|~:/".contains(&b)))
            });
        if token {
            text.push_str(cache);
        } else {
            text.push('"');
            for c in cache.chars().filter(|c| (' '..='~').contains(c)) {
                if c == '"' || c == '\\' {
                    text.push('\\');
                }
                text.push(c);
            }
            text.push('"');
        }
        let outcome = self.outcome;
        if matches!(
            outcome,
            CacheOutcome::Hit | CacheOutcome::StaleWhileRevalidate
        ) {
            text.push_str("; hit");
        }
        let forwarded = match outcome {
            CacheOutcome::Bypassed => Some(Forward::Bypass),
            CacheOutcome::Revalidated | CacheOutcome::StaleOnError => Some(Forward::Stale),
            CacheOutcome::Storing | CacheOutcome::NotStored => {
                Some(self.forwarded.unwrap_or(Forward::UriMiss))
            }
            _ => None,
        };
        if let Some(forwarded) = forwarded {
            let _ = write!(text, "; fwd={}", forwarded.as_str());
        }
        if outcome == CacheOutcome::Revalidated {
            text.push_str("; fwd-status=304");
        }
        if outcome == CacheOutcome::Storing {
            text.push_str("; stored");
        }
        if self.created_at.is_some()
            && outcome != CacheOutcome::NotStored
            && let Some(expires) = self.expires
        {
            // Rounded: ages count from whole-second dates.
            let ttl = match expires.duration_since(now) {
                Ok(left) => left.as_secs_f64().round() as i64,
                Err(past) => -(past.duration().as_secs_f64().round() as i64),
            };
            let _ = write!(text, "; ttl={ttl}");
        }
        let detail = match outcome {
            CacheOutcome::StaleOnError => Some("stale-if-error"),
            CacheOutcome::StaleWhileRevalidate => Some("stale-while-revalidate"),
            CacheOutcome::OnlyIfCachedMiss => Some("only-if-cached"),
            _ => None,
        };
        if let Some(detail) = detail {
            let _ = write!(text, "; detail={detail}");
        }
        // Only visible ASCII was written.
        HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("reqcache"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cache_status_members_for_each_outcome() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let status = |outcome, expires: Option<u64>, forwarded| CacheStatus {
            from_cache: matches!(outcome, CacheOutcome::Hit),
            created_at: Some(SystemTime::UNIX_EPOCH),
            expires: expires.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
            outcome,
            forwarded,
            ..CacheStatus::default()
        };
        let text =
            |s: CacheStatus, name: &str| s.cache_status(name, now).to_str().unwrap().to_owned();
        assert_eq!(
            text(status(CacheOutcome::Hit, Some(1_060), None), "c"),
            "c; hit; ttl=60"
        );
        assert_eq!(
            text(
                status(CacheOutcome::StaleOnError, Some(990), Some(Forward::Stale)),
                "c"
            ),
            "c; fwd=stale; ttl=-10; detail=stale-if-error"
        );
        assert_eq!(
            text(
                status(CacheOutcome::Storing, None, Some(Forward::Request)),
                "c"
            ),
            "c; fwd=request; stored"
        );
        assert_eq!(
            text(status(CacheOutcome::OnlyIfCachedMiss, None, None), "c"),
            "c; detail=only-if-cached"
        );
        // A name that is not a token is sent as a quoted string.
        assert_eq!(
            text(CacheStatus::bypassed(), "my \"edge\" cache"),
            "\"my \\\"edge\\\" cache\"; fwd=bypass"
        );
    }
}
