//! Bodies kept in chunks on a real server: the shared checks with a 64 MiB
//! body, no chunk left when a body is cut short or its record goes, a record
//! refused when its chunks are not whole, and chunks taking the record's
//! deadline.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::Storage;
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache_redis::RedisStorage;
use reqcache_test::chunked;

const LARGE: u64 = 64 << 20;

async fn open() -> Option<RedisStorage> {
    Some(support::standalone().await?.0)
}

/// A connection of the test's own to the standalone server.
async fn raw() -> redis::aio::MultiplexedConnection {
    let url = std::env::var("REQCACHE_REDIS_URL").unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// The chunk keys of the namespace.
async fn chunk_keys(storage: &RedisStorage) -> Vec<String> {
    let mut connection = raw().await;
    redis::cmd("KEYS")
        .arg(format!("{{{}:b:*", storage.namespace()))
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_is_stored_in_chunks_and_streamed_back() {
    let Some(storage) = open().await else { return };
    chunked::chunked_bodies(Arc::new(storage.clone()), LARGE).await;
    assert_eq!(chunk_keys(&storage).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_leaves_no_record_and_no_chunk() {
    let Some(storage) = open().await else { return };
    chunked::chunked_body_cut_short_is_never_stored(Arc::new(storage.clone()), 16 << 20).await;
    assert_eq!(chunk_keys(&storage).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_record_whose_chunks_are_not_whole_is_refused_and_chunks_take_its_deadline() {
    let Some(storage) = open().await else { return };
    let chunk = bytes::Bytes::from(vec![1u8; 1000]);
    storage.write_chunk("b1", 0, chunk.clone()).await.unwrap();
    assert_eq!(
        storage.read_chunk("b1", 0).await.unwrap(),
        Some(chunk.clone())
    );
    let mut entry = reqcache_test::sample_entry("https://example.com/big", bytes::Bytes::new());
    entry.expires = Some(SystemTime::now() + Duration::from_secs(600));
    entry.stored_body = Some(BodyRef::new("b1", 2000, 1000));
    let error = storage.put("k", Arc::new(entry.clone())).await.unwrap_err();
    assert!(error.to_string().contains("not whole"), "{error}");
    assert!(storage.get("k", SystemTime::now()).await.unwrap().is_none());
    storage.write_chunk("b1", 1, chunk).await.unwrap();
    storage.put("k", Arc::new(entry)).await.unwrap();
    assert_eq!(
        storage
            .get("k", SystemTime::now())
            .await
            .unwrap()
            .unwrap()
            .body_len(),
        2000
    );
    // The record's deadline: its expiry and the hour kept past it, not
    // the hour a chunk is written with.
    let mut connection = raw().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{{{}:b:b1}}:1", storage.namespace()))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 3_600_000 + 500_000, "{ttl} ms");
    storage.delete("k").await.unwrap();
    assert_eq!(chunk_keys(&storage).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_too() {
    let Some((storage, ())) = support::cluster().await else {
        return;
    };
    chunked::chunked_bodies(Arc::new(storage), 16 << 20).await;
}
