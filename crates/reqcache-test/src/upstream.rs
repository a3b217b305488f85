//! [`Upstream`]: a real HTTP server on loopback for end-to-end tests of
//! clients under the cache. It counts the requests each path receives and
//! keeps the headers of the last one.
//!
//! | path | answer |
//! |---|---|
//! | `/json` | `200`, `max-age=60`, `{"path":..,"count":N}` (N counts from 1) |
//! | `/plain` | `200`, no freshness headers, `plain #N` |
//! | `/large` | `200`, `max-age=60`, [`LARGE_BODY`] bytes of `large ` |
//! | `/etag` | `200`, `max-age=0`, `ETag: "v1"`; `304` to `If-None-Match: "v1"` |
//! | `/auth` | `200`, `max-age=60`, the request's `Authorization` as the body |
//! | `/swr` | `200`, `max-age=1, stale-while-revalidate=600`, `swr #N` |
//! | `/redirect` | `301` to `/json` |
//! | `/fail` | `500` |
//! | anything else | `404` |

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
struct Seen {
    counts: HashMap<String, usize>,
    last_headers: HashMap<String, HeaderMap>,
}

/// The server; it stops when dropped, closing its open connections.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Starts a server on 127.0.0.1, on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(serve(listener, Arc::clone(&seen)));
        Self { addr, seen, task }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests `path` received.
    pub fn count(&self, path: &str) -> usize {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.counts.get(path).copied().unwrap_or(0)
    }

    /// How many requests the server received in all.
    pub fn total(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.counts.values().sum()
    }

    /// The headers of the last request to `path`.
    pub fn last_headers(&self, path: &str) -> Option<HeaderMap> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.last_headers.get(path).cloned()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, seen: Arc<Mutex<Seen>>) {
    // Connections live in the set, so that stopping the server (aborting this
    // task drops the set) closes kept-alive connections too.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let seen = Arc::clone(&seen);
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = answer(&seen, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The size of `/large`'s body: 2 MiB, give or take a few bytes.
pub const LARGE_BODY: usize = 2 * 1024 * 1024 / 6 * 6;

fn answer(seen: &Mutex<Seen>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let count = {
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.last_headers
            .insert(path.clone(), request.headers().clone());
        let count = seen.counts.entry(path.clone()).or_default();
        *count += 1;
        *count
    };
    let builder = Response::builder();
    let (builder, body) = match path.as_str() {
        "/json" => (
            builder
                .header(header::CACHE_CONTROL, "max-age=60")
                .header(header::CONTENT_TYPE, "application/json"),
            format!(r#"{{"path":"/json","count":{count}}}"#),
        ),
        "/plain" => (builder, format!("plain #{count}")),
        // Larger than what arrives with the head: a caller that drops it
        // unread leaves most of it on the wire.
        "/large" => (
            builder.header(header::CACHE_CONTROL, "max-age=60"),
            "large ".repeat(LARGE_BODY / 6),
        ),
        "/swr" => (
            builder.header(
                header::CACHE_CONTROL,
                "max-age=1, stale-while-revalidate=600",
            ),
            format!("swr #{count}"),
        ),
        "/etag" => {
            let matches = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .is_some_and(|value| value == "\"v1\"");
            let builder = builder
                .header(header::CACHE_CONTROL, "max-age=0")
                .header(header::ETAG, "\"v1\"");
            if matches {
                (builder.status(StatusCode::NOT_MODIFIED), String::new())
            } else {
                (builder, format!("etag #{count}"))
            }
        }
        "/auth" => {
            let auth = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("anonymous")
                .to_owned();
            (builder.header(header::CACHE_CONTROL, "max-age=60"), auth)
        }
        "/redirect" => (
            builder
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, "/json"),
            String::new(),
        ),
        "/fail" => (
            builder.status(StatusCode::INTERNAL_SERVER_ERROR),
            "failed".to_owned(),
        ),
        _ => (
            builder.status(StatusCode::NOT_FOUND),
            "not found".to_owned(),
        ),
    };
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
