//! [`Rules`]: the settings every policy decision reads.

use std::time::Duration;

use http::{Method, StatusCode};

use super::cache_control::CacheControl;
use super::expiration::{Expiration, StaleWindow, UrlExpiration};
use super::filter::ResponseFilter;
use super::mode::{CacheMode, Heuristic, SetCookie};

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
    /// How stale a response may be answered when upstream cannot be reached.
    pub(crate) stale_if_disconnected: StaleWindow,
    pub(crate) always_revalidate: bool,
    pub(crate) mode: CacheMode,
    pub(crate) heuristic: Option<Heuristic>,
    pub(crate) filter: Option<ResponseFilter>,
    pub(crate) stale_retention: Option<Duration>,
    /// RFC 9111 section 3's last condition: a response is stored only when
    /// it has explicit freshness (`max-age`, `s-maxage` in shared mode,
    /// `Expires`), `public`, `private` (private mode), or a heuristically
    /// cacheable status. Off, the layer's `expire_after` may store any
    /// allowed status (requests-cache's behaviour).
    pub(crate) explicit_cacheability: bool,
    /// The targeted `Cache-Control` field (RFC 9213) this cache obeys in
    /// shared mode, lower-cased (`cdn-cache-control`); `None`: none.
    pub(crate) targeted_cache_control: Option<http::HeaderName>,
    /// What shared mode does with `Set-Cookie` responses.
    pub(crate) shared_set_cookie: SetCookie,
}

impl Rules {
    /// Whether answers from the cache, and what is stored, must carry no
    /// `Set-Cookie`: a shared cache never replays one user's cookie.
    pub(crate) fn strips_set_cookie(&self) -> bool {
        self.mode == CacheMode::Shared
    }

    /// The directives a response gives this cache: its targeted field's
    /// (RFC 9213) in shared mode when one is set and present, else its
    /// `Cache-Control`.
    pub(crate) fn response_directives(&self, headers: &http::HeaderMap) -> CacheControl {
        let targeted = self
            .targeted_cache_control
            .as_ref()
            .filter(|_| self.mode == CacheMode::Shared);
        CacheControl::for_response(headers, targeted)
    }
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
            stale_if_disconnected: StaleWindow::Off,
            always_revalidate: false,
            mode: CacheMode::Private,
            heuristic: None,
            filter: None,
            stale_retention: None,
            explicit_cacheability: false,
            targeted_cache_control: None,
            shared_set_cookie: SetCookie::NotStored,
        }
    }
}
