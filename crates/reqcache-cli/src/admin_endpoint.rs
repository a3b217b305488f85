//! `--admin-listen`: the proxy's admin API, on a listener of its own
//! (loopback unless told otherwise), for operators and deploy scripts.
//!
//! Every request must carry `Authorization: Bearer <token>`, the token
//! read from `--admin-token-file`; it is compared in constant time. A
//! request without it, or with another token, is answered `401` and does
//! nothing. Without a token file there is no API at all.
//!
//! - `POST /purge` with a JSON body, a [`PurgeRequest`]: `{"url": ...}`,
//!   `{"prefix": ...}`, `{"glob": ...}` or `{"group": ..., "origin": ...}`,
//!   and `"soft": true` to mark stale instead of deleting. URLs are the
//!   ones clients use (or paths): they are mapped to the upstream's, under
//!   which the proxy stores its entries. Answers
//!   `{"purged": N, "soft": false}`. Through a tiered storage with a bus
//!   the purge reaches every instance's L1.
//! - `GET /stats`: the cache's counters and the storage's usage, as JSON.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use reqcache::CacheHandle;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::admin::PurgeRequest;

/// The largest `POST /purge` body read: 64 KiB.
const MAX_BODY: usize = 64 * 1024;
/// How long a storage's usage may take for `GET /stats`.
const USAGE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the admin API works on: the bearer token, the proxy's cache, and
/// its upstream (to map client URLs to stored ones).
#[derive(Clone)]
pub struct AdminApi {
    token: Arc<[u8]>,
    cache: CacheHandle,
    upstream: Uri,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("AdminApi")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl AdminApi {
    /// The API over `cache`, for the proxy in front of `upstream`,
    /// answering requests that carry `token`.
    ///
    /// # Errors
    /// An empty token.
    pub fn new(token: &str, cache: CacheHandle, upstream: Uri) -> Result<Self, String> {
        let token = token.trim();
        if token.is_empty() {
            return Err("the admin token is empty".to_owned());
        }
        Ok(Self {
            token: token.as_bytes().into(),
            cache,
            upstream,
        })
    }

    /// `true` when `request` carries the token.
    fn authorized<B>(&self, request: &Request<B>) -> bool {
        let Some(given) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        bool::from(given.trim_ascii().ct_eq(&self.token))
    }

    /// Answers one request.
    pub async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.authorized(&request) {
            tracing::warn!(method = %request.method(), path = request.uri().path(),
                "reqcache admin: refused: no or wrong bearer token");
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                &json!({ "error": "a bearer token is required (Authorization: Bearer <token>)" }),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"reqcache admin\""),
            );
            return response;
        }
        match (request.method(), request.uri().path()) {
            (&Method::POST, "/purge") => self.purge(request).await,
            (&Method::GET, "/stats") => self.stats().await,
            (_, "/purge" | "/stats") => reply(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "error": "POST /purge, GET /stats" }),
            ),
            _ => reply(
                StatusCode::NOT_FOUND,
                &json!({ "error": "not found: POST /purge, GET /stats" }),
            ),
        }
    }

    async fn purge(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({ "error": format!("the body is over {MAX_BODY} bytes, or was cut short") }),
                );
            }
        };
        let asked: PurgeRequest = match serde_json::from_slice(&body) {
            Ok(asked) => asked,
            Err(error) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": format!("not a purge request: {error}") }),
                );
            }
        };
        let purge = match asked.to_purge(Some(&self.upstream)) {
            Ok(purge) => purge,
            Err(error) => return reply(StatusCode::BAD_REQUEST, &json!({ "error": error })),
        };
        // On a task of its own: a client that hangs up does not stop a
        // purge halfway.
        let cache = self.cache.clone();
        let done = tokio::spawn(async move { cache.purge(&purge).await }).await;
        match done {
            Ok(Ok(report)) => {
                // What was purged is logged by the cache, its URL
                // normalized (ignored parameters removed).
                tracing::info!(
                    kind = asked.kind(),
                    soft = report.soft,
                    purged = report.purged,
                    "reqcache admin: purged"
                );
                reply(
                    StatusCode::OK,
                    &json!({ "purged": report.purged, "soft": report.soft }),
                )
            }
            Ok(Err(error)) => {
                tracing::warn!(kind = asked.kind(), %error, "reqcache admin: purge failed");
                reply(
                    StatusCode::BAD_GATEWAY,
                    &json!({ "error": format!("the storage failed: {error}") }),
                )
            }
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": "the purge task failed" }),
            ),
        }
    }

    async fn stats(&self) -> Response<Full<Bytes>> {
        let stats = self.cache.stats();
        let mut body = json!({
            "hits": stats.hits,
            "misses": stats.misses,
            "stored": stats.stored,
            "revalidated": stats.revalidated,
            "stale_served": stats.stale_served,
            "storage_read_errors": stats.storage_read_errors,
            "storage_write_errors": stats.storage_write_errors,
            "storage_timeouts": stats.storage_timeouts,
            "writes_dropped": stats.writes_dropped,
            "writes_refused": stats.writes_refused,
            "read_breaker_open": stats.read_breaker_open,
            "write_breaker_open": stats.write_breaker_open,
            "pending_writes": stats.pending_writes,
        });
        let usage = tokio::time::timeout(USAGE_TIMEOUT, self.cache.storage().usage()).await;
        body["storage"] = match usage {
            Ok(Ok(usage)) => json!({
                "bytes": usage.bytes,
                "max_bytes": usage.max_size,
                "evictions": usage.evictions,
            }),
            Ok(Err(error)) => json!({ "error": error.to_string() }),
            Err(_) => json!({ "error": "the storage did not answer in time" }),
        };
        reply(StatusCode::OK, &body)
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves `api` on `listener` until the process ends. Each connection has
/// 10 s to send its request head.
pub fn serve(listener: TcpListener, api: AdminApi) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let api = api.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.answer(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
