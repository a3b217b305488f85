//! The MongoDB backends (`reqcache-mongodb`): documents in a collection, and
//! GridFS for large bodies; `cache_name` is the database.
//!
//! The MongoDB server: `REQCACHE_MONGODB_URL` if set, else one on
//! 127.0.0.1:27017 (`docker compose up -d mongo`), else a throwaway
//! SecantusDB (a MongoDB wire-protocol server that `scripts/test.sh` installs
//! into `.venv/`) on a free loopback port. The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_mongodb`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use backend_demo::Server;
use reqcache::CacheLayer;
use reqcache_mongodb::MongoStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let server = Server::find("REQCACHE_MONGODB_URL", "mongodb://", 27017, |port| {
        let port = port.to_string();
        let args = [
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--storage-path",
            ":memory:",
        ];
        (
            backend_demo::venv("python"),
            args.map(str::to_owned).to_vec(),
        )
    })
    .await?;
    let url = server.url.clone();
    let documents = MongoStorage::builder(&url, "reqcache_example")
        .open()
        .await?;
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
