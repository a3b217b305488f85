//! What the proxy says about each request: a line of the access log and
//! the request metrics, both timed to the response head.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use reqcache::CacheStatus;
use tower::BoxError;

use super::upstream::{Context, Upstream, forward, outcome_str};
use crate::access_log::AccessEntry;

/// The status classes, as metric labels.
const STATUS_CLASSES: [&str; 6] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// [`forward`], timed to the response head, logged and counted as the
/// options ask.
pub(super) async fn observed(
    service: Upstream,
    context: Arc<Context>,
    peer: SocketAddr,
    trusted: bool,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, BoxError>>, Infallible> {
    if context.access_log.is_none() && !context.request_metrics {
        return forward(service, &context, peer, trusted, request).await;
    }
    let started = std::time::Instant::now();
    let arrived = std::time::SystemTime::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = forward(service, &context, peer, trusted, request).await?;
    let elapsed = started.elapsed();
    let cache = response
        .extensions()
        .get::<CacheStatus>()
        .map_or("-", |status| outcome_str(status.outcome()));
    let status = response.status().as_u16();
    if context.request_metrics {
        let class = STATUS_CLASSES[usize::from(status / 100).min(5)];
        metrics::counter!("reqcache_proxy_requests_total", "cache" => cache, "status" => class)
            .increment(1);
        metrics::histogram!("reqcache_proxy_response_seconds", "cache" => cache)
            .record(elapsed.as_secs_f64());
    }
    if let Some(log) = &context.access_log {
        // The stored form of the URL: redacted parameters never logged.
        let url = context.cache.normalize_url(&uri.to_string());
        log.log(&AccessEntry::new(
            arrived,
            peer.ip(),
            method.as_str(),
            &url,
            status,
            cache,
            elapsed,
        ));
    }
    Ok(response)
}
