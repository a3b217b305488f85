//! [`ProxyOptions`], how the proxy treats its clients and its upstream, and
//! [`layer_builder`], the proxy's preset of the cache layer.

use std::net::IpAddr;
use std::time::Duration;

use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheLayerBuilder, CacheMode};

use crate::access_log::AccessLog;
use crate::connection::ServerTls;

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
    /// How long [`Proxy::shutdown`](super::Proxy::shutdown) lets requests in flight finish before
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
