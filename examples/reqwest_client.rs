//! reqwest, the requests-cache way: a `CachedClient` (requests-cache's
//! `CachedSession`) on SQLite, per-request settings, what the cache did, and
//! the global-install style.
//!
//! Everything runs on 127.0.0.1: the example starts its own upstream API.
//!
//! Run: `cargo run --example reqwest_client`

#[path = "support/upstream.rs"]
mod upstream;

use std::time::{Duration, Instant};

use reqcache::{CacheLayer, MemoryStorage, global};
use reqcache_reqwest::{CacheStatusExt, CachedClient};
use reqcache_sqlite::SqliteStorage;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let upstream = upstream::start().await;
    let dir = tempfile::tempdir()?;

    // requests_cache.CachedSession('http_cache', expire_after=360, allowable_codes=(200, 404))
    let storage = SqliteStorage::open(dir.path().join("http_cache")).await?;
    let client = CachedClient::new(
        CacheLayer::builder(storage)
            .expire_after(Duration::from_secs(360))
            .allowable_codes([http::StatusCode::OK, http::StatusCode::NOT_FOUND]),
    );

    let url = upstream.url("/users/7");
    for attempt in 1..=2 {
        let started = Instant::now();
        let response = client.get(&url).send().await?;
        let outcome = response.cache_status().map(|status| status.outcome());
        let from_cache = response.from_cache();
        let user: Value = response.json().await?;
        println!(
            "GET /users/7 #{attempt}: {outcome:?} from_cache={from_cache} in {:.3} ms -> {user}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    // Per-request settings on the builder.
    let response = client.get(&url).refresh().send().await?;
    println!(
        "refresh():        {:?} (a conditional request; upstream said 304)",
        response.cache_status().map(|s| s.outcome())
    );
    let response = client.get(&url).force_refresh().send().await?;
    println!(
        "force_refresh():  {:?} (fetched and stored anew)",
        response.cache_status().map(|s| s.outcome())
    );
    let response = client
        .get(upstream.url("/users/8"))
        .only_if_cached()
        .send()
        .await?;
    println!(
        "only_if_cached(): {} for a URL never fetched (upstream not called)",
        response.status()
    );
    let response = client.get(&url).bypass().send().await?;
    println!(
        "no_cache():       {:?} (the cache left out)",
        response.cache_status().map(|s| s.outcome())
    );
    let response = client
        .get(upstream.url("/users/9"))
        .expire_after(Duration::from_secs(5))
        .send()
        .await?;
    let expires_in = response
        .cache_status()
        .and_then(|s| s.expires())
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok());
    println!(
        "expire_after(5s): expires in {} s: the response's own Cache-Control: max-age=60 \
         wins, as in requests-cache (headers, then per-request, then session settings)",
        expires_in.map_or(0, |left| left.as_secs() + 1)
    );

    // Credentials are part of the key: Alice's answer is never Bob's.
    let alice = client
        .get(upstream.url("/users/1"))
        .bearer_auth("alice-token")
        .send()
        .await?;
    let bob = client
        .get(upstream.url("/users/1"))
        .bearer_auth("bob-token")
        .send()
        .await?;
    let alice_again = client
        .get(upstream.url("/users/1"))
        .bearer_auth("alice-token")
        .send()
        .await?;
    println!(
        "bearer alice, bob, alice: from_cache = {}, {}, {} (one entry each; tokens never stored)",
        alice.from_cache(),
        bob.from_cache(),
        alice_again.from_cache()
    );

    let cache = client.cache().expect("the client has a cache");
    let stats = cache.stats();
    println!(
        "cache: {} entries; hits={} misses={} revalidated={} stored={}; upstream served {} requests",
        cache.len().await?,
        stats.hits,
        stats.misses,
        stats.revalidated,
        stats.stored,
        upstream.served()
    );

    // requests_cache.install_cache(): a process-wide cache for
    // `CachedClient::default()` and `reqcache_reqwest::get`.
    global::install(CacheLayer::builder(MemoryStorage::new()).expire_after(60));
    let first = reqcache_reqwest::get(upstream.url("/users/2")).await?;
    let second = reqcache_reqwest::get(upstream.url("/users/2")).await?;
    println!(
        "installed cache: from_cache = {}, {}",
        first.from_cache(),
        second.from_cache()
    );
    // requests_cache.disabled(): for this task and what it awaits, not others.
    let inside = global::disabled(reqcache_reqwest::get(upstream.url("/users/2"))).await?;
    println!("inside disabled(): from_cache = {}", inside.from_cache());
    global::uninstall();
    println!("uninstalled: is_installed = {}", global::is_installed());
    Ok(())
}
