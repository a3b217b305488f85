//! Turning a requests-cache style `cache_name` into a database path.

use std::path::{Path, PathBuf};

/// Resolves a `cache_name` as requests-cache does for SQLite: a leading `~`
/// is the home folder, a relative path is relative to the working directory,
/// and a name without an extension gets `.sqlite`.
///
/// # Example
/// ```
/// use std::path::Path;
/// use reqcache_sqlite::resolve_cache_path;
///
/// assert_eq!(resolve_cache_path("http_cache"), Path::new("http_cache.sqlite"));
/// assert_eq!(resolve_cache_path("data/cache.db"), Path::new("data/cache.db"));
/// assert!(!resolve_cache_path("~/cache").starts_with("~"));
/// ```
pub fn resolve_cache_path(cache_name: impl AsRef<Path>) -> PathBuf {
    let name = cache_name.as_ref();
    let mut path = match name.strip_prefix("~") {
        Ok(rest) => match home::home_dir() {
            Some(home) => home.join(rest),
            None => name.to_path_buf(),
        },
        Err(_) => name.to_path_buf(),
    };
    if path.extension().is_none() {
        path.set_extension("sqlite");
    }
    path
}
