//! What every backend example shows, whatever the storage: a
//! `CachedClient` over it, a miss then a hit, the listing, deleting by URL,
//! and clearing.

// Shared by several examples; each uses what it needs.
#![allow(dead_code)]

use std::time::{Instant, SystemTime};

use reqcache::{CacheLayer, CacheOutcome};
use reqcache_reqwest::{CacheStatusExt, CachedClient};

use crate::upstream;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs the demonstration on `layer`'s storage, described as `what`.
pub(crate) async fn run(what: &str, layer: CacheLayer) -> Result<(), Error> {
    let upstream = upstream::start().await;
    let cache = layer.cache().clone();
    cache.clear().await?; // the first request is a miss on every run
    let client = CachedClient::new(layer);
    println!("storage: {what}");

    let expected = [
        CacheOutcome::Stored,
        CacheOutcome::Hit,
        CacheOutcome::Stored,
        CacheOutcome::Hit,
    ];
    for (path, expected) in ["/users/1", "/users/1", "/users/2", "/users/2"]
        .into_iter()
        .zip(expected)
    {
        let started = Instant::now();
        let response = client.get(upstream.url(path)).send().await?;
        let outcome = response.cache_status().map(|status| status.outcome);
        if outcome != Some(expected) {
            return Err(format!("GET {path}: expected {expected:?}, got {outcome:?}").into());
        }
        let body = response.text().await?;
        println!(
            "GET {path}: {outcome:?} in {:.3} ms, {} bytes",
            started.elapsed().as_secs_f64() * 1000.0,
            body.len()
        );
    }
    for entry in cache.entries().await? {
        let expires_in = entry
            .expires
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map_or("never".to_owned(), |left| {
                format!("in {} s", left.as_secs())
            });
        println!(
            "  stored: {} {} ({} bytes, expires {expires_in})",
            entry.method, entry.url, entry.size
        );
    }
    let deleted = cache.delete_url(&upstream.url("/users/1")).await?;
    println!(
        "delete_url(/users/1): {deleted} deleted; {} left",
        cache.len().await?
    );
    cache.clear().await?;
    let left = cache.len().await?;
    println!(
        "clear(): {left} left; upstream served {} requests",
        upstream.served()
    );
    if left != 0 || upstream.served() != 2 {
        return Err("the cache was not cleared, or upstream was called for a hit".into());
    }
    Ok(())
}

/// The URL of a server from `var`, or the docker-compose default.
pub(crate) fn server_url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Explains how to start a server the example could not reach, and exits.
pub(crate) fn unreachable(
    what: &str,
    url: &str,
    service: &str,
    var: &str,
    error: &dyn std::fmt::Display,
) -> ! {
    eprintln!(
        "could not reach {what} at {url}: {error}\n\
         start one with `docker compose up -d {service}`, or point {var} at yours"
    );
    std::process::exit(1)
}
