//! The MongoDB backends (`reqcache-mongodb`): documents in a collection, and
//! GridFS for large bodies; `cache_name` is the database.
//!
//! Needs a MongoDB server: `docker compose up -d mongo` (the default URL), or
//! set `REQCACHE_MONGODB_URL`. The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_mongodb`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use reqcache::CacheLayer;
use reqcache_mongodb::MongoStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let url = backend_demo::server_url("REQCACHE_MONGODB_URL", "mongodb://127.0.0.1:27017");
    let documents = match MongoStorage::builder(&url, "reqcache_example").open().await {
        Ok(storage) => storage,
        Err(error) => {
            backend_demo::unreachable("MongoDB", &url, "mongo", "REQCACHE_MONGODB_URL", &error)
        }
    };
    let layer = CacheLayer::builder(documents)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("MongoDB documents, database reqcache_example", layer).await?;

    let gridfs = MongoStorage::builder(&url, "reqcache_example")
        .open_gridfs()
        .await?;
    let layer = CacheLayer::builder(gridfs)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("MongoDB GridFS, database reqcache_example", layer).await
}
