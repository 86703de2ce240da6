//! What the TLS benchmark's servers share: the certificate and key they serve (PEM files named
//! by `TLS_CERT` and `TLS_KEY`), and the rustls configuration the peers are given, on the same
//! *ring* provider as fratello's, with the same ALPN list (`h2`, `http/1.1`).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The paths of the certificate chain and key, from `TLS_CERT` and `TLS_KEY`.
pub fn files() -> (String, String) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} names a PEM file"));
    (var("TLS_CERT"), var("TLS_KEY"))
}

/// A rustls server configuration for the peers, as fratello's `TlsConfig::from_pem_files`
/// builds its own.
pub fn server_config() -> Arc<rustls::ServerConfig> {
    let (cert, key) = files();
    let chain =
        CertificateDer::pem_file_iter(&cert).expect("cert").collect::<Result<Vec<_>, _>>().expect("cert");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key");
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
