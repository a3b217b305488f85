//! The Redis backend (`reqcache-redis`): `cache_name` is the key namespace.
//!
//! The Redis server: `REQCACHE_REDIS_URL` if set, else one on 127.0.0.1:6379
//! (`docker compose up -d redis`), else a throwaway `redis-server` on a free
//! loopback port (installed by `scripts/test.sh`). The upstream API runs on
//! 127.0.0.1.
//!
//! Run: `cargo run --example backend_redis`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use backend_demo::Server;
use reqcache::CacheLayer;
use reqcache_redis::RedisStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let server = Server::find("REQCACHE_REDIS_URL", "redis://", 6379, |port| {
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        ("redis-server".to_owned(), args.map(str::to_owned).to_vec())
    })
    .await?;
    let storage = RedisStorage::builder(&server.url)
        .namespace("reqcache-example")
        .open()
        .await?;
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("Redis, namespace reqcache-example", layer).await
}
