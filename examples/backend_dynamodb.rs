//! The DynamoDB backend (`reqcache-dynamodb`): `cache_name` is the table.
//!
//! Needs DynamoDB or a local stand-in: `docker compose up -d dynamodb`
//! (DynamoDB Local, the default URL), or set `REQCACHE_DYNAMODB_URL` (moto
//! works too). The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_dynamodb`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use reqcache::CacheLayer;
use reqcache_dynamodb::DynamoDbStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let url = backend_demo::server_url("REQCACHE_DYNAMODB_URL", "http://127.0.0.1:8000");
    let storage = match DynamoDbStorage::endpoint(&url, "us-east-1", "reqcache_example")
        .create_table(true)
        .max_attempts(1)
        .open()
        .await
    {
        Ok(storage) => storage,
        Err(error) => backend_demo::unreachable(
            "DynamoDB",
            &url,
            "dynamodb",
            "REQCACHE_DYNAMODB_URL",
            &error,
        ),
    };
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("DynamoDB, table reqcache_example", layer).await
}
