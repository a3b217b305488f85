//! Measures FileStorage on 100,000 entries: writing them, listing them,
//! counting them, delete_url, building the URL index of a cache written
//! without one, and remove_expired (which deletes half).
//!
//! Run: `cargo run --release -p reqcache-fs --example listing_100k [COUNT]`

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use reqcache::storage::{CachedRequest, CachedResponse, Storage};
use reqcache_fs::FileStorage;

#[tokio::main]
async fn main() -> Result<(), reqcache::StorageError> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("reqcache-fs-listing-{}", std::process::id()));
    let storage = FileStorage::open(&dir).await?;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for i in (chunk..count).step_by(8) {
                let expires = t0 + Duration::from_secs(if i % 2 == 0 { 10 } else { 10_000 });
                let entry = CachedResponse::new(
                    http::StatusCode::OK,
                    http::HeaderMap::new(),
                    bytes::Bytes::from(vec![b'x'; 1024]),
                    CachedRequest::new(http::Method::GET, format!("https://example.com/{i}")),
                    t0,
                )
                .with_expires(Some(expires));
                storage.put(&format!("key-{i}"), Arc::new(entry)).await?;
            }
            Ok::<_, reqcache::StorageError>(())
        }));
    }
    for task in tasks {
        task.await.expect("writer panicked")?;
    }
    println!("put {count} entries: {:?}", started.elapsed());

    let started = Instant::now();
    let entries = storage.entries().await?;
    println!("entries(): {} in {:?}", entries.len(), started.elapsed());
    let started = Instant::now();
    let len = storage.len().await?;
    println!("len(): {len} in {:?}", started.elapsed());
    let started = Instant::now();
    let deleted = storage.delete_url("https://example.com/77").await?;
    println!(
        "delete_url() through the URL index: {deleted} deleted in {:?}",
        started.elapsed()
    );
    // A cache written before the index: opening it builds the index once.
    std::fs::remove_dir_all(dir.join("url-index")).ok();
    let started = Instant::now();
    let storage = FileStorage::open(&dir).await?;
    println!("open() building the URL index: {:?}", started.elapsed());
    let started = Instant::now();
    let removed = storage
        .remove_expired(t0 + Duration::from_secs(100))
        .await?;
    println!(
        "remove_expired(): removed {removed} in {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
