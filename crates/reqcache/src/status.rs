//! [`CacheStatus`]: the response extension that says what the cache did.

use std::time::SystemTime;

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
/// assert_eq!(status.outcome, CacheOutcome::Bypassed);
/// assert!(!status.from_cache);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheStatus {
    /// `true` when the body came from storage (a hit, a revalidated entry, or
    /// stale data served on error).
    pub from_cache: bool,
    /// `true` when the response served is past its expiry (stale data served
    /// because upstream failed).
    pub is_expired: bool,
    /// When the served or stored response was received; `None` when nothing
    /// was cached.
    pub created_at: Option<SystemTime>,
    /// When the served or stored response expires; `None` when it never does
    /// or nothing was cached.
    pub expires: Option<SystemTime>,
    /// The cache key, when the request was eligible for caching.
    pub key: Option<CacheKey>,
    /// `true` when upstream confirmed the stored response with a `304`.
    pub revalidated: bool,
    /// What happened, in one word.
    pub outcome: CacheOutcome,
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
    /// Nothing usable was stored; upstream answered and the response was stored.
    Stored,
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
        Self::default()
    }
}
