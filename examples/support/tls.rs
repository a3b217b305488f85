//! TLS on loopback for the HTTPS example and test: the server side with
//! `examples/tls/localhost.crt`, the client side trusting only
//! `examples/tls/ca.crt`. Both on rustls with the ring provider.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn server_tls(dir: &Path) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let chain = vec![CertificateDer::from_pem_file(dir.join("localhost.crt"))?];
    let key = PrivateKeyDer::from_pem_file(dir.join("localhost.key"))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

pub(crate) fn client_tls(dir: &Path) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join("ca.crt"))?)?;
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
