//! Choosing a storage from a command-line string.

use std::sync::Arc;

use reqcache::storage::{Storage, StorageErrorKind};
use reqcache::{MemoryStorage, StorageError};
use reqcache_redis::RedisStorage;
use reqcache_sqlite::SqliteStorage;

/// Opens the storage a string names:
///
/// | string | storage |
/// |---|---|
/// | `memory` | [`MemoryStorage`] with its default bounds |
/// | `sqlite:PATH` | [`SqliteStorage`] at `PATH` (`~`, relative, `.sqlite` added) |
/// | `redis://…`, `rediss://…` | [`RedisStorage`], namespace `reqcache` |
/// | `redis://…#NAMESPACE` | [`RedisStorage`] under `NAMESPACE` |
///
/// # Errors
/// [`StorageErrorKind::Config`] for an unknown form; the storage's own errors
/// when it cannot be opened.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = reqcache_cli::storage::open("memory").await?;
/// assert_eq!(storage.len().await?, 0);
/// assert!(reqcache_cli::storage::open("floppy:a").await.is_err());
/// # Ok(()) }
/// ```
pub async fn open(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    open_with(spec, false).await
}

/// [`open`] for a server: a network storage (Redis) connects on first use,
/// so the proxy starts while it is down and goes upstream until it is back
/// (the layer's storage breaker skips it meanwhile). A bad URL is still an
/// error at once.
///
/// # Errors
/// As [`open`], but never because a Redis server is unreachable.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// // Nothing listens on port 1: the storage opens all the same.
/// let storage = reqcache_cli::storage::open_lazily("redis://127.0.0.1:1").await?;
/// assert!(storage.len().await.is_err());
/// # Ok(()) }
/// ```
pub async fn open_lazily(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    open_with(spec, true).await
}

async fn open_with(spec: &str, lazy: bool) -> Result<Arc<dyn Storage>, StorageError> {
    if spec == "memory" {
        return Ok(Arc::new(MemoryStorage::new()));
    }
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return Ok(Arc::new(SqliteStorage::open(path).await?));
    }
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        let (url, namespace) = spec.split_once('#').unwrap_or((spec, "reqcache"));
        return Ok(Arc::new(
            RedisStorage::builder(url)
                .namespace(namespace)
                .lazy(lazy)
                .open()
                .await?,
        ));
    }
    Err(StorageError::new(
        StorageErrorKind::Config,
        format!(
            "unknown storage {spec:?}: use memory, sqlite:PATH or redis://HOST[:PORT][#NAMESPACE]"
        ),
    ))
}
