//! The SQLite backend (`reqcache-sqlite`), the embedded default: one database
//! file; `cache_name` is its path (`.sqlite` is added).
//!
//! Runs anywhere: the database lives in a temporary directory and the
//! upstream API on 127.0.0.1. (`quickstart` shows it under hyper's client.)
//!
//! Run: `cargo run --example backend_sqlite`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use reqcache::CacheLayer;
use reqcache_sqlite::SqliteStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let dir = tempfile::tempdir()?;
    let storage = SqliteStorage::open(dir.path().join("http_cache")).await?;
    let what = format!("SQLite file {}", storage.path().display());
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run(&what, layer).await
}
