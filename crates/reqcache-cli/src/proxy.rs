//! The caching reverse proxy: every request is forwarded to one upstream
//! through a [`CacheLayer`], and answered from the cache where HTTP allows.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::storage::Storage;
use reqcache::{
    CacheHandle, CacheLayer, CacheLayerBuilder, CacheMode, CacheOutcome, CacheService, CacheStatus,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::{BoxError, Layer, ServiceExt};

type Upstream = CacheService<Client<HttpConnector, Full<Bytes>>>;

/// A header the proxy adds to the responses the cache answered: what it did
/// in one word (`Hit`, `Stored`, `Revalidated`, `StaleWhileRevalidate`, ...),
/// for logs and scripts; the standard `Cache-Status` says more.
pub const CACHE_HEADER: &str = "x-reqcache";

/// The cache name in the `Cache-Status` member (RFC 9211) the proxy adds to
/// every response, those it makes itself (`502`, `400`) included.
pub const CACHE_STATUS_NAME: &str = "reqcache";

/// The proxy's default layer settings over `storage`: an HTTP cache of
/// `mode` ([`CacheLayerBuilder::http_cache`]), `CDN-Cache-Control` obeyed in
/// shared mode, and a `Cache-Status` member on every response. Further
/// settings can be chained before `build`.
///
/// # Example
/// ```
/// use reqcache::{CacheMode, MemoryStorage};
///
/// let layer = reqcache_cli::proxy::layer_builder(MemoryStorage::new(), CacheMode::Shared)
///     .stale_if_error(true)
///     .build();
/// # let _ = layer;
/// ```
pub fn layer_builder(storage: impl Storage, mode: CacheMode) -> CacheLayerBuilder {
    CacheLayer::builder(storage)
        .http_cache(mode)
        .targeted_cache_control(Some("cdn-cache-control"))
        .cache_status_header(Some(CACHE_STATUS_NAME))
}

/// A running proxy. Dropping it leaves it running; call
/// [`shutdown`](Self::shutdown) to stop it.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    cache: CacheHandle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cache handle.
    pub fn cache(&self) -> &CacheHandle {
        &self.cache
    }

    /// Stops accepting connections, waits for the accept loop to end, then
    /// for the cache writes still pending behind responses (each bounded by
    /// the layer's write timeout).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.cache.flush().await;
    }

    /// Waits until the proxy stops (it stops only through `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Serves the proxy on `listener`, forwarding to `upstream` (an `http://`
/// base URL; its path is prefixed to every request's) through `layer`.
///
/// Build the layer with [`layer_builder`] (an HTTP cache; shared mode for a
/// proxy serving many users).
///
/// # Errors
/// An `upstream` that is not an absolute `http://` URL.
pub fn serve(listener: TcpListener, upstream: Uri, layer: CacheLayer) -> Result<Proxy, BoxError> {
    if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
        return Err(format!("upstream must be an absolute http:// URL, not {upstream}").into());
    }
    let addr = listener.local_addr()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service: Upstream = layer.layer(client);
    let cache = layer.cache().clone();
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stopped => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let service = service.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let handler = hyper::service::service_fn(move |request| {
                    forward(service.clone(), upstream.clone(), request)
                });
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await
                {
                    tracing::debug!(%error, "reqcache proxy: connection ended with an error");
                }
            });
        }
    });
    Ok(Proxy {
        addr,
        cache,
        stop: Some(stop),
        task,
    })
}

/// Forwards one request; never fails (upstream failures are a `502`).
async fn forward(
    service: Upstream,
    upstream: Uri,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, BoxError>>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let body = if body.is_end_stream() {
        Bytes::new()
    } else {
        match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return Ok(plain(
                    StatusCode::BAD_REQUEST,
                    format!("request body: {error}"),
                ));
            }
        }
    };
    parts.uri = match upstream_uri(&upstream, &parts.uri) {
        Ok(uri) => uri,
        Err(error) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("request URI: {error}"),
            ));
        }
    };
    remove_hop_by_hop(&mut parts.headers);
    // The client sets Host from the upstream URI.
    parts.headers.remove(header::HOST);
    let request = Request::from_parts(parts, Full::new(body));
    match service.oneshot(request).await {
        Ok(response) => {
            let outcome = response
                .extensions()
                .get::<CacheStatus>()
                .map(|status| outcome_word(status.outcome()));
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            if let Some(outcome) = outcome {
                parts
                    .headers
                    .insert(HeaderName::from_static(CACHE_HEADER), outcome);
            }
            Ok(Response::from_parts(
                parts,
                body.map_err(BoxError::from).boxed(),
            ))
        }
        Err(error) => {
            tracing::warn!(%error, "reqcache proxy: upstream failed");
            Ok(plain(StatusCode::BAD_GATEWAY, format!("upstream: {error}")))
        }
    }
}

/// The upstream's URI for a request to `uri`: the upstream's scheme and
/// authority, its base path, then the request's path and query.
fn upstream_uri(upstream: &Uri, uri: &Uri) -> Result<Uri, http::Error> {
    let base = upstream.path().trim_end_matches('/');
    let mut builder = Uri::builder().scheme("http");
    if let Some(authority) = upstream.authority() {
        builder = builder.authority(authority.clone());
    }
    match uri.path_and_query() {
        Some(path) if base.is_empty() => builder.path_and_query(path.clone()),
        path => builder.path_and_query(format!("{base}{}", path.map_or("/", |p| p.as_str()))),
    }
    .build()
}

/// The `x-reqcache` word for an outcome.
fn outcome_word(outcome: CacheOutcome) -> HeaderValue {
    HeaderValue::from_static(match outcome {
        CacheOutcome::Bypassed => "Bypassed",
        CacheOutcome::Hit => "Hit",
        CacheOutcome::Stored => "Stored",
        CacheOutcome::NotStored => "NotStored",
        CacheOutcome::Revalidated => "Revalidated",
        CacheOutcome::StaleOnError => "StaleOnError",
        CacheOutcome::StaleWhileRevalidate => "StaleWhileRevalidate",
        CacheOutcome::OnlyIfCachedMiss => "OnlyIfCachedMiss",
        _ => "Other",
    })
}

/// The hop-by-hop headers (RFC 9110 section 7.6.1) always removed.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers (RFC 9110 section 7.6.1), including those
/// the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the (few) names finds most messages have none.
    if !headers
        .keys()
        .any(|name| HOP_BY_HOP.contains(&name.as_str()))
    {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// A response the proxy makes itself, with its `Cache-Status` member: the
/// cache did not answer it (`detail` says why).
fn plain(status: StatusCode, message: String) -> Response<BoxBody<Bytes, BoxError>> {
    let detail = if status == StatusCode::BAD_GATEWAY {
        "upstream-error"
    } else {
        "bad-request"
    };
    let mut response = Response::new(
        Full::new(Bytes::from(message))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(&format!("{CACHE_STATUS_NAME}; detail={detail}")) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("cache-status"), value);
    }
    response
}
