//! The layer in front of an axum router: a server-side response cache, in
//! shared mode (RFC 9111's rules for caches that serve many users: `private`
//! responses and answers to authenticated requests are not stored unless the
//! response allows it, `s-maxage` counts).
//!
//! The handler takes 200 ms to render; with the cache in front, repeat
//! requests are answered from memory. An `x-cache` header says what happened.
//!
//! Run: `cargo run --example axum_server_cache`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reqcache::{CacheLayer, CacheMode, CacheStatus, MemoryStorage};
use tower::BoxError;

/// An expensive page: public, fresh for 10 s in shared caches.
async fn report(State(renders): State<Arc<AtomicUsize>>) -> impl IntoResponse {
    let render = renders.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(200)).await;
    (
        [(header::CACHE_CONTROL, "public, s-maxage=10")],
        format!("report, render #{render}"),
    )
}

/// A page for one user: never stored by a shared cache.
async fn account() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "private, max-age=60")],
        "your account",
    )
}

/// Adds `x-cache: HIT|MISS|...` from the cache's status.
async fn x_cache(mut response: Response) -> Response {
    let outcome = response
        .extensions()
        .get::<CacheStatus>()
        .map(|status| format!("{:?}", status.outcome()).to_uppercase());
    if let Some(value) = outcome.and_then(|o| HeaderValue::from_str(&o).ok()) {
        response.headers_mut().insert("x-cache", value);
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let renders = Arc::new(AtomicUsize::new(0));
    let cache = CacheLayer::builder(MemoryStorage::new())
        .mode(CacheMode::Shared)
        .build();
    let app = Router::new()
        .route("/report", get(report))
        .route("/account", get(account))
        .with_state(Arc::clone(&renders))
        // Layers wrap what comes before them: the cache wraps the routes,
        // and `x_cache` wraps the cache, to read its status.
        .layer(cache.clone())
        .layer(axum::middleware::map_response(x_cache));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("server on http://{addr}");

    let client = reqwest::Client::new();
    for path in ["/report", "/report", "/report", "/account", "/account"] {
        let started = Instant::now();
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        let x_cache = response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let age = response
            .headers()
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let body = response.text().await?;
        println!(
            "GET {path:<9} {:>6.1} ms  x-cache={x_cache:<9} age={age:<2} {body}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    println!(
        "the report was rendered {} time(s); cache stats: {:?}",
        renders.load(Ordering::SeqCst),
        cache.cache().stats()
    );
    Ok(())
}
