//! [`Rules`]: the settings every policy decision reads.

use std::time::Duration;

use http::{Method, StatusCode};

use super::expiration::{Expiration, StaleWindow, UrlExpiration};
use super::filter::ResponseFilter;
use super::mode::{CacheMode, Heuristic};

/// The settings every decision reads, fixed when the layer is built; see
/// [`CacheLayerBuilder`](crate::CacheLayerBuilder) for what each means.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) allowable_methods: Vec<Method>,
    pub(crate) allowable_codes: Vec<StatusCode>,
    pub(crate) expire_after: Expiration,
    pub(crate) urls_expire_after: UrlExpiration,
    pub(crate) cache_control: bool,
    pub(crate) stale_if_error: StaleWindow,
    pub(crate) stale_while_revalidate: StaleWindow,
    pub(crate) always_revalidate: bool,
    pub(crate) mode: CacheMode,
    pub(crate) heuristic: Option<Heuristic>,
    pub(crate) filter: Option<ResponseFilter>,
    pub(crate) stale_retention: Option<Duration>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            allowable_methods: vec![Method::GET, Method::HEAD],
            allowable_codes: vec![StatusCode::OK],
            expire_after: Expiration::Never,
            urls_expire_after: UrlExpiration::new(),
            cache_control: true,
            stale_if_error: StaleWindow::Off,
            stale_while_revalidate: StaleWindow::Off,
            always_revalidate: false,
            mode: CacheMode::Private,
            heuristic: None,
            filter: None,
            stale_retention: None,
        }
    }
}
