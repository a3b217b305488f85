//! The layer's settings, fixed when it is built and shared by every service.

use std::time::Duration;

use http::{Method, StatusCode};

use crate::expiration::{Expiration, UrlExpiration};
use crate::key::KeySettings;

/// The default largest response body buffered for caching: 8 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 8 * 1024 * 1024;

/// Every setting of a [`CacheLayer`](crate::CacheLayer); see
/// [`CacheLayerBuilder`](crate::CacheLayerBuilder) for what each means.
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    pub(crate) allowable_methods: Vec<Method>,
    pub(crate) allowable_codes: Vec<StatusCode>,
    pub(crate) expire_after: Expiration,
    pub(crate) urls_expire_after: UrlExpiration,
    pub(crate) cache_control: bool,
    pub(crate) stale_if_error: bool,
    pub(crate) max_body_size: usize,
    pub(crate) stale_retention: Option<Duration>,
    pub(crate) single_flight: bool,
    pub(crate) key: KeySettings,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            allowable_methods: vec![Method::GET, Method::HEAD],
            allowable_codes: vec![StatusCode::OK],
            expire_after: Expiration::Never,
            urls_expire_after: UrlExpiration::new(),
            cache_control: true,
            stale_if_error: false,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            stale_retention: None,
            single_flight: true,
            key: KeySettings::default(),
        }
    }
}
