//! The caching reverse proxy: every request is forwarded to one upstream
//! through a [`CacheLayer`], and answered from the cache where HTTP allows.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqcache::storage::Storage;
use reqcache::{
    CacheHandle, CacheLayer, CacheLayerBuilder, CacheMode, CacheOutcome, CacheService, CacheStatus,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tower::timeout::Timeout;
use tower::{BoxError, Layer, ServiceExt};

use crate::access_log::{AccessEntry, AccessLog};
use crate::connection::{self, Protocols, ServerTls};
use crate::forwarding::{self, AddForwarding};
use crate::request_body::{self, RequestBody};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type Upstream = CacheService<AddForwarding<Timeout<Client<Connector, RequestBody>>>>;

/// How the proxy treats its clients and its upstream: timeouts, limits and
/// whom it trusts. [`Default`] is what `reqcache proxy` uses.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache_cli::proxy::ProxyOptions;
///
/// let mut options = ProxyOptions::default();
/// options.header_read_timeout = Duration::from_secs(5);
/// options.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// How long a client may take to send a request head; an idle
    /// keep-alive connection is closed after it too (a slowloris client is
    /// cut off). Default: 20 s.
    pub header_read_timeout: Duration,
    /// The most header fields in a request head; more is a `431`.
    /// Default: 100.
    pub max_headers: usize,
    /// The largest request head, in bytes; larger is a `431`.
    /// Default: 32 KiB.
    pub max_header_size: usize,
    /// The largest request body, in bytes: a larger declared length is a
    /// `413` at once; a chunked body is streamed upstream and cut off with
    /// a `413` when it gets past it. Bodies are never collected whole.
    /// Default: 100 MiB.
    pub max_request_body_size: usize,
    /// How long connecting to the upstream may take. Default: 5 s.
    pub upstream_connect_timeout: Duration,
    /// How long the upstream may take to send a response head (a stale
    /// response answers when the cache allows, else a `504`). Default: 60 s.
    pub upstream_head_timeout: Duration,
    /// Peers whose forwarding headers (`Forwarded`, `X-Forwarded-*`, ...)
    /// are kept and extended, such as a load balancer in front of the
    /// proxy; from any other peer they are removed. Default: none.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long [`Proxy::shutdown`] lets requests in flight finish before
    /// it closes their connections. Default: 10 s.
    pub shutdown_grace: Duration,
    /// Where each request is logged, one line each (JSON or logfmt, URLs
    /// redacted); `None`: no access log. Default: none.
    pub access_log: Option<AccessLog>,
    /// TLS for clients (a certificate and key), offering HTTP/2 and
    /// HTTP/1.1 by ALPN; `None`: plain TCP, where HTTP/2 with prior
    /// knowledge (h2c) is served beside HTTP/1. Default: none.
    pub tls: Option<ServerTls>,
    /// PEM certificates of authorities trusted for an `https://` upstream,
    /// besides the webpki roots (Mozilla's): for an upstream with a
    /// certificate from a private CA. Default: none.
    pub upstream_ca_file: Option<std::path::PathBuf>,
    /// Record `reqcache_proxy_requests_total` and
    /// `reqcache_proxy_response_seconds` through the `metrics` facade (a
    /// recorder must be installed to see them: `--metrics-listen`).
    /// Default: off.
    pub request_metrics: bool,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(20),
            max_headers: 100,
            max_header_size: 32 * 1024,
            max_request_body_size: 100 * 1024 * 1024,
            upstream_connect_timeout: Duration::from_secs(5),
            upstream_head_timeout: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            access_log: None,
            tls: None,
            upstream_ca_file: None,
            request_metrics: false,
        }
    }
}

/// A header the proxy adds to the responses the cache answered: what it did
/// in one word (`Hit`, `Storing`, `Revalidated`, `StaleWhileRevalidate`, ...),
/// for logs and scripts; the standard `Cache-Status` says more.
pub const CACHE_HEADER: &str = "x-reqcache";

/// The cache name in the `Cache-Status` member (RFC 9211) the proxy adds to
/// every response, those it makes itself (`502`, `400`) included.
pub const CACHE_STATUS_NAME: &str = "reqcache";

