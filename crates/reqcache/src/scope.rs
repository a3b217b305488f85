//! Where a request's cache comes from: task-scoped switches (caching
//! disabled, or enabled, optionally with a cache of its own, for everything a
//! future does) and the process-wide installed cache of
//! [`global`](crate::global).
//!
//! The scope is a tokio task-local: it applies to the future it wraps and to
//! what that future awaits, never to other tasks, and a task spawned inside
//! does not inherit it. This is what makes requests-cache's
//! `disabled()` / `enabled()` context managers safe in a multi-threaded async
//! program.

use std::future::Future;
use std::sync::{PoisonError, RwLock};

use crate::handle::CacheHandle;

/// The process-wide cache of installed-cache services.
static INSTALLED: RwLock<Option<CacheHandle>> = RwLock::new(None);

/// What the enclosing scope says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// Inside [`with_cache_disabled`] (and no nested [`with_cache_enabled`]).
    pub(crate) disabled: bool,
    /// The cache named by the nearest [`global::enabled`](crate::global::enabled),
    /// used by installed-cache services.
    pub(crate) cache: Option<CacheHandle>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `future` with caching disabled for every request made inside it: the
/// layer neither reads nor writes. It applies to the current task and what it
/// awaits, never to other tasks; a task spawned inside does not inherit it.
///
/// This is requests-cache's `cache_disabled()` / `disabled()`, made safe for
/// async and multi-threaded programs.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert!(!reqcache::is_cache_disabled());
/// reqcache::with_cache_disabled(async {
///     assert!(reqcache::is_cache_disabled());
/// })
/// .await;
/// # }
/// ```
pub async fn with_cache_disabled<F: Future>(future: F) -> F::Output {
    SCOPE
        .scope(
            Scope {
                disabled: true,
                ..current().unwrap_or_default()
            },
            future,
        )
        .await
}

/// Runs `future` with caching enabled, undoing an enclosing
/// [`with_cache_disabled`]. A cache named by an enclosing
/// [`global::enabled`](crate::global::enabled) stays in force.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// reqcache::with_cache_disabled(reqcache::with_cache_enabled(async {
///     assert!(!reqcache::is_cache_disabled());
/// }))
/// .await;
/// # }
/// ```
pub async fn with_cache_enabled<F: Future>(future: F) -> F::Output {
    SCOPE
        .scope(
            Scope {
                disabled: false,
                ..current().unwrap_or_default()
            },
            future,
        )
        .await
}

/// Runs `future` with caching enabled and `cache` as the cache of
/// installed-cache services (see [`global`](crate::global)).
pub(crate) async fn with_scoped_cache<F: Future>(cache: CacheHandle, future: F) -> F::Output {
    SCOPE
        .scope(
            Scope {
                disabled: false,
                cache: Some(cache),
            },
            future,
        )
        .await
}

/// `true` inside [`with_cache_disabled`] (and not inside a nested
/// [`with_cache_enabled`]).
///
/// # Example
/// ```
/// assert!(!reqcache::is_cache_disabled());
/// ```
pub fn is_cache_disabled() -> bool {
    SCOPE.try_with(|scope| scope.disabled).unwrap_or(false)
}

/// The enclosing scope, if any.
fn current() -> Option<Scope> {
    SCOPE.try_with(Scope::clone).ok()
}

/// Sets (or with `None`, removes) the process-wide cache, returning the one
/// before.
pub(crate) fn install(cache: Option<CacheHandle>) -> Option<CacheHandle> {
    let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
    std::mem::replace(&mut *installed, cache)
}

/// The process-wide cache, if one is installed.
pub(crate) fn installed() -> Option<CacheHandle> {
    INSTALLED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The cache an installed-cache service uses for a request made here and
/// now: none inside a disabled scope, the scope's own inside an enabled one,
/// the process-wide one otherwise.
pub(crate) fn current_cache() -> Option<CacheHandle> {
    match current() {
        Some(scope) if scope.disabled => None,
        Some(scope) if scope.cache.is_some() => scope.cache,
        _ => installed(),
    }
}
