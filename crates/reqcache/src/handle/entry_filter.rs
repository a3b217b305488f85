//! [`EntryFilter`]: which stored entries a cache-handle call applies to.

use std::time::{Duration, SystemTime};

use crate::key::CacheKey;
use crate::storage::EntryInfo;

/// Selects stored entries for [`CacheHandle::delete_where`](crate::CacheHandle::delete_where)
/// and [`CacheHandle::entries_where`](crate::CacheHandle::entries_where).
///
/// An entry is selected when **any** of the given conditions holds: these
/// keys, these URLs, expired, valid (not expired), older than a duration, or
/// undecodable. A filter with no condition selects nothing.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::{CacheLayer, MemoryStorage};
/// use reqcache::handle::EntryFilter;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let layer = CacheLayer::new(MemoryStorage::new());
/// let cache = layer.cache();
/// let request = http::Request::get("https://example.com/a").body(&b""[..]).unwrap();
/// let deleted = cache
///     .delete_where(
///         &EntryFilter::new()
///             .keys([cache.key_for(&request)])
///             .urls(["https://example.com/b"])
///             .expired()
///             .older_than(Duration::from_secs(86_400))
///             .undecodable(),
///     )
///     .await?;
/// assert_eq!(deleted, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EntryFilter {
    pub(crate) keys: Vec<CacheKey>,
    pub(crate) urls: Vec<String>,
    pub(crate) expired: bool,
    pub(crate) valid: bool,
    pub(crate) older_than: Option<Duration>,
    pub(crate) undecodable: bool,
}

impl EntryFilter {
    /// A filter that selects nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries under these keys (for requests, [`CacheHandle::key_for`](crate::CacheHandle::key_for)).
    pub fn keys<K: Into<CacheKey>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Entries for these URLs (normalized first), whatever their method.
    pub fn urls<U: Into<String>>(mut self, urls: impl IntoIterator<Item = U>) -> Self {
        self.urls.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Entries past their expiry.
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    /// Entries not past their expiry.
    pub fn valid(mut self) -> Self {
        self.valid = true;
        self
    }

    /// Entries received (or last revalidated) longer ago than `age`.
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// Entries whose stored bytes no longer decode (garbage, an older format).
    /// Finding them reads every entry whole, and storages delete what does not
    /// decode as they read it, so listing them removes them too.
    pub fn undecodable(mut self) -> Self {
        self.undecodable = true;
        self
    }

    /// Whether `entry` is selected by the metadata conditions (`urls` must
    /// already be normalized).
    pub(crate) fn matches(&self, entry: &EntryInfo, urls: &[String], now: SystemTime) -> bool {
        self.keys.iter().any(|key| key.as_str() == entry.key)
            || urls.contains(&entry.url)
            || (self.expired && entry.is_expired(now))
            || (self.valid && !entry.is_expired(now))
            || self
                .older_than
                .is_some_and(|age| now.duration_since(entry.created_at).is_ok_and(|a| a > age))
    }
}
