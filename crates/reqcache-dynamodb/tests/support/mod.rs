//! Storages on the DynamoDB-API server that scripts/test.sh started.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use reqcache_dynamodb::DynamoDbStorage;

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh storage in a new table, or `None` (skip) by hand without a
/// server; under CI a missing server fails.
pub async fn fresh() -> Option<(DynamoDbStorage, ())> {
    let url = reqcache_test::server_url("REQCACHE_DYNAMODB_URL")?;
    let storage = DynamoDbStorage::endpoint(&url, "us-east-1", unique_table("conformance"))
        .create_table(true)
        .open()
        .await
        .expect("cannot create a table on the test DynamoDB server");
    Some((storage, ()))
}
