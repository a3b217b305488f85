//! The Redis backend (`reqcache-redis`): `cache_name` is the key namespace.
//!
//! Needs a Redis server: `docker compose up -d redis` (the default URL), or
//! set `REQCACHE_REDIS_URL`. The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_redis`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use reqcache::CacheLayer;
use reqcache_redis::RedisStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let url = backend_demo::server_url("REQCACHE_REDIS_URL", "redis://127.0.0.1:6379");
    let storage = match RedisStorage::builder(&url)
        .namespace("reqcache-example")
        .open()
        .await
    {
        Ok(storage) => storage,
        Err(error) => {
            backend_demo::unreachable("Redis", &url, "redis", "REQCACHE_REDIS_URL", &error)
        }
    };
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("Redis, namespace reqcache-example", layer).await
}