/// The proxy's default layer settings over `storage`: an HTTP cache of
/// `mode` ([`CacheLayerBuilder::http_cache`]), `CDN-Cache-Control` obeyed in
/// shared mode, a `Cache-Status` member on every response, and entries
/// written behind the answers ([`WriteMode::Behind`](reqcache::WriteMode),
/// in private mode too; the proxy flushes them at shutdown) with no
/// background fill. Further settings can be chained before `build`.
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
        .write_mode(reqcache::WriteMode::Behind)
        .background_fill(None)
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

/// The connections being served, and the signal that asks them to finish.
#[derive(Debug)]
struct Connections {
    draining: watch::Sender<bool>,
    open: AtomicUsize,
    closed: Notify,
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

    /// Stops accepting connections, lets the requests in flight finish
    /// (each connection closes after its current response; at most
    /// [`ProxyOptions::shutdown_grace`], then the rest are closed), then waits
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
    serve_with(listener, upstream, layer, ProxyOptions::default())
}

/// [`serve`] with these [`ProxyOptions`].
///
/// # Errors
/// An `upstream` that is not an absolute `http://` URL.
pub fn serve_with(
    listener: TcpListener,
    upstream: Uri,
    layer: CacheLayer,
    options: ProxyOptions,
) -> Result<Proxy, BoxError> {
    if !matches!(upstream.scheme_str(), Some("http" | "https")) || upstream.authority().is_none() {
        return Err(format!(
            "upstream must be an absolute http:// or https:// URL, not {upstream}"
        )
        .into());
    }
    let addr = listener.local_addr()?;
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(options.upstream_connect_timeout));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(upstream_tls(options.upstream_ca_file.as_deref())?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build::<_, RequestBody>(connector);
    let service: Upstream = layer.layer(AddForwarding(Timeout::new(
        client,
        options.upstream_head_timeout,
    )));
    let cache = layer.cache().clone();
    let protocols = Arc::new(Protocols::new(
        options.header_read_timeout,
        options.max_headers,
        options.max_header_size,
        options.tls.clone(),
    ));
    let context = Arc::new(Context {
        upstream,
        max_request_body: options.max_request_body_size,
        access_log: options.access_log.clone(),
        request_metrics: options.request_metrics,
        cache: cache.clone(),
    });
    let options = Arc::new(options);
    let connections = Arc::new(Connections {
        draining: watch::channel(false).0,
        open: AtomicUsize::new(0),
        closed: Notify::new(),
    });
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stopped => break,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            let service = service.clone();
            let context = Arc::clone(&context);
            let trusted = options.trusted_proxies.contains(&peer.ip());
            let handler = hyper::service::service_fn(move |request| {
                observed(
                    service.clone(),
                    Arc::clone(&context),
                    peer,
                    trusted,
                    request,
                )
            });
            let connections = Arc::clone(&connections);
            let draining = connections.draining.subscribe();
            connections.open.fetch_add(1, Ordering::SeqCst);
            let protocols = Arc::clone(&protocols);
            tokio::spawn(async move {
                connection::serve(protocols, stream, handler, draining).await;
                if connections.open.fetch_sub(1, Ordering::SeqCst) == 1 {
                    connections.closed.notify_waiters();
                }
            });
        }
        // Stopped: refuse new connections, ask every open one to finish,
        // and wait for them (bounded).
        drop(listener);
        let _ = connections.draining.send(true);
        let all_closed = async {
            loop {
                let closed = connections.closed.notified();
                if connections.open.load(Ordering::SeqCst) == 0 {
                    return;
                }
                closed.await;
            }
        };
        if tokio::time::timeout(options.shutdown_grace, all_closed)
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.open.load(Ordering::SeqCst),
                "reqcache proxy: connections still open after the shutdown grace; closing them"
            );
        }
    });
    Ok(Proxy {
        addr,
        cache,
        stop: Some(stop),
        task,
    })
}

