//! [`CacheMode`] and [`Heuristic`]: what kind of cache this is, and how it
//! guesses freshness.

use std::time::Duration;

/// Whether the cache serves one user (a client's cache) or many (a proxy).
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, CacheMode, MemoryStorage};
///
/// let proxy_cache = CacheLayer::builder(MemoryStorage::new())
///     .mode(CacheMode::Shared)
///     .build();
/// # let _ = proxy_cache;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheMode {
    /// A private cache, like a browser's (the default): `s-maxage` is ignored,
    /// `private` responses are stored.
    #[default]
    Private,
    /// A shared cache, like a proxy's: `s-maxage` wins over `max-age`,
    /// `private` responses are not stored, `proxy-revalidate` counts as
    /// `must-revalidate`, and responses to requests with `Authorization` are
    /// stored only when the response allows it (`public`, `s-maxage` or
    /// `must-revalidate`).
    Shared,
}

/// Heuristic freshness for responses without explicit freshness (RFC 9111
/// section 4.2.2): a fraction of the time since `Last-Modified`, capped.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::Heuristic;
///
/// let heuristic = Heuristic::default(); // 10%, at most one day
/// assert_eq!(heuristic.fraction, 0.1);
/// let strict = Heuristic { fraction: 0.05, max: Duration::from_secs(3600) };
/// # let _ = strict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heuristic {
    /// The fraction of the time since `Last-Modified` (RFC 9111 suggests 10%).
    pub fraction: f64,
    /// The longest heuristic lifetime.
    pub max: Duration,
}

impl Default for Heuristic {
    fn default() -> Self {
        Self {
            fraction: 0.1,
            max: Duration::from_secs(86_400),
        }
    }
}
