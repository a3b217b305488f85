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
    /// Nothing usable was stored; upstream answered with a storable
    /// response, which is stored behind the answer once its body has been
    /// read to the end within `max_body_size` (a body that turns out larger,
    /// fails or is dropped part way, or a write that fails, is counted in
    /// [`CacheStats`](crate::handle::CacheStats), not here).
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
}