/// The TLS settings for `https://` upstreams: the webpki roots, and the
/// certificates of `ca_file` when given.
pub(crate) fn upstream_tls(
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, BoxError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
        let mut added = 0;
        for certificate in certificates {
            let certificate =
                certificate.map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
            roots
                .add(certificate)
                .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "--upstream-ca {}: no certificate in the file",
                path.display()
            )
            .into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What every request of one proxy shares.
struct Context {
    upstream: Uri,
    max_request_body: usize,
    access_log: Option<AccessLog>,
    request_metrics: bool,
    cache: CacheHandle,
}

/// The status classes, as metric labels.
const STATUS_CLASSES: [&str; 6] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// [`forward`], timed to the response head, logged and counted as the
/// options ask.
async fn observed(
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

/// Forwards one request; never fails (upstream failures are a `502`).
async fn forward(
    service: Upstream,
    context: &Context,
    peer: SocketAddr,
    trusted: bool,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, BoxError>>, Infallible> {
    let max_request_body = context.max_request_body;
    let (mut parts, body) = request.into_parts();
    // Streamed upstream as it arrives, never collected: a declared length
    // past the limit is refused at once, a chunked body when it gets there.
    if body
        .size_hint()
        .exact()
        .is_some_and(|length| length > max_request_body as u64)
    {
        return Ok(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {max_request_body} bytes"),
        ));
    }
    let body = if body.is_end_stream() {
        RequestBody::from(Bytes::new())
    } else {
        RequestBody::streamed(body, max_request_body)
    };
    parts.uri = match upstream_uri(&context.upstream, &parts.uri) {
        Ok(uri) => uri,
        Err(error) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("request URI: {error}"),
            ));
        }
    };
    remove_hop_by_hop(&mut parts.headers);
    // The client sets Host from the upstream URI; the asked-for host goes on
    // in X-Forwarded-Host and Forwarded.
    let host = parts.headers.remove(header::HOST).or_else(|| {
        // HTTP/2 carries the host in `:authority`.
        parts
            .uri
            .authority()
            .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok())
    });
    // The upstream is spoken to in HTTP/1.1, whatever the client spoke; the
    // client is answered in its own version, whatever the upstream spoke
    // (an HTTP/1.0 upstream's answers, stored ones included, would
    // otherwise go out as `HTTP/1.0`).
    let client_version = parts.version;
    parts.version = http::Version::HTTP_11;
    if !trusted {
        forwarding::strip_overrides(&mut parts.headers);
    }
    parts.extensions.insert(forwarding::Client {
        peer: peer.ip(),
        host,
    });
    let request = Request::from_parts(parts, body);
    match service.oneshot(request).await {
        Ok(response) => {
            let outcome = response
                .extensions()
                .get::<CacheStatus>()
                .map(|status| outcome_word(status.outcome()));
            let (mut parts, body) = response.into_parts();
            parts.version = client_version;
            remove_hop_by_hop(&mut parts.headers);
            forwarding::add_via(&mut parts.headers);
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
        Err(error) if request_body::is_too_large(error.as_ref()) => Ok(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {max_request_body} bytes"),
        )),
        Err(error) if error.is::<tower::timeout::error::Elapsed>() => {
            tracing::warn!("reqcache proxy: the upstream sent no response head in time");
            Ok(plain(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream: no response in time".to_owned(),
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
    let mut builder = Uri::builder().scheme(upstream.scheme_str().unwrap_or("http"));
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
    HeaderValue::from_static(outcome_str(outcome))
}

/// The word of an outcome.
fn outcome_str(outcome: CacheOutcome) -> &'static str {
    match outcome {
        CacheOutcome::Bypassed => "Bypassed",
        CacheOutcome::Hit => "Hit",
        CacheOutcome::Storing => "Storing",
        CacheOutcome::NotStored => "NotStored",
        CacheOutcome::Revalidated => "Revalidated",
        CacheOutcome::StaleOnError => "StaleOnError",
        CacheOutcome::StaleWhileRevalidate => "StaleWhileRevalidate",
        CacheOutcome::OnlyIfCachedMiss => "OnlyIfCachedMiss",
        _ => "Other",
    }
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
    let detail = match status {
        StatusCode::BAD_GATEWAY => "upstream-error",
        StatusCode::GATEWAY_TIMEOUT => "upstream-timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "request-too-large",
        _ => "bad-request",
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
