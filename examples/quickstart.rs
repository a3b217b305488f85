//! Quick start: a hyper client behind a `CacheLayer` on SQLite.
//!
//! Starts a deliberately slow upstream API on 127.0.0.1 (it takes 300 ms to
//! answer), then sends the same request three times through the cache. The
//! first is a miss that waits for the upstream; the others are hits answered
//! from the SQLite file in well under a millisecond.
//!
//! Run: `cargo run --example quickstart`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::{CacheLayer, CacheStatus};
use reqcache_sqlite::SqliteStorage;
use tokio::net::TcpListener;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// How long the upstream takes to answer.
const UPSTREAM_DELAY: Duration = Duration::from_millis(300);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream = start_slow_upstream().await?;
    println!("upstream API on http://{upstream} (answers after {UPSTREAM_DELAY:?})");

    // The cache: an SQLite file. `cache_name` is the path; `.sqlite` is added.
    let path = std::env::temp_dir().join("reqcache-quickstart/http_cache");
    let storage = SqliteStorage::open(&path).await?;
    println!("cache file: {}", storage.path().display());
    let layer = CacheLayer::builder(storage)
        .expire_after(Duration::from_secs(300))
        .build();
    // Start empty, so the first request is a miss every time this runs.
    layer.cache().clear().await?;

    // Any tower service that speaks http::Request works; here, hyper's client.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut service = ServiceBuilder::new().layer(layer.clone()).service(client);

    let url = format!("http://{upstream}/api/items?page=1&per_page=20");
    for attempt in 1..=3 {
        let started = Instant::now();
        let request = Request::get(&url).body(Full::default())?;
        let response = service.ready().await?.call(request).await?;
        let cache = response
            .extensions()
            .get::<CacheStatus>()
            .cloned()
            .unwrap_or_default();
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "request {attempt}: {:<8} {:>9.3} ms  status={status} from_cache={:<5} body={} bytes  expires_in={}  key={}",
            format!("{:?}", cache.outcome()),
            started.elapsed().as_secs_f64() * 1000.0,
            cache.from_cache(),
            body.len(),
            cache
                .expires()
                .and_then(|e| e.duration_since(SystemTime::now()).ok())
                .map_or("never".to_owned(), |d| format!("{}s", d.as_secs())),
            cache.key().map_or("-".to_owned(), |k| k.to_string()),
        );
    }

    for entry in layer.cache().entries().await? {
        println!(
            "stored: {} {} -> {} ({} bytes)",
            entry.method, entry.url, entry.status, entry.size
        );
    }
    Ok(())
}

/// Serves a small JSON API on a free loopback port, slowly.
async fn start_slow_upstream() -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request: Request<Incoming>| async {
                    tokio::time::sleep(UPSTREAM_DELAY).await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .header("etag", "\"items-page-1\"")
                            .body(Full::new(Bytes::from_static(
                                br#"{"items":[{"id":1,"name":"first"},{"id":2,"name":"second"}],"page":1}"#,
                            )))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
