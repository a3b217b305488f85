//! Storages on the MongoDB-wire-protocol server that scripts/test.sh started.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqcache::storage::Encoded;
use reqcache::storage::Serializer;
use reqcache_mongodb::{GridFsStorage, MongoStorage};

/// How long the test storages wait to select or connect to the server: the
/// Python test server can be slow to accept connections on a loaded machine
/// (the production default is 1 s).
const PATIENT: Duration = Duration::from_secs(10);

/// A database name no other test uses.
pub fn unique_database(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn documents() -> Option<(MongoStorage, ())> {
    let url = reqcache_test::server_url("REQCACHE_MONGODB_URL")?;
    let storage = MongoStorage::builder(&url, unique_database("docs"))
        .server_selection_timeout(PATIENT)
        .open()
        .await
        .expect("cannot open the test MongoDB server");
    Some((storage, ()))
}

pub async fn gridfs() -> Option<(GridFsStorage, ())> {
    let url = reqcache_test::server_url("REQCACHE_MONGODB_URL")?;
    let storage = MongoStorage::builder(&url, unique_database("gridfs"))
        .server_selection_timeout(PATIENT)
        .open_gridfs()
        .await
        .expect("cannot open the test MongoDB server");
    Some((storage, ()))
}

/// A fresh storage whose values are BSON documents.
pub async fn bson_documents() -> Option<(Encoded<MongoStorage>, ())> {
    let url = reqcache_test::server_url("REQCACHE_MONGODB_URL")?;
    let storage = MongoStorage::builder(&url, unique_database("bson"))
        .server_selection_timeout(PATIENT)
        .open()
        .await
        .expect("cannot open the test MongoDB server");
    Some((Encoded::new(storage, Serializer::Bson), ()))
}

/// A builder on the test server for a database of its own, bounded at
/// `max_size`, or `None` (skip) as above.
pub fn bounded(prefix: &str, max_size: u64) -> Option<reqcache_mongodb::MongoStorageBuilder> {
    let url = reqcache_test::server_url("REQCACHE_MONGODB_URL")?;
    Some(
        MongoStorage::builder(&url, unique_database(prefix))
            .server_selection_timeout(PATIENT)
            .max_size(max_size),
    )
}
