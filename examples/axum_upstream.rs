//! An axum server whose handler calls a slow, sometimes stalling upstream API
//! through a cached client, with tower's timeout and retry in the stack.
//!
//! The client stack, outermost first:
//!
//! ```text
//! CacheLayer  ->  RetryLayer  ->  TimeoutLayer  ->  hyper Client
//! ```
//!
//! Why this order:
//! * The cache is outermost, so a hit answers at once, without the retry and
//!   timeout machinery; only the final, successful answer of the retries is
//!   stored; and with `stale_if_error` a stale entry is served when every
//!   attempt failed, not after the first.
//! * Retry wraps timeout, so each attempt gets its own time budget and a
//!   stalled attempt is abandoned and retried. (A timeout outside the retry
//!   would bound all attempts together instead; add one there too if callers
//!   need a total deadline, but keep it outside the cache so that it never
//!   cuts a cache write short.)
//!
//! The upstream's first answer stalls for 5 s; the timeout is 1 s. So the
//! first call to our server takes about 1.3 s (one timed-out attempt, one
//! retry), and the next ones are hits.
//!
//! Run: `cargo run --example axum_upstream`

#[path = "support/upstream.rs"]
mod upstream;

use std::future::{Ready, ready};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reqcache::{CacheLayer, CacheService, CacheStatus, MemoryStorage};
use serde_json::{Value, json};
use tower::retry::{Policy, Retry, RetryLayer};
use tower::timeout::{Timeout, TimeoutLayer};
use tower::{BoxError, ServiceBuilder, ServiceExt};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;
type UpstreamClient = CacheService<Retry<Attempts, Timeout<HttpClient>>>;

/// Retries failed attempts (errors, timeouts, 5xx) up to a number of times.
#[derive(Clone)]
struct Attempts(usize);

impl<B, E> Policy<Request<Full<Bytes>>, Response<B>, E> for Attempts {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        let failed = match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        if failed && self.0 > 0 {
            self.0 -= 1;
            println!("  (attempt failed; retrying)");
            Some(ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        Some(clone)
    }
}

#[derive(Clone)]
struct AppState {
    upstream_url: String,
    client: UpstreamClient,
}

/// Our endpoint: it needs the upstream's report.
async fn dashboard(State(state): State<AppState>) -> Result<Json<Value>, String> {
    let request = Request::get(&state.upstream_url)
        .body(Full::default())
        .map_err(|error| error.to_string())?;
    let response = state
        .client
        .oneshot(request)
        .await
        .map_err(|error| format!("upstream failed: {error}"))?;
    let cache = response
        .extensions()
        .get::<CacheStatus>()
        .cloned()
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    let report: Value = serde_json::from_slice(&body).map_err(|error| error.to_string())?;
    Ok(Json(
        json!({ "report": report, "cache": format!("{:?}", cache.outcome()) }),
    ))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream = upstream::start().await;

    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let client = ServiceBuilder::new()
        .layer(
            CacheLayer::builder(MemoryStorage::new())
                .stale_if_error(true)
                .build(),
        )
        .layer(RetryLayer::new(Attempts(2)))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(http);
    let state = AppState {
        upstream_url: upstream.url("/stalls-once"),
        client,
    };
    let app = Router::new()
        .route("/dashboard", get(dashboard))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "our server: http://{addr}/dashboard, upstream: {}",
        upstream.url("/stalls-once")
    );

    let caller = reqwest::Client::new();
    for call in 1..=3 {
        let started = Instant::now();
        let answer: Value = caller
            .get(format!("http://{addr}/dashboard"))
            .send()
            .await?
            .json()
            .await?;
        println!(
            "call {call}: {:>7.1} ms  cache={}  upstream request #{}",
            started.elapsed().as_secs_f64() * 1000.0,
            answer["cache"],
            answer["report"]["served_as_request"]
        );
    }
    println!("upstream served {} requests in all", upstream.served());
    Ok(())
}
