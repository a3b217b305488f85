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

/// What a shared cache ([`CacheMode::Shared`]) does with a response that
/// sets a cookie: one user's `Set-Cookie` must never be replayed to another.
/// A private cache stores such responses as they are.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, CacheMode, MemoryStorage, SetCookie};
///
/// let cdn = CacheLayer::builder(MemoryStorage::new())
///     .http_cache(CacheMode::Shared)
///     .shared_set_cookie(SetCookie::StoredWithout)
///     .build();
/// # let _ = cdn;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SetCookie {
    /// Not stored (the default): the response goes to the one client that
    /// asked, and requests waiting on the same fetch go upstream themselves.
    #[default]
    NotStored,
    /// Stored without its `Set-Cookie` fields: the client that asked gets
    /// its cookie, every later answer from the cache has none. For origins
    /// that set tracking or load-balancer cookies on public pages.
    StoredWithout,
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
