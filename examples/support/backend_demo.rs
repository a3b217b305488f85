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
        CacheOutcome::Storing,
        CacheOutcome::Hit,
        CacheOutcome::Storing,
        CacheOutcome::Hit,
    ];
    for (path, expected) in ["/users/1", "/users/1", "/users/2", "/users/2"]
        .into_iter()
        .zip(expected)
    {
        let started = Instant::now();
        let response = client.get(upstream.url(path)).send().await?;
        let outcome = response.cache_status().map(|status| status.outcome());
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

/// A server for a backend example: the one `var` names, else one already
/// listening on the docker-compose port, else a throwaway one started from
/// what `scripts/test.sh` installed (stopped when this is dropped).
pub(crate) struct Server {
    pub(crate) url: String,
    child: Option<std::process::Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How to start a throwaway server on a port: a program and its arguments.
pub(crate) type Launch = fn(u16) -> (String, Vec<String>);

impl Server {
    /// The server `var` names, else one on the docker-compose port; no
    /// throwaway server (for servers that need more than one command to
    /// start, such as PostgreSQL's initdb and postgres).
    pub(crate) async fn find_running(
        var: &str,
        scheme: &str,
        compose_port: u16,
    ) -> Result<Self, Error> {
        if let Ok(url) = std::env::var(var) {
            return Ok(Self { url, child: None });
        }
        if listening(compose_port).await {
            return Ok(Self {
                url: format!("{scheme}127.0.0.1:{compose_port}"),
                child: None,
            });
        }
        Err(format!(
            "nothing on 127.0.0.1:{compose_port}: run `docker compose up -d`, \
             or point {var} at a server (scripts/test.sh starts one and sets it)"
        )
        .into())
    }

    pub(crate) async fn find(
        var: &str,
        scheme: &str,
        compose_port: u16,
        launch: Launch,
    ) -> Result<Self, Error> {
        if let Ok(url) = std::env::var(var) {
            return Ok(Self { url, child: None });
        }
        let url_on = |port: u16| format!("{scheme}127.0.0.1:{port}");
        if listening(compose_port).await {
            return Ok(Self {
                url: url_on(compose_port),
                child: None,
            });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let (program, args) = launch(port);
        let child = std::process::Command::new(&program)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|error| {
                format!(
                    "nothing on 127.0.0.1:{compose_port} and {program} could not be started ({error}): \
                     run `docker compose up -d`, run scripts/test.sh once (it installs the servers), \
                     or point {var} at a server"
                )
            })?;
        let server = Self {
            url: url_on(port),
            child: Some(child),
        };
        // Waiting for a process to listen: bounded polling.
        for _ in 0..300 {
            if listening(port).await {
                println!("started a throwaway {program} on {}", server.url);
                return Ok(server);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(format!("{program} did not listen on 127.0.0.1:{port} within 30 s").into())
    }
}

async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// A program in the repository's Python venv (made by scripts/test.sh).
pub(crate) fn venv(program: &str) -> String {
    format!("{}/.venv/bin/{program}", env!("CARGO_MANIFEST_DIR"))
}
