//! The caching reverse proxy: every request is forwarded to one upstream
//! through a [`CacheLayer`], and answered from the cache where HTTP allows.
//!
//! `options.rs` holds the options and the layer's presets; this file the
//! running proxy and its accept loop;
//! `upstream.rs` the way to the upstream (its client, TLS, and forwarding
//! one request); `observe.rs` the access log and the request metrics. A
//! connection's protocols are in [`crate::connection`], the
//! forwarding headers in `forwarding.rs`.

mod observe;
mod options;
pub(crate) mod upstream;

pub use options::{CACHE_HEADER, CACHE_STATUS_NAME, ProxyOptions, layer_builder};

pub(crate) use upstream::upstream_tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Uri;
use reqcache::{CacheHandle, CacheLayer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tower::BoxError;

use crate::connection::{self, Protocols};

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
    let service = upstream::service(&layer, &options)?;
    let cache = layer.cache().clone();
    let protocols = Arc::new(Protocols::new(
        options.header_read_timeout,
        options.max_headers,
        options.max_header_size,
        options.tls.clone(),
    ));
    let context = Arc::new(upstream::Context {
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
                observe::observed(
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
