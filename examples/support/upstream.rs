//! A stand-in upstream API on 127.0.0.1 for the examples: an axum app that
//! counts the requests it serves.
//!
//! | route | answer |
//! |---|---|
//! | `GET /users/{id}` | JSON, `Cache-Control: max-age=60`, an `ETag` |
//! | `GET /slow` | JSON after 300 ms, `Cache-Control: max-age=30` |
//! | `GET /stalls-once` | like `/slow`, but the first request stalls for 5 s |

// Shared by several examples; each uses what it needs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

/// The running upstream.
pub(crate) struct ExampleUpstream {
    pub(crate) addr: SocketAddr,
    served: Arc<AtomicUsize>,
}

impl ExampleUpstream {
    /// `http://127.0.0.1:PORT` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests it has served.
    pub(crate) fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// Starts the upstream on a free loopback port.
pub(crate) async fn start() -> ExampleUpstream {
    let served = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/slow", get(slow))
        .route("/stalls-once", get(stalls_once))
        .with_state(Arc::clone(&served));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    ExampleUpstream { addr, served }
}

async fn user(
    State(served): State<Arc<AtomicUsize>>,
    Path(id): Path<u32>,
    request_headers: HeaderMap,
) -> impl IntoResponse {
    let count = served.fetch_add(1, Ordering::SeqCst) + 1;
    let etag = HeaderValue::from_str(&format!("\"user-{id}-v1\"")).expect("a valid ETag");
    if request_headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            ),
            (header::ETAG, etag),
        ],
        Json(json!({ "id": id, "name": format!("user {id}"), "served_as_request": count })),
    )
        .into_response()
}

async fn slow(State(served): State<Arc<AtomicUsize>>) -> impl IntoResponse {
    let count = served.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (
        [(header::CACHE_CONTROL, "max-age=30")],
        Json(json!({ "report": "expensive", "served_as_request": count })),
    )
}

async fn stalls_once(State(served): State<Arc<AtomicUsize>>) -> impl IntoResponse {
    let count = served.fetch_add(1, Ordering::SeqCst) + 1;
    let delay = if count == 1 { 5000 } else { 300 };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    (
        [(header::CACHE_CONTROL, "max-age=30")],
        Json(json!({ "report": "expensive", "served_as_request": count })),
    )
}
