//! Task-scoped switches: caching disabled (or enabled) for everything a future
//! does.

use std::future::Future;

tokio::task_local! {
    static CACHE_DISABLED: bool;
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
    CACHE_DISABLED.scope(true, future).await
}

/// Runs `future` with caching enabled, undoing an enclosing
/// [`with_cache_disabled`].
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
    CACHE_DISABLED.scope(false, future).await
}

/// `true` inside [`with_cache_disabled`] (and not inside a nested
/// [`with_cache_enabled`]).
///
/// # Example
/// ```
/// assert!(!reqcache::is_cache_disabled());
/// ```
pub fn is_cache_disabled() -> bool {
    CACHE_DISABLED
        .try_with(|disabled| *disabled)
        .unwrap_or(false)
}
