//! The DynamoDB backend (`reqcache-dynamodb`): `cache_name` is the table.
//!
//! The DynamoDB API: `REQCACHE_DYNAMODB_URL` if set, else DynamoDB Local on
//! 127.0.0.1:8000 (`docker compose up -d dynamodb`), else a throwaway moto
//! server (installed by `scripts/test.sh` into `.venv/`) on a free loopback
//! port. The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_dynamodb`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use backend_demo::Server;
use reqcache::CacheLayer;
use reqcache_dynamodb::DynamoDbStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    let server = Server::find("REQCACHE_DYNAMODB_URL", "http://", 8000, |port| {
        let args = ["-H", "127.0.0.1", "-p", &port.to_string()];
        (
            backend_demo::venv("moto_server"),
            args.map(str::to_owned).to_vec(),
        )
    })
    .await?;
    let storage = DynamoDbStorage::endpoint(&server.url, "us-east-1", "reqcache_example")
        .create_table(true)
        .open()
        .await?;
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("DynamoDB, table reqcache_example", layer).await
}
