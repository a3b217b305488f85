//! A proxy killed (`kill -9`) while a 64 MiB body is being written in
//! chunks, on SQLite and on files: the next proxy on the same storage
//! answers the request as a miss, with the whole body, never a short or
//! corrupt one from the cache; then stores it and answers hits (issue 28).

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache_test::chunked::{PatternBody, check_pattern, pattern_byte};
use std::process::Command;
use support::{BIN, start_proxy};
use tokio::net::TcpListener;

const LEN: u64 = 64 << 20;
/// Where the first answer stops, waiting forever.
const HELD_AT: u64 = 40 << 20;

/// A pattern body that stops at `held_at`, if set, and never goes on.
struct Held {
    body: PatternBody,
    left: u64,
    held_at: Option<u64>,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let sent = LEN - self.left;
        if self.held_at.is_some_and(|at| sent >= at) {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.left -= data.len() as u64;
        }
        polled
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// An upstream sending `LEN` pattern bytes, fresh for an hour; the first
/// answer holds at `HELD_AT`.
async fn upstream(calls: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                    let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
                    let body = Held {
                        body: PatternBody::new(LEN),
                        left: LEN,
                        held_at: first.then_some(HELD_AT),
                    };
                    let response = Response::builder()
                        .header("cache-control", "public, max-age=3600")
                        .header("content-length", LEN)
                        .body(body)
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(proxy: &str) -> Response<Incoming> {
    let request = Request::get(format!("http://{proxy}/big"))
        .body(Full::default())
        .unwrap();
    client().request(request).await.unwrap()
}

fn word(response: &Response<Incoming>) -> String {
    response
        .headers()
        .get("x-reqcache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn a_write_cut_by_kill_9_is_a_miss(storage: &str) {
    let calls = Arc::new(AtomicUsize::new(0));
    let upstream = upstream(Arc::clone(&calls)).await;
    let flags = ["--storage", storage, "--max-size", "1GiB"];
    let (mut first, proxy) = start_proxy(upstream, &flags);
    // Read 32 MiB through the first proxy: as much is being written in
    // chunks (the proxy reads upstream no faster than it writes).
    let response = get(&proxy).await;
    let mut body = response.into_body();
    let mut read = 0u64;
    while read < 32 << 20 {
        let frame = body.frame().await.unwrap().unwrap();
        read += frame.into_data().map_or(0, |d| d.len() as u64);
    }
    first.kill().unwrap();
    first.wait().unwrap();
    drop(body);

    let (_second, proxy) = start_proxy(upstream, &flags);
    let response = get(&proxy).await;
    assert_ne!(word(&response), "Hit", "a write cut short is a miss");
    check_pattern(response.into_body(), 0, LEN).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Stored once its write behind lands (HEAD asks without a body).
    let mut stored = false;
    for _ in 0..20_000 {
        let request = Request::head(format!("http://{proxy}/big"))
            .body(Full::default())
            .unwrap();
        if word(&client().request(request).await.unwrap()) == "Hit" {
            stored = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(stored, "the second answer was stored");
    let response = get(&proxy).await;
    assert_eq!(word(&response), "Hit");
    check_pattern(response.into_body(), 0, LEN).await;

    // `reqcache show` names the body kept in chunks, and writes it out.
    let url = format!("http://{upstream}/big");
    let shown = Command::new(BIN)
        .args(["show", "--storage", storage, &url, "--json"])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    // A line per entry for the URL (the HEAD requests' too).
    let shown = String::from_utf8(shown.stdout).unwrap();
    let get = shown
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|entry| entry["method"] == "GET")
        .unwrap_or_else(|| panic!("no GET entry in {shown}"));
    assert_eq!(get["stored_body"]["len"], LEN, "{get}");
    let key = get["key"].as_str().unwrap();
    let shown = Command::new(BIN)
        .args(["show", "--storage", storage, key, "--body"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let out = &shown.stdout;
    let body_start = out.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let body = &out[body_start..out.len() - 1];
    assert_eq!(body.len() as u64, LEN);
    assert!(
        body.iter()
            .enumerate()
            .all(|(at, byte)| *byte == pattern_byte(at as u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_write_cut_by_kill_9_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite:{}", dir.path().join("c").display());
    a_write_cut_by_kill_9_is_a_miss(&storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_write_cut_by_kill_9_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("fs:{}", dir.path().join("c").display());
    a_write_cut_by_kill_9_is_a_miss(&storage).await;
}
