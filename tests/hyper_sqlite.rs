//! End to end: hyper's client behind the layer on SQLite, against a real
//! hyper server on loopback.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::storage::Encoded;
use reqcache::storage::{Serializer, Storage};
use reqcache::{CacheLayer, CacheOutcome, CacheService, CacheStatus};
use reqcache_sqlite::SqliteStorage;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

/// Starts a server that counts requests and answers with odd headers.
async fn server(hits: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let hits = Arc::clone(&hits);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let n = hits.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let mut response = Response::builder()
                            .header("cache-control", "max-age=60")
                            .header("set-cookie", "a=1")
                            .header("x-order", "first")
                            .header("set-cookie", "b=2")
                            .header("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap())
                            .body(Full::new(Bytes::from(format!(
                                "{} #{n}",
                                request.uri().path()
                            ))))
                            .unwrap();
                        response
                            .headers_mut()
                            .append("x-order", HeaderValue::from_static("second"));
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

type Cached = CacheService<Client<HttpConnector, Full<Bytes>>>;

async fn client(storage: impl Storage) -> Cached {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    CacheLayer::new(storage).layer(client)
}

async fn fetch(service: &mut Cached, url: &str) -> (Response<()>, Bytes, CacheStatus) {
    let request = Request::get(url).body(Full::default()).unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (Response::from_parts(parts, ()), body, status)
}

fn header_list(response: &Response<()>) -> Vec<(String, Vec<u8>)> {
    response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-") || *name == "set-cookie")
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_from_sqlite_never_reaches_the_server_and_keeps_every_header() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = client(SqliteStorage::open(dir.path().join("cache")).await.unwrap()).await;
    let url = format!("http://{addr}/data");

    let (first, first_body, first_status) = fetch(&mut service, &url).await;
    assert_eq!(first_status.outcome(), CacheOutcome::Storing);
    let (second, second_body, second_status) = fetch(&mut service, &url).await;
    assert!(second_status.from_cache());
    assert_eq!(second_body, first_body);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Order, repeats and a non-UTF-8 value survive the trip through SQLite.
    assert_eq!(header_list(&second), header_list(&first));
    assert_eq!(second.headers()["x-latin1"].as_bytes(), b"caf\xe9");
    let cookies: Vec<_> = second.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_storage_on_the_same_file_sees_the_entries() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/persisted");
    let mut first = client(SqliteStorage::open(dir.path().join("cache")).await.unwrap()).await;
    fetch(&mut first, &url).await;
    // No flush: the body ended once its entry was written.
    drop(first);
    // Written as MessagePack, read by a storage that writes JSON: every
    // format is read.
    let sqlite = SqliteStorage::open(dir.path().join("cache")).await.unwrap();
    let mut second = client(Encoded::new(sqlite, Serializer::Json)).await;
    assert!(fetch(&mut second, &url).await.2.from_cache());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_database_is_a_miss_and_is_replaced() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("cache")).await.unwrap();
    let mut service = client(storage.clone()).await;
    let url = format!("http://{addr}/g");
    let (_, _, status) = fetch(&mut service, &url).await;
    let key = status.key().unwrap().to_string();
    // Stored behind the response: wait for the write, or the UPDATE below
    // may run first, change nothing, and the write land after it.
    service.cache().unwrap().flush().await;

    let table = storage.table().to_owned();
    let changed = storage
        .with_connection(move |c| {
            c.execute(
                &format!("UPDATE {table} SET value = X'DEADBEEF' WHERE key = ?1"),
                [key],
            )
        })
        .await
        .unwrap();
    assert_eq!(changed, 1, "the stored row is overwritten with garbage");
    let (_, body, status) = fetch(&mut service, &url).await;
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    assert_eq!(body, "/g #1");
    assert!(fetch(&mut service, &url).await.2.from_cache());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
