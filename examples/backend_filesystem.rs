//! The filesystem backend (`reqcache-fs`): one file per response (plus a
//! small metadata sidecar) in a directory; `cache_name` is the directory.
//!
//! Runs anywhere: the cache lives in a temporary directory and the upstream
//! API on 127.0.0.1.
//!
//! Run: `cargo run --example backend_filesystem`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use reqcache::CacheLayer;
use reqcache::storage::Encoded;
use reqcache::storage::Serializer;
use reqcache_fs::FileStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let dir = tempfile::tempdir()?;
    let cache_dir = dir.path().join("http_cache");
    // JSON files, readable with any editor; MessagePack is the default.
    let files = FileStorage::open(&cache_dir).await?;
    let layer = CacheLayer::builder(Encoded::new(files, Serializer::Json))
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run(&format!("files in {}", cache_dir.display()), layer).await
}
