//! Test helpers: storages on the servers that scripts/test.sh started, and a
//! redis-server of a test's own for tests that stop and restart it.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use reqcache_redis::RedisStorage;

/// A namespace no other test uses.
pub fn unique_namespace(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh storage on the standalone test server, or `None` (skip) by hand
/// without one; under CI a missing server fails.
pub async fn standalone() -> Option<(RedisStorage, ())> {
    let url = reqcache_test::server_url("REQCACHE_REDIS_URL")?;
    let storage = RedisStorage::builder(&url)
        .namespace(unique_namespace("standalone"))
        .open()
        .await
        .expect("cannot connect to the test redis-server");
    Some((storage, ()))
}

/// A fresh storage on the test cluster, or `None` (skip) as above.
pub async fn cluster() -> Option<(RedisStorage, ())> {
    let urls = reqcache_test::server_url("REQCACHE_REDIS_CLUSTER_URLS")?;
    let storage = RedisStorage::cluster(urls.split(','))
        .namespace(unique_namespace("cluster"))
        .open()
        .await
        .expect("cannot connect to the test redis cluster");
    Some((storage, ()))
}

/// Stores a real entry for its bookkeeping, then returns the Redis key of its
/// value, for a test to overwrite with raw bytes.
async fn raw_target(storage: &RedisStorage, key: &str) -> String {
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    reqcache::storage::Storage::put(storage, key, std::sync::Arc::new(entry))
        .await
        .unwrap();
    storage.value_key(key)
}

/// Writes raw bytes as an entry's value on the standalone server.
pub async fn write_raw_standalone((storage, ()): &(RedisStorage, ()), key: &str, bytes: Vec<u8>) {
    let value_key = raw_target(storage, key).await;
    let url = std::env::var("REQCACHE_REDIS_URL").unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(value_key)
        .arg(bytes)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// Writes raw bytes as an entry's value on the cluster.
pub async fn write_raw_cluster((storage, ()): &(RedisStorage, ()), key: &str, bytes: Vec<u8>) {
    let value_key = raw_target(storage, key).await;
    let urls = std::env::var("REQCACHE_REDIS_CLUSTER_URLS").unwrap();
    let client = redis::cluster::ClusterClient::new(urls.split(',').collect::<Vec<_>>()).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(value_key)
        .arg(bytes)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// A redis-server of the test's own, killed on drop.
pub struct OwnServer {
    child: Child,
    pub port: u16,
}

impl OwnServer {
    /// Starts redis-server on a free loopback port; `None` (skip) by hand when
    /// redis-server is not installed, a failure under CI.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// [`start`](Self::start) with more settings (`--maxmemory 4mb`).
    pub fn start_with(settings: &[&str]) -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::spawn(port, settings)
    }

    /// Starts redis-server on `port` and returns once it accepts connections.
    pub fn start_on(port: u16) -> Option<Self> {
        Self::spawn(port, &[])
    }

    fn spawn(port: u16, settings: &[&str]) -> Option<Self> {
        let binary =
            std::env::var("REQCACHE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let spawned = Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(settings)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("{binary} could not be started under CI: {error}")
            }
            Err(error) => {
                eprintln!(
                    "\n*** SKIPPED: {binary} could not be started ({error}); run scripts/test.sh ***\n"
                );
                return None;
            }
        };
        // Read its log until it says it is ready: no guessing with sleeps.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Ready to accept connections") => break,
                Some(Ok(_)) => {}
                _ => panic!("{binary} exited before it was ready"),
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Some(Self { child, port })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL) and waits for it to exit.
    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
