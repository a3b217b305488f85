//! The PostgreSQL backend (`reqcache-postgres`): `cache_name` is the table.
//!
//! The PostgreSQL server: `REQCACHE_POSTGRES_URL` if set (scripts/test.sh
//! starts a throwaway cluster and sets it), else one on 127.0.0.1:5432
//! (`docker compose up -d postgres`). The upstream API runs on 127.0.0.1.
//!
//! Run: `cargo run --example backend_postgres`

#[path = "support/backend_demo.rs"]
mod backend_demo;
#[path = "support/upstream.rs"]
mod upstream;

use std::time::Duration;

use backend_demo::Server;
use reqcache::CacheLayer;
use reqcache_postgres::PostgresStorage;

#[tokio::main]
async fn main() -> Result<(), backend_demo::Error> {
    // docker-compose.yml's service: user postgres, password reqcache.
    let server = Server::find_running(
        "REQCACHE_POSTGRES_URL",
        "postgres://postgres:reqcache@",
        5432,
    )
    .await?;
    let storage = PostgresStorage::builder(&server.url)
        .table("reqcache_example")
        .unlogged(true)
        .open()
        .await?;
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    backend_demo::run("PostgreSQL, table reqcache_example", layer).await
}
