//! The process-wide client for requests-cache's patching style: `get(url)`
//! after [`reqcache::global::install`].

use std::sync::OnceLock;

use reqwest::IntoUrl;

use crate::client::CachedClient;

/// The process-wide [`CachedClient::installed`] client: it caches with the
/// installed cache (or a scope's own, see [`reqcache::global`]), and passes
/// requests straight to reqwest when none is installed. Created on first use;
/// one connection pool for the process.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, global};
///
/// global::install(CacheLayer::new(MemoryStorage::new()));
/// assert!(reqcache_reqwest::global_client().cache().is_some());
/// global::uninstall();
/// assert!(reqcache_reqwest::global_client().cache().is_none());
/// ```
pub fn global_client() -> &'static CachedClient {
    static CLIENT: OnceLock<CachedClient> = OnceLock::new();
    CLIENT.get_or_init(CachedClient::installed)
}

/// A `GET` with the [`global_client`]: requests-cache's patched
/// `requests.get(url)`, and reqwest's `reqwest::get(url)`.
///
/// # Errors
/// reqwest's errors; the cache never fails a request.
///
/// # Example
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), reqwest::Error> {
/// reqcache::global::install(reqcache::CacheLayer::new(reqcache::MemoryStorage::new()));
/// let body = reqcache_reqwest::get("http://127.0.0.1:8080/").await?.text().await?;
/// # let _ = body; Ok(()) }
/// ```
pub async fn get(url: impl IntoUrl) -> reqwest::Result<reqwest::Response> {
    global_client().get(url).send().await
}
