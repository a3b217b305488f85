//! requests-cache's patching API — `install_cache()`, `uninstall_cache()`,
//! `is_installed()`, `clear()`, `enabled()`, `disabled()` — in a form that is
//! safe for async, multi-threaded programs.
//!
//! requests-cache patches `requests.Session` for the whole process, which its
//! guide says not to do in multi-threaded programs, next to packages that
//! extend sessions, or inside libraries. Here nothing is patched:
//!
//! * [`install`] sets a process-wide cache that only **installed-cache
//!   services** use: those made by [`InstalledCacheLayer`] (and clients built
//!   on it, such as `reqcache_reqwest::CachedClient::default()`). A plain
//!   [`CacheLayer`] keeps its own cache; code that never opted in is never
//!   touched.
//! * Each request reads the installed cache when it starts, under a lock, so
//!   installing or uninstalling from any thread is safe; a request under way
//!   finishes with the cache it started with.
//! * [`enabled`] and [`disabled`] are scopes over a future: they apply to the
//!   current task and what it awaits, never to other tasks running at the same
//!   time (a task spawned inside does not inherit them).
//!
//! Libraries should not install a cache; they should accept a [`CacheLayer`]
//! (or a service) from the application instead.
//!
//! # Example
//! ```
//! use std::convert::Infallible;
//! use http_body_util::Full;
//! use reqcache::global::{self, InstalledCacheLayer};
//! use reqcache::{CacheLayer, CacheOutcome, CacheStatus, MemoryStorage};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
//!     let response = http::Response::builder()
//!         .header("cache-control", "max-age=60")
//!         .body(Full::new(bytes::Bytes::from_static(b"hello")))
//!         .unwrap();
//!     Ok::<_, Infallible>(response)
//! });
//! let mut client = ServiceBuilder::new().layer(InstalledCacheLayer::new()).service(upstream);
//! let mut outcome = async || {
//!     let request = http::Request::get("https://example.com/").body(Full::default()).unwrap();
//!     let response = client.ready().await.unwrap().call(request).await.unwrap();
//!     response.extensions().get::<CacheStatus>().unwrap().outcome()
//! };
//!
//! // Nothing installed: requests pass through.
//! assert_eq!(outcome().await, CacheOutcome::Bypassed);
//!
//! global::install(CacheLayer::new(MemoryStorage::new()));
//! assert!(global::is_installed());
//! assert_eq!(outcome().await, CacheOutcome::Storing);
//! assert_eq!(outcome().await, CacheOutcome::Hit);
//! assert_eq!(global::disabled(outcome()).await, CacheOutcome::Bypassed);
//!
//! global::clear().await.unwrap();
//! assert_eq!(outcome().await, CacheOutcome::Storing);
//! global::uninstall();
//! assert_eq!(outcome().await, CacheOutcome::Bypassed);
//! # }
//! ```

use std::future::Future;

use tower_layer::Layer;

use crate::layer::CacheLayer;
use crate::scope;
use crate::service::CacheService;
use crate::storage::StorageError;

/// Installs `layer`'s cache as the process-wide cache of installed-cache
/// services, replacing (and returning) the one installed before.
/// requests-cache's `install_cache()`.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, global};
///
/// global::install(CacheLayer::builder(MemoryStorage::new()).expire_after(360));
/// assert!(global::is_installed());
/// # global::uninstall();
/// ```
pub fn install(layer: impl Into<CacheLayer>) -> Option<CacheLayer> {
    scope::install(Some(layer.into().cache().clone())).map(CacheLayer::from_cache)
}

/// Removes the process-wide cache, returning it; installed-cache services
/// pass requests through from then on. requests-cache's `uninstall_cache()`.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, global};
///
/// global::install(CacheLayer::new(MemoryStorage::new()));
/// assert!(global::uninstall().is_some());
/// assert!(!global::is_installed());
/// ```
pub fn uninstall() -> Option<CacheLayer> {
    scope::install(None).map(CacheLayer::from_cache)
}

/// Whether a process-wide cache is installed. requests-cache's
/// `is_installed()`.
///
/// # Example
/// ```
/// assert!(!reqcache::global::is_installed());
/// ```
pub fn is_installed() -> bool {
    scope::installed().is_some()
}

/// The process-wide cache, if one is installed.
///
/// # Example
/// ```
/// assert!(reqcache::global::installed().is_none());
/// ```
pub fn installed() -> Option<CacheLayer> {
    scope::installed().map(CacheLayer::from_cache)
}

/// The cache an installed-cache service would use for a request made here and
/// now: none inside [`disabled`], the scope's own inside [`enabled`], the
/// process-wide one otherwise.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, global};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert!(global::current().is_none());
/// global::enabled(CacheLayer::new(MemoryStorage::new()), async {
///     assert!(global::current().is_some());
/// })
/// .await;
/// # }
/// ```
pub fn current() -> Option<CacheLayer> {
    scope::current_cache().map(CacheLayer::from_cache)
}

/// Deletes every entry of the [`current`] cache; nothing to do when there is
/// none. requests-cache's `clear()`.
///
/// # Errors
/// The storage's error when it could not be cleared.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// reqcache::global::clear().await.unwrap();
/// # }
/// ```
pub async fn clear() -> Result<(), StorageError> {
    match scope::current_cache() {
        Some(cache) => cache.clear().await,
        None => Ok(()),
    }
}

/// Runs `future` with `layer` as the cache of installed-cache services, for
/// the current task and what it awaits only; other tasks keep the
/// process-wide cache. Also undoes an enclosing [`disabled`].
/// requests-cache's `enabled()`.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, global};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CacheLayer::new(MemoryStorage::new());
/// global::enabled(layer, async {
///     // Installed-cache services made or called here use `layer`.
/// })
/// .await;
/// assert!(global::current().is_none());
/// # }
/// ```
pub async fn enabled<F: Future>(layer: impl Into<CacheLayer>, future: F) -> F::Output {
    scope::with_scoped_cache(layer.into().cache().clone(), future).await
}

/// Runs `future` with caching disabled for every request made inside it, by
/// any layer: the current task and what it awaits only. requests-cache's
/// `disabled()`; the same as [`with_cache_disabled`](crate::with_cache_disabled).
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// reqcache::global::disabled(async {
///     assert!(reqcache::is_cache_disabled());
/// })
/// .await;
/// # }
/// ```
pub async fn disabled<F: Future>(future: F) -> F::Output {
    scope::with_cache_disabled(future).await
}

/// A tower layer whose services cache with the [`current`] cache: the one
/// named by an enclosing [`enabled`], else the one [`install`]ed, else none
/// (requests pass through, with a [`CacheStatus`](crate::CacheStatus) of
/// `Bypassed`).
///
/// # Example
/// ```
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use reqcache::global::InstalledCacheLayer;
/// use tower::ServiceBuilder;
///
/// let upstream = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
///     Ok::<_, Infallible>(http::Response::new(Full::<bytes::Bytes>::default()))
/// });
/// let _client = ServiceBuilder::new().layer(InstalledCacheLayer::new()).service(upstream);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InstalledCacheLayer {
    _private: (),
}

impl InstalledCacheLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for InstalledCacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> CacheService<S> {
        CacheService::installed(inner)
    }
}
