//! Helpers of the binary's tests: the `reqcache` binary started as a proxy,
//! and loopback upstreams.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub const BIN: &str = env!("CARGO_BIN_EXE_reqcache");

/// A `reqcache` child process that is killed when it goes out of scope, so
/// that a test that fails before stopping it leaves nothing running (a
/// proxy left behind holds the test runner's output open).
pub struct ProxyChild(std::process::Child);

impl From<std::process::Child> for ProxyChild {
    fn from(child: std::process::Child) -> Self {
        Self(child)
    }
}

impl std::ops::Deref for ProxyChild {
    type Target = std::process::Child;

    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ProxyChild {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for ProxyChild {
    fn drop(&mut self) {
        // Already exited (a test stopped it): both fail, harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `reqcache proxy` with `flags`; its address, from the line it prints.
pub fn start_proxy(upstream: SocketAddr, flags: &[&str]) -> (ProxyChild, String) {
    start_proxy_for(&format!("http://{upstream}"), flags)
}

/// Starts `reqcache proxy` in front of `upstream_url` (any scheme) with
/// `flags`; its address, from the line it prints first. The rest of its
/// standard error stays in the child's pipe, for the test to read.
pub fn start_proxy_for(upstream_url: &str, flags: &[&str]) -> (ProxyChild, String) {
    let (child, addr, _) = spawn_proxy(upstream_url, flags, 0, false);
    (child, addr)
}

/// Starts `reqcache proxy` in front of `upstream` with `flags`; the
/// proxy's address and the first `more` lines it prints after its first
/// (the metrics or admin API lines). The rest of its output is read and
/// dropped, so that it never blocks on a full pipe.
pub fn start_proxy_reading(
    upstream: SocketAddr,
    flags: &[&str],
    more: usize,
) -> (ProxyChild, String, Vec<String>) {
    spawn_proxy(&format!("http://{upstream}"), flags, more, true)
}

/// Starts `reqcache proxy` in front of `upstream_url`; its address and
/// the `more` lines after its first; `drain`: the rest of its standard
/// error read and dropped by a thread, else left in the pipe.
fn spawn_proxy(
    upstream_url: &str,
    flags: &[&str],
    more: usize,
    drain: bool,
) -> (ProxyChild, String, Vec<String>) {
    let mut child = ProxyChild(
        Command::new(BIN)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                upstream_url,
            ])
            .args(flags)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stderr.as_mut().unwrap());
    for _ in 0..=more {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line);
    }
    if drain {
        let mut rest = child.stderr.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut rest, &mut std::io::sink()));
    }
    let addr = lines[0]
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://127.0.0.1"))
        .map(|port| format!("127.0.0.1{port}"))
        .unwrap_or_else(|| panic!("no address in {:?}", lines[0]));
    lines.remove(0);
    (child, addr, lines)
}

/// Serves `answer` over HTTP/1.1 on a loopback port until the test ends;
/// its address.
async fn serve<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let answered = answer(request);
                    async move { Ok::<_, Infallible>(answered.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An upstream of cache groups: `GET /g/<group>/...` answers
/// "v<version> <path>" in group `<group>` (`Cache-Groups`, and
/// `Surrogate-Key: <group> sk-<group>`), fresh for an hour and public;
/// `POST /invalidate/<group>` answers with `Cache-Group-Invalidation` for
/// it. A conditional GET for the current version is answered `304`.
pub async fn grouped_upstream(version: Arc<AtomicUsize>) -> SocketAddr {
    serve(move |request: Request<Incoming>| {
        let path = request.uri().path().to_owned();
        let version = version.load(Ordering::SeqCst);
        let tag = format!("\"v{version}\"");
        let unchanged = request
            .headers()
            .get("if-none-match")
            .is_some_and(|given| given.as_bytes() == tag.as_bytes());
        async move {
            if unchanged {
                return Response::builder()
                    .status(304)
                    .header("etag", tag)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
            }
            let group = path
                .strip_prefix("/g/")
                .or_else(|| path.strip_prefix("/invalidate/"))
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_owned();
            let response = if path.starts_with("/invalidate/") {
                Response::builder()
                    .header("cache-group-invalidation", format!("\"{group}\""))
                    .body(Full::new(Bytes::from_static(b"done")))
            } else {
                Response::builder()
                    .header("cache-control", "public, max-age=3600")
                    .header("cache-groups", format!("\"{group}\""))
                    .header("surrogate-key", format!("{group} sk-{group}"))
                    .header("etag", tag)
                    .body(Full::new(Bytes::from(format!("v{version} {path}"))))
            };
            response.unwrap()
        }
    })
    .await
}

/// An upstream answering "v<version>", fresh for an hour.
pub async fn versioned_upstream(version: Arc<AtomicUsize>) -> SocketAddr {
    serve(move |_: Request<Incoming>| {
        let body = format!("v{}", version.load(Ordering::SeqCst));
        async move {
            Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }
    })
    .await
}

/// An upstream answering every path with `len` bytes, fresh for an hour
/// and public (a shared cache stores it).
pub async fn sized_upstream(len: usize) -> SocketAddr {
    let body = Bytes::from(vec![b'x'; len]);
    serve(move |_: Request<Incoming>| {
        let body = body.clone();
        async move {
            Response::builder()
                .header("cache-control", "public, max-age=3600")
                .body(Full::new(body))
                .unwrap()
        }
    })
    .await
}

/// `METHOD http://proxy/x`: the x-reqcache word and the body.
pub async fn exchange(proxy: &str, method: http::Method) -> (String, Bytes) {
    exchange_path(proxy, method, "/x").await
}

/// `METHOD http://proxy{path}`: the x-reqcache word and the body.
pub async fn exchange_path(proxy: &str, method: http::Method, path: &str) -> (String, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let word = response
        .headers()
        .get("x-reqcache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        word,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// The `redis+cluster://` storage URL for the nodes in
/// `REQCACHE_REDIS_CLUSTER_URLS` (`redis://h:p,redis://h:p,…`), namespace
/// `namespace`.
pub fn redis_cluster_storage(nodes: &str, namespace: &str) -> String {
    let hosts: Vec<&str> = nodes
        .split(',')
        .map(|node| node.trim_start_matches("redis://"))
        .collect();
    format!("redis+cluster://{}#{namespace}", hosts.join(","))
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
