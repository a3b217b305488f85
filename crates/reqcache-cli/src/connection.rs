//! One client connection of the proxy: TLS with ALPN when configured, the
//! HTTP version chosen (ALPN, or the HTTP/2 preface on a plain connection:
//! h2c with prior knowledge), then served until it ends or the proxy
//! drains.
//!
//! Choosing is bounded by the header-read timeout: a client that sends
//! nothing, or half a TLS handshake, or half the HTTP/2 preface, is cut off
//! like a slow HTTP/1 request head.

use std::convert::Infallible;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::BoxError;

/// The client-connection preface of HTTP/2 (RFC 9113 section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// TLS for the proxy's clients: a certificate chain and its key, offering
/// HTTP/2 and HTTP/1.1 by ALPN.
///
/// # Example
/// ```
/// use reqcache_cli::connection::ServerTls;
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tls");
/// let tls = ServerTls::from_pem_files(format!("{dir}/localhost.crt"), format!("{dir}/localhost.key"));
/// assert!(tls.is_ok());
/// assert!(ServerTls::from_pem_files("/nonexistent.crt", "/nonexistent.key").is_err());
/// ```
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// TLS with the PEM certificate chain in `cert` and the PEM private key
    /// in `key` (rustls, ring).
    ///
    /// # Errors
    /// A message naming the file that cannot be read or does not hold a
    /// certificate or key, or a key that does not match.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "--tls-cert {}: no certificate in the file",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("--tls-cert / --tls-key: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// How connections are served: both protocols' settings, TLS if any.
pub(crate) struct Protocols {
    pub(crate) http1: hyper::server::conn::http1::Builder,
    pub(crate) http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    pub(crate) tls: Option<ServerTls>,
    /// The bound on the TLS handshake and on choosing the version.
    pub(crate) handshake_timeout: Duration,
}

impl Protocols {
    /// HTTP/1 and HTTP/2 with the proxy's limits.
    pub(crate) fn new(
        header_read_timeout: Duration,
        max_headers: usize,
        max_header_size: usize,
        tls: Option<ServerTls>,
    ) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_headers(max_headers)
            .max_buf_size(max_header_size.max(8192));
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(256)
            .max_header_list_size(u32::try_from(max_header_size).unwrap_or(u32::MAX))
            // Dead peers are found by pings; a live idle one is closed by
            // the proxy's drain only.
            .keep_alive_interval(Some(header_read_timeout))
            .keep_alive_timeout(header_read_timeout);
        Self {
            http1,
            http2,
            tls,
            handshake_timeout: header_read_timeout,
        }
    }
}

/// What [`serve`] answers each request with.
pub(crate) trait Handler:
    hyper::service::Service<
        Request<Incoming>,
        Response = Response<BoxBody<Bytes, BoxError>>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Handler for S where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<BoxBody<Bytes, BoxError>>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Drives a hyper connection (HTTP/1 or HTTP/2: the same calls, two
/// types); when the proxy drains, finishes what is in flight and closes.
macro_rules! drive {
    ($connection:expr, $draining:expr) => {{
        let mut connection = std::pin::pin!($connection);
        let mut draining = $draining;
        tokio::select! {
            ended = connection.as_mut() => ended,
            // (`watch::Ref` is not `Send`: drop it before awaiting.)
            _ = async { draining.wait_for(|draining| *draining).await.map(|_| ()) } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    }};
}

/// Serves one accepted connection until it ends, or, once `draining`
/// turns true, until the response in flight is sent.
pub(crate) async fn serve(
    protocols: Arc<Protocols>,
    stream: TcpStream,
    handler: impl Handler,
    draining: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let timeout = protocols.handshake_timeout;
    let ended = match &protocols.tls {
        Some(tls) => {
            let Ok(Ok(stream)) = tokio::time::timeout(timeout, tls.acceptor.accept(stream)).await
            else {
                tracing::debug!("reqcache proxy: TLS handshake failed or timed out");
                return;
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(stream);
            if h2 {
                drive!(protocols.http2.serve_connection(io, handler), draining)
            } else {
                drive!(protocols.http1.serve_connection(io, handler), draining)
            }
        }
        None => {
            let mut stream = stream;
            let Ok(Ok((h2, seen))) = tokio::time::timeout(timeout, sniff(&mut stream)).await else {
                tracing::debug!("reqcache proxy: no request in time");
                return;
            };
            let io = TokioIo::new(Prefixed::new(seen, stream));
            if h2 {
                drive!(protocols.http2.serve_connection(io, handler), draining)
            } else {
                drive!(protocols.http1.serve_connection(io, handler), draining)
            }
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "reqcache proxy: connection ended with an error");
    }
}

/// Reads until the bytes are the HTTP/2 preface or cannot be: `true` for
/// HTTP/2; the bytes read, to be read again by the server.
async fn sniff(stream: &mut TcpStream) -> io::Result<(bool, Vec<u8>)> {
    let mut seen = Vec::with_capacity(PREFACE.len());
    let mut buf = [0; 24];
    loop {
        let wanted = PREFACE.len() - seen.len();
        let n = stream.read(&mut buf[..wanted]).await?;
        if n == 0 {
            // Closed before deciding: nothing to serve.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&buf[..n]);
        if !PREFACE.starts_with(&seen) {
            return Ok((false, seen));
        }
        if seen.len() == PREFACE.len() {
            return Ok((true, seen));
        }
    }
}

/// A stream whose first bytes were read already: they are read again first.
struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            read: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let rest = &this.prefix[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_preface_decides_and_the_bytes_are_read_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for (sent, h2) in [
            (&b"GET / HTTP/1.1\r\n"[..], false),
            (&b"POST / HTTP/1.1\r\n"[..], false),
            (PREFACE, true),
        ] {
            let client = tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                tokio::io::AsyncWriteExt::write_all(&mut stream, sent)
                    .await
                    .unwrap();
                stream
            });
            let (mut server, _) = listener.accept().await.unwrap();
            let _client = client.await.unwrap();
            let (is_h2, seen) = sniff(&mut server).await.unwrap();
            assert_eq!(is_h2, h2, "{sent:?}");
            let mut again = Prefixed::new(seen, server);
            let mut read = vec![0; sent.len()];
            again.read_exact(&mut read).await.unwrap();
            assert_eq!(read, sent);
        }
    }
}
