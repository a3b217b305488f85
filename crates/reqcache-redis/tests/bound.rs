//! What bounds a Redis storage: the server's `maxmemory`, on a server of
//! the test's own (the shared test server's settings are left alone).
//! Every key reqcache writes has a TTL, so a `volatile-*` policy may evict
//! any of them; with `noeviction`, writes fail at the limit and the layer
//! still answers every request.

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::CacheLayer;
use reqcache::storage::Storage;
use reqcache_redis::RedisStorage;
use reqcache_test::{sized_entry, t0};
use support::OwnServer;
use tower::{Layer, ServiceExt};

/// A field of `INFO`, as a number.
async fn info(url: &str, field: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let text: String = redis::cmd("INFO")
        .arg("all")
        .query_async(&mut connection)
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxmemory_with_a_volatile_policy_evicts_what_reqcache_wrote() {
    let Some(server) =
        OwnServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru"])
    else {
        return;
    };
    let storage = RedisStorage::builder(&server.url()).open().await.unwrap();
    // 1,000 entries of 16 KiB: 16 MiB through a server bounded at 4 MB.
    for i in 0..1000 {
        let key = format!("k{i}");
        storage
            .put(&key, Arc::new(sized_entry(&key, 16 * 1024)))
            .await
            .expect("a volatile policy makes room: writes never fail");
    }
    let url = server.url();
    let evicted = info(&url, "evicted_keys").await;
    assert!(evicted > 500, "{evicted} keys evicted");
    // Redis evicts before each command, so it may pass maxmemory by one
    // command's write.
    let used = info(&url, "used_memory").await;
    assert!(used <= 4 * 1024 * 1024 + 64 * 1024, "used_memory {used}");
    // The latest entries are there, whole.
    let last = storage.get("k999", t0()).await.unwrap().unwrap();
    assert_eq!(last.body.len(), 16 * 1024);
    // reqcache keeps no bound of its own on Redis.
    assert_eq!(storage.usage().await.unwrap().max_size, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxmemory_with_noeviction_fails_writes_and_the_layer_still_answers() {
    let Some(server) =
        OwnServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"])
    else {
        return;
    };
    let storage = RedisStorage::builder(&server.url()).open().await.unwrap();
    let mut refused = None;
    for i in 0..1000 {
        let key = format!("k{i}");
        if let Err(error) = storage
            .put(&key, Arc::new(sized_entry(&key, 16 * 1024)))
            .await
        {
            refused = Some(error);
            break;
        }
    }
    let error = refused.expect("a full server refuses writes");
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("OOM"), "{chain}");

    // Through the layer: the response comes from upstream, its write fails
    // and is counted.
    let layer = CacheLayer::new(storage);
    let service = layer.layer(tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(vec![1u8; 64 * 1024]))))
    }));
    let request = Request::get("http://e.com/full")
        .body(Full::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 64 * 1024);
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert!(stats.storage_write_errors >= 1, "{stats:?}");
}
