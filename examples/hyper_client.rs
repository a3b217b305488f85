//! hyper-util's legacy `Client` under a `CacheLayer`, over plain HTTP and
//! over HTTPS (hyper-rustls), with nothing between them but tower.
//!
//! The example serves the same small API twice on 127.0.0.1: in the clear,
//! and over TLS with the throwaway certificate in `examples/tls/` (the client
//! trusts only that CA).
//!
//! Run: `cargo run --example hyper_client`

#[path = "support/tls.rs"]
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqcache::{CacheLayer, CacheStatus, MemoryStorage};
use tls::{client_tls, server_tls};
use tokio::net::TcpListener;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let tls_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tls");
    let http_addr = serve(None).await?;
    let https_addr = serve(Some(server_tls(&tls_dir)?)).await?;

    let layer = CacheLayer::new(MemoryStorage::new());

    // Plain HTTP: hyper's connector as is.
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut http = ServiceBuilder::new().layer(layer.clone()).service(http);

    // HTTPS: hyper-rustls' connector, trusting the example CA only.
    let https_connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_tls(&tls_dir)?)
        .https_only()
        .enable_http1()
        .build();
    let https = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(https_connector);
    let mut https = ServiceBuilder::new().layer(layer.clone()).service(https);

    for url in [
        format!("http://{http_addr}/greeting"),
        format!("https://localhost:{}/greeting", https_addr.port()),
    ] {
        for attempt in 1..=2 {
            let request = Request::get(&url).body(Full::default())?;
            let response = if url.starts_with("https") {
                https.ready().await?.call(request).await?
            } else {
                http.ready().await?.call(request).await?
            };
            let status = response
                .extensions()
                .get::<CacheStatus>()
                .cloned()
                .unwrap_or_default();
            let body = response.into_body().collect().await?.to_bytes();
            println!(
                "{url} #{attempt}: {:?} from_cache={} body={:?}",
                status.outcome(),
                status.from_cache(),
                String::from_utf8_lossy(&body)
            );
        }
    }
    println!("cache stats: {:?}", layer.cache().stats());
    Ok(())
}

/// Serves one route on a free loopback port, over TLS when `tls` is given.
async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_request: Request<Incoming>| async move {
                        let response = Response::builder()
                            .header("cache-control", "max-age=60")
                            .body(Full::new(Bytes::from(format!("hello over {scheme}"))))
                            .expect("a valid response");
                        Ok::<_, Infallible>(response)
                    });
                let http1 = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => http1.serve_connection(TokioIo::new(stream), service).await,
                        Err(_) => return,
                    },
                    None => http1.serve_connection(TokioIo::new(stream), service).await,
                };
            });
        }
    });
    Ok(addr)
}
