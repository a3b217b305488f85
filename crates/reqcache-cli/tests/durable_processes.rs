//! A program that reads a response and exits finds it on its next run, on
//! every persistent storage: `reqcache get` (the library's default, private
//! preset, on a multi-thread runtime that ends when `main` returns) runs
//! twice per round, 20 rounds per body size, and every second run is a hit.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use support::{BIN, unique};
use tokio::net::TcpListener;

const ROUNDS: usize = 20;
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// An upstream answering `GET /SIZE/...` with SIZE bytes (`Content-Length`)
/// and no freshness of its own: `--expire-after` decides.
async fn sized_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let largest = Bytes::from((0..8 * MIB).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let largest = largest.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let size: usize = request
                        .uri()
                        .path()
                        .split('/')
                        .nth(1)
                        .and_then(|size| size.parse().ok())
                        .unwrap_or(0)
                        .min(largest.len());
                    let body = largest.slice(..size);
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Runs `reqcache get` on `storage` for `url` in a process of its own; the
/// status line it prints last (`200 Hit (N bytes)`).
async fn get_in_a_new_process(storage: &str, url: &str) -> String {
    let (storage, url) = (storage.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || {
        let output = Command::new(BIN)
            .args(["get", "--storage", &storage, "--expire-after", "3600"])
            // Reads of 8 MiB from a debug build on two loaded cores take
            // longer than the default 100 ms: what is tested here is that
            // the entry is there, not how fast it is read.
            .args(["--storage-timeout", "30000"])
            .args(["--output", "/dev/null", &url])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "reqcache get {url}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default().to_owned();
        if stderr.lines().count() > 1 {
            // Warnings (a write given up): shown with the test's failure.
            eprintln!("reqcache get {url}: {stderr}");
        }
        last
    })
    .await
    .unwrap()
}

/// For each size, [`ROUNDS`] rounds of two runs on a URL of the round's
/// own: the first run stores, the second is a hit.
async fn every_second_run_is_a_hit(storage: &str, sizes: &[usize]) {
    let upstream = sized_upstream().await;
    for &size in sizes {
        for round in 0..ROUNDS {
            let url = format!("http://{upstream}/{size}/{}/{round}", std::process::id());
            let first = get_in_a_new_process(storage, &url).await;
            assert_eq!(
                first,
                format!("200 Storing ({size} bytes)"),
                "{storage} {url}"
            );
            let second = get_in_a_new_process(storage, &url).await;
            assert_eq!(
                second,
                format!("200 Hit ({size} bytes)"),
                "{storage}: round {round} of {size} bytes was not stored by the run before"
            );
        }
    }
    // The servers keep what the tests store in memory: give it back.
    let cleared = tokio::task::spawn_blocking({
        let storage = storage.to_owned();
        move || {
            Command::new(BIN)
                .args(["clear", "--storage", &storage])
                .output()
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        cleared.status.success(),
        "reqcache clear --storage {storage}"
    );
}

const SIZES: [usize; 3] = [KIB, MIB, 8 * MIB];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite:{}", dir.path().join("cache").display());
    every_second_run_is_a_hit(&storage, &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("fs:{}", dir.path().join("cache").display());
    every_second_run_is_a_hit(&storage, &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    every_second_run_is_a_hit(&format!("{url}#{}", unique("durable")), &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster() {
    let Some(nodes) = reqcache_test::server_url("REQCACHE_REDIS_CLUSTER_URLS") else {
        return;
    };
    let storage = support::redis_cluster_storage(&nodes, &unique("durable"));
    every_second_run_is_a_hit(&storage, &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(url) = reqcache_test::server_url("REQCACHE_POSTGRES_URL") else {
        return;
    };
    every_second_run_is_a_hit(&format!("{url}#{}", unique("durable")), &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb() {
    let Some(url) = reqcache_test::server_url("REQCACHE_MONGODB_URL") else {
        return;
    };
    every_second_run_is_a_hit(&format!("{url}#{}", unique("durable")), &SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridfs() {
    let Some(url) = reqcache_test::server_url("REQCACHE_MONGODB_URL") else {
        return;
    };
    every_second_run_is_a_hit(&format!("gridfs:{url}#{}", unique("durable")), &SIZES).await;
}

/// DynamoDB keeps items of at most 400 KB: 1 KiB and 300 KiB are stored
/// (larger bodies are refused, counted, and stay misses: issue 28).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb() {
    let Some(url) = reqcache_test::server_url("REQCACHE_DYNAMODB_URL") else {
        return;
    };
    let endpoint: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    let storage = format!(
        "dynamodb://{}?endpoint={endpoint}&region=us-east-1&create=true",
        unique("durable")
    );
    every_second_run_is_a_hit(&storage, &[KIB, 300 * KIB]).await;
}
