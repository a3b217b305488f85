//! [`RequestOptions`]: per-request cache settings carried in request extensions.

use crate::policy::expiration::{Expiration, StaleWindow};

/// Per-request cache settings. Put one in the request's extensions.
///
/// # Example
/// ```
/// use reqcache::RequestOptions;
///
/// let request = http::Request::builder()
///     .uri("https://example.com/")
///     .extension(RequestOptions::new().expire_after(60).only_if_cached())
///     .body(())
///     .unwrap();
/// assert!(request.extensions().get::<RequestOptions>().unwrap().is_only_if_cached());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct RequestOptions {
    pub(crate) expire_after: Option<Expiration>,
    pub(crate) only_if_cached: bool,
    pub(crate) refresh: bool,
    pub(crate) force_refresh: bool,
    pub(crate) bypass: bool,
    pub(crate) stale_while_revalidate: Option<StaleWindow>,
}

impl RequestOptions {
    /// No per-request settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expiration for this request's response; beats `urls_expire_after` and
    /// the layer's `expire_after`, loses to Cache-Control headers when
    /// `cache_control` is on (the guide's precedence).
    pub fn expire_after(mut self, expire_after: impl Into<Expiration>) -> Self {
        self.expire_after = Some(expire_after.into());
        self
    }

    /// Answer only from the cache: a fresh stored response, or a `504 Gateway
    /// Timeout` without calling upstream (stale data too when the layer has
    /// `stale_if_error`).
    pub fn only_if_cached(mut self) -> Self {
        self.only_if_cached = true;
        self
    }

    /// Revalidate a stored response even when fresh: a conditional request
    /// when it has validators, a full request otherwise.
    pub fn refresh(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Ignore the stored response: fetch, then store the new one.
    pub fn force_refresh(mut self) -> Self {
        self.force_refresh = true;
        self
    }

    /// Answer an expired entry at once when it is at most this stale (`true`:
    /// however stale), and refresh it in the background, once per key;
    /// overrides the layer's
    /// [`stale_while_revalidate`](crate::CacheLayerBuilder::stale_while_revalidate)
    /// for this request (`false` turns it off).
    ///
    /// ```
    /// use std::time::Duration;
    /// use reqcache::RequestOptions;
    ///
    /// let options = RequestOptions::new().stale_while_revalidate(Duration::from_secs(30));
    /// # let _ = options;
    /// ```
    pub fn stale_while_revalidate(mut self, window: impl Into<StaleWindow>) -> Self {
        self.stale_while_revalidate = Some(window.into());
        self
    }

    /// Leave the cache out of this request entirely: no read, no write.
    pub fn bypass(mut self) -> Self {
        self.bypass = true;
        self
    }

    /// The per-request expiration, if set.
    pub fn get_expire_after(&self) -> Option<Expiration> {
        self.expire_after
    }

    /// Whether [`only_if_cached`](Self::only_if_cached) is set.
    pub fn is_only_if_cached(&self) -> bool {
        self.only_if_cached
    }

    /// Whether [`refresh`](Self::refresh) is set.
    pub fn is_refresh(&self) -> bool {
        self.refresh
    }

    /// Whether [`force_refresh`](Self::force_refresh) is set.
    pub fn is_force_refresh(&self) -> bool {
        self.force_refresh
    }

    /// Whether [`bypass`](Self::bypass) is set.
    pub fn is_bypass(&self) -> bool {
        self.bypass
    }
}
