//! TLS for the gateway: rustls on ring's provider (never aws-lc-rs), with
//! the certificate chain and key from `serve.tls_cert` and `serve.tls_key`.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the TLS configuration could not be built. Never holds key material:
/// only paths and rustls's description of what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file is unreadable or holds no certificate.
    #[error("cannot read a PEM certificate chain from {path}: {detail}")]
    Certificate {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The key file is unreadable or holds no private key.
    #[error("cannot read a PEM private key from {path}: {detail}")]
    Key {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the pair (for example a key that does not match).
    #[error("the certificate and key cannot be used together: {detail}")]
    Config {
        /// rustls's reason.
        detail: String,
    },
}

/// A TLS acceptor for the certificate chain in `cert` and the key in `key`
/// (PKCS#8, PKCS#1 or SEC1), offering HTTP/1.1 through ALPN.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            detail: "no certificate in the file".to_owned(),
        });
    }
    // The pem error type names what it failed to parse, never key bytes.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config {
            detail: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Config {
            detail: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
