//! `--metrics-listen`: the process's metrics (the cache's counters, the
//! storage breakers, the proxy's requests and their latency, the storage's
//! bytes, bound and evictions) in the Prometheus text format, at
//! `GET /metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use reqcache::storage::Storage;
use tokio::net::TcpListener;

/// How long a scrape waits for the storage's usage; past it the gauges
/// keep their last values.
const USAGE_TIMEOUT: Duration = Duration::from_secs(1);

/// The latency buckets of `reqcache_proxy_response_seconds`, from a memory
/// hit to a slow upstream.
const BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Installs the Prometheus recorder for the whole process (once; a second
/// call fails) and returns what renders it.
///
/// # Errors
/// When a recorder is installed already.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    // Histograms need upkeep when no exporter thread does it.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Serves `GET /metrics` on `listener` (anything else: `404`), until the
/// process ends. Each connection has 10 s to send its request head. Each
/// scrape reads `storage`'s [usage](Storage::usage) first:
/// `reqcache_storage_bytes`, `reqcache_storage_max_bytes` (absent without
/// a bound) and `reqcache_storage_evictions_total`.
pub fn serve(listener: TcpListener, handle: PrometheusHandle, storage: Arc<dyn Storage>) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            let storage = Arc::clone(&storage);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let handle = handle.clone();
                    let storage = Arc::clone(&storage);
                    async move {
                        if is_scrape(&request) {
                            record_usage(&*storage).await;
                        }
                        Ok::<_, Infallible>(answer(&handle, &request))
                    }
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

fn is_scrape<B>(request: &Request<B>) -> bool {
    request.uri().path() == "/metrics" && matches!(*request.method(), Method::GET | Method::HEAD)
}

/// Sets the storage's gauges from its usage, unless it fails or takes
/// longer than [`USAGE_TIMEOUT`].
async fn record_usage(storage: &dyn Storage) {
    let usage = match tokio::time::timeout(USAGE_TIMEOUT, storage.usage()).await {
        Ok(Ok(usage)) => usage,
        Ok(Err(error)) => {
            tracing::debug!(%error, "reqcache metrics: storage usage unavailable");
            return;
        }
        Err(_) => return,
    };
    metrics::gauge!("reqcache_storage_bytes").set(usage.bytes as f64);
    if let Some(max_size) = usage.max_size {
        metrics::gauge!("reqcache_storage_max_bytes").set(max_size as f64);
    }
    metrics::counter!("reqcache_storage_evictions_total").absolute(usage.evictions);
}

fn answer<B>(handle: &PrometheusHandle, request: &Request<B>) -> Response<Full<Bytes>> {
    if !is_scrape(request) {
        let mut response =
            Response::new(Full::new(Bytes::from_static(b"not found: GET /metrics\n")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let mut response = Response::new(Full::new(Bytes::from(handle.render())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
