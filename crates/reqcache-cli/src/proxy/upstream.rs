//! The way to the upstream: its client (HTTP/1 over TCP or rustls, with
//! the connect and response-head timeouts), and [`forward`], which sends
//! one client request through the cache to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqcache::{CacheHandle, CacheLayer, CacheOutcome, CacheService, CacheStatus};
use tower::timeout::Timeout;
use tower::{BoxError, Layer, ServiceExt};

use super::options::{CACHE_HEADER, CACHE_STATUS_NAME, ProxyOptions};
use crate::access_log::AccessLog;
use crate::forwarding::{self, AddForwarding};
use crate::request_body::{self, RequestBody};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The cache in front of the upstream's client.
pub(super) type Upstream = CacheService<AddForwarding<Timeout<Client<Connector, RequestBody>>>>;

/// The upstream's client, under `layer`.
pub(super) fn service(layer: &CacheLayer, options: &ProxyOptions) -> Result<Upstream, BoxError> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(options.upstream_connect_timeout));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(upstream_tls(options.upstream_ca_file.as_deref())?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build::<_, RequestBody>(connector);
    Ok(layer.layer(AddForwarding(Timeout::new(
        client,
        options.upstream_head_timeout,
    ))))
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
pub(super) struct Context {
    pub(super) upstream: Uri,
    pub(super) max_request_body: usize,
    pub(super) access_log: Option<AccessLog>,
    pub(super) request_metrics: bool,
    pub(super) cache: CacheHandle,
}

/// Forwards one request; never fails (upstream failures are a `502`).
pub(super) async fn forward(
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
/// authority, its base path, then the request's path and query. What the
/// proxy fetches, and so the URL its entries are stored under (the admin
/// commands' `--upstream` maps a proxy's URL with it).
pub(crate) fn upstream_uri(upstream: &Uri, uri: &Uri) -> Result<Uri, http::Error> {
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
pub(super) fn outcome_str(outcome: CacheOutcome) -> &'static str {
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
