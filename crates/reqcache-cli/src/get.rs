//! `reqcache get`: one request through the cache, as a script makes it with
//! requests-cache (`CachedSession().get(url)`): the library's default,
//! private preset, whose entries are written before the body ends
//! ([`WriteMode::Durable`](reqcache::WriteMode)), so that the next run of
//! the script finds them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, Expiration};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tower::{BoxError, Service, ServiceExt};

/// What `reqcache get` was asked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GetOptions {
    /// Seconds a response stays fresh when it states nothing more
    /// specific, as requests-cache's `expire_after` (`-1`: never, `0`: do
    /// not cache); `None`: never expires.
    pub expire_after: Option<i64>,
    /// Request headers, as `Name: value`.
    pub headers: Vec<String>,
    /// Seconds the upstream may take to connect and answer the head.
    pub timeout: Duration,
    /// The bound on each storage read and write; `None`: the library's
    /// defaults (100 ms reads, 2 s writes).
    pub storage_timeout: Option<Duration>,
}

impl Default for GetOptions {
    fn default() -> Self {
        Self {
            expire_after: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            storage_timeout: None,
        }
    }
}

/// What one `get` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The response's status.
    pub status: http::StatusCode,
    /// What the cache did.
    pub outcome: CacheOutcome,
    /// Bytes of body written out.
    pub bytes: u64,
}

/// Sends a GET for `url` through a cache on `storage` and writes the body
/// to `out` as it arrives (never held whole). When it returns, a response
/// that the cache stores is in storage.
///
/// # Errors
/// A header that does not parse, a URL that is not absolute `http(s)`, the
/// upstream's failure (unless a stale entry answers), or a failed write to
/// `out`. Storage failures are never errors: they make a miss.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use reqcache_cli::get::{GetOptions, get};
///
/// let storage = std::sync::Arc::new(reqcache::MemoryStorage::new());
/// let mut out = Vec::new();
/// let refused = get(storage, "/relative".parse().unwrap(), &GetOptions::default(), &mut out).await;
/// assert!(refused.is_err());
/// # }
/// ```
pub async fn get<W: AsyncWrite + Unpin>(
    storage: Arc<dyn Storage>,
    url: Uri,
    options: &GetOptions,
    out: &mut W,
) -> Result<Fetched, BoxError> {
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.authority().is_none() {
        return Err(
            format!("the URL must be an absolute http:// or https:// URL, not {url}").into(),
        );
    }
    let mut request = Request::get(url).body(Full::<Bytes>::default())?;
    for header in &options.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("header {header:?}: expected `Name: value`"))?;
        request.headers_mut().append(
            HeaderName::try_from(name.trim()).map_err(|e| format!("header {name:?}: {e}"))?,
            HeaderValue::try_from(value.trim()).map_err(|e| format!("header {name:?}: {e}"))?,
        );
    }
    let expiration = options
        .expire_after
        .map_or(Expiration::Never, Expiration::from);
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(options.timeout));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::proxy::upstream_tls(None)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
    let mut layer = CacheLayer::builder(storage).expire_after(expiration);
    if let Some(bound) = options.storage_timeout {
        layer = layer.storage_timeouts(Some(bound), Some(bound));
    }
    let layer = layer.build();
    let mut service = tower::ServiceBuilder::new()
        .layer(layer)
        .timeout(options.timeout)
        .service(client);
    let response = service.ready().await?.call(request).await?;
    let outcome = response
        .extensions()
        .get::<CacheStatus>()
        .map_or(CacheOutcome::Bypassed, CacheStatus::outcome);
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes += data.len() as u64;
            out.write_all(&data).await?;
        }
    }
    out.flush().await?;
    Ok(Fetched {
        status,
        outcome,
        bytes,
    })
}
