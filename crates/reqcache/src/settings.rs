//! The layer's settings, fixed when it is built and shared by every service.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method, StatusCode, request, response};

use crate::expiration::{Expiration, UrlExpiration};
use crate::freshness::{CacheMode, Heuristic};
use crate::normalize::KeySettings;

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
    pub(crate) always_revalidate: bool,
    pub(crate) read_only: bool,
    pub(crate) filter: Option<ResponseFilter>,
    pub(crate) mode: CacheMode,
    pub(crate) heuristic: Option<Heuristic>,
    pub(crate) key: KeySettings,
}

/// The headers that override a request's method, in the order they are read.
const METHOD_OVERRIDE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

impl CacheSettings {
    /// Whether `request`'s method is cacheable, counting method-override
    /// headers (a `POST` with `X-HTTP-Method-Override: GET` is a `GET` here).
    pub(crate) fn method_allowed(&self, method: &Method, headers: &http::HeaderMap) -> bool {
        // One pass over the (few) headers beats hashing three names.
        let overridden = headers
            .iter()
            .filter_map(|(name, value)| {
                let rank = METHOD_OVERRIDE_HEADERS.iter().position(|o| o == name)?;
                Some((rank, value))
            })
            .min_by_key(|(rank, _)| *rank)
            .and_then(|(_, value)| Method::from_bytes(value.as_bytes()).ok());
        self.allowable_methods
            .contains(overridden.as_ref().unwrap_or(method))
    }
}

/// The signature of a user's filter.
type FilterFn = dyn Fn(&request::Parts, &response::Parts) -> bool + Send + Sync;

/// A user's decision whether to store a response.
#[derive(Clone)]
pub(crate) struct ResponseFilter(pub(crate) Arc<FilterFn>);

impl fmt::Debug for ResponseFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFilter(..)")
    }
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
            always_revalidate: false,
            read_only: false,
            filter: None,
            mode: CacheMode::Private,
            heuristic: None,
            key: KeySettings::default(),
        }
    }
}
