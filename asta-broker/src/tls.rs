//! The one place HTTP clients get their TLS settings.
//!
//! reqwest 0.13's `rustls` feature brings aws-lc-rs as rustls's crypto
//! provider: a second crypto stack (the first is ring, used by asta-vault and
//! asta-audit) with a C build. The workspace enables `rustls-no-provider`
//! instead and hands every client a rustls configuration built here with
//! ring's provider, explicitly, so no process-wide default provider is read or
//! installed and the choice does not depend on what else the process links.
//!
//! Certificates are checked by rustls-platform-verifier against the system's
//! trust store (as reqwest's own default does); building a client fails when
//! the system has no CA certificates at all.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls_platform_verifier::BuilderVerifierExt;

/// Why the TLS configuration could not be built (no detail that could hold a
/// secret: rustls's errors here are about the provider and the trust store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlsConfigFailed;

/// ring's provider with rustls's default cipher suites and key exchanges.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration on ring, verifying servers against the
/// system trust store, offering HTTP/2 and HTTP/1.1 through ALPN.
pub(crate) fn client_config() -> Result<ClientConfig, TlsConfigFailed> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| TlsConfigFailed)?
        .with_platform_verifier()
        .map_err(|_| TlsConfigFailed)?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A reqwest client builder that uses [`client_config`] for `https` URLs.
/// Every reqwest client in this crate starts here.
pub(crate) fn client_builder() -> Result<reqwest::ClientBuilder, TlsConfigFailed> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(client_config()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_provider_is_ring() {
        let config = client_config().unwrap();
        let suites: Vec<_> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let ring_suites: Vec<_> = rustls::crypto::ring::DEFAULT_CIPHER_SUITES
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites, ring_suites);
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        // Nothing was installed process-wide.
        assert!(CryptoProvider::get_default().is_none());
    }

    /// A client from [`client_builder`] really speaks TLS on an https URL:
    /// a plain TCP listener on loopback receives a TLS ClientHello that
    /// offers h2 (and the client then fails, since no TLS server answers).
    #[tokio::test]
    async fn https_requests_start_a_tls_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut hello = vec![0u8; 4096];
            let mut got = 0;
            while got < 5 || got < 5 + usize::from(u16::from_be_bytes([hello[3], hello[4]])) {
                match stream.read(&mut hello[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            hello.truncate(got);
            hello
        });
        let client = client_builder()
            .unwrap()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .unwrap();
        let result = client
            .get(format!("https://127.0.0.1:{port}/"))
            .send()
            .await;
        assert!(result.is_err(), "no TLS server is listening");
        let hello = server.join().unwrap();
        assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
        assert!(
            hello.windows(3).any(|w| w == [2, b'h', b'2']),
            "the ClientHello offers h2 through ALPN"
        );
    }
}
