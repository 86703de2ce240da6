//! [`TlsConfig`]: where the server's certificate comes from, and how long a handshake may take.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::accept::{self, Acceptor};
use super::keys::{self, Pem};
use super::reload::{self, CertFiles, Resolver, Watcher};
use crate::startup::StartupError;

/// How long a client may take over its TLS handshake, by default.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`TlsConfig::reloading`] reads its files, by default.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The TLS side of a server started with [`App::serve_tls`](crate::App::serve_tls): its
/// certificate chain and key, or a whole rustls configuration, and the handshake timeout.
///
/// ```no_run
/// use fratello::prelude::*;
/// use fratello::tls::TlsConfig;
///
/// #[tokio::main]
/// async fn main() -> Result<(), fratello::StartupError> {
///     // Read again whenever the files change (a renewal): new handshakes get the new pair.
///     let tls = TlsConfig::reloading("cert.pem", "key.pem")?;
///     App::new().serve_tls("0.0.0.0:443", tls).await
/// }
/// ```
///
/// Every constructor that reads a certificate checks it then, and its error (a
/// [`StartupError`] naming the file and what is wrong with it) comes before any port is bound.
/// Cloning is cheap, and clones share a reloading pair.
#[derive(Clone)]
pub struct TlsConfig {
    source: Source,
    handshake_timeout: Duration,
    reload_interval: Duration,
}

#[derive(Clone)]
enum Source {
    /// One pair for the server's life.
    Key(Arc<CertifiedKey>),
    /// A pair read from files, and read again when they change.
    Files(Arc<CertFiles>),
    /// The user's own rustls configuration.
    Rustls(Arc<ServerConfig>),
}

impl TlsConfig {
    /// The certificate chain (PEM, the server's own certificate first, then the
    /// intermediates) and private key (PEM: PKCS#8, PKCS#1 or SEC1) in these two files, read
    /// once. See [`reloading`](Self::reloading) for a certificate that is renewed while the
    /// server runs.
    ///
    /// Fails, naming the file, when a file cannot be read, holds no certificate or no key, is
    /// not valid PEM, or when the key is not the certificate's.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, StartupError> {
        let (cert, key) = (cert_chain.as_ref(), key.as_ref());
        let cert_name = keys::file_name("certificate", cert);
        let key_name = keys::file_name("key", key);
        let cert_pem = keys::read(cert, &cert_name).map_err(refused)?;
        let key_pem = keys::read(key, &key_name).map_err(refused)?;
        let pem = Pem { cert: &cert_pem, cert_name: &cert_name, key: &key_pem, key_name: &key_name };
        Ok(Self::with(Source::Key(Arc::new(keys::parse(&pem).map_err(refused)?))))
    }

    /// The certificate chain and private key given as PEM text (as
    /// [`from_pem_files`](Self::from_pem_files) reads them from files), e.g. from a secret
    /// store or an environment variable.
    pub fn from_pem(
        cert_chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, StartupError> {
        let pem = Pem {
            cert: cert_chain_pem.as_ref(),
            cert_name: "certificate PEM",
            key: key_pem.as_ref(),
            key_name: "key PEM",
        };
        Ok(Self::with(Source::Key(Arc::new(keys::parse(&pem).map_err(refused)?))))
    }

    /// A rustls configuration of your own: client certificates, several certificates chosen
    /// by SNI, other protocol versions or cipher suites, another crypto provider.
    ///
    /// Its ALPN protocols are replaced by what the server speaks (`h2`, with the `http2`
    /// feature, then `http/1.1`), so that the protocol a client chooses is the one it is
    /// served with. (rustls 0.23, re-exported as [`fratello::tls::rustls`](super::rustls).)
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self::with(Source::Rustls(config))
    }

    /// The certificate chain and key in these two files, as
    /// [`from_pem_files`](Self::from_pem_files), read again when they change: while the
    /// server runs, the files are read every few seconds (see
    /// [`reload_interval`](Self::reload_interval)), and when their bytes changed and the new
    /// pair is valid, new handshakes get it. Open connections keep the certificate they were
    /// opened with, and are not closed. A new pair that cannot be used (unreadable, not PEM,
    /// a key that is not the certificate's) is logged at `warn` and the previous pair stays,
    /// until the files change again: replace the key and the certificate together (write
    /// both, then rename them into place, as certbot and Kubernetes secret mounts do), and a
    /// half-written pair is only a warning.
    ///
    /// Fails as `from_pem_files` does when the files cannot be used now.
    pub fn reloading(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, StartupError> {
        let files = CertFiles::load(cert_chain.as_ref(), key.as_ref()).map_err(refused)?;
        Ok(Self::with(Source::Files(Arc::new(files))))
    }

    fn with(source: Source) -> Self {
        TlsConfig { source, handshake_timeout: HANDSHAKE_TIMEOUT, reload_interval: RELOAD_INTERVAL }
    }

    /// How long a client may take over its TLS handshake, from the connection's acceptance
    /// (10 s by default); a client that takes longer is disconnected (logged at `debug`). The
    /// handshake runs in the connection's own task, so a slow one holds up no other, but it
    /// holds one of the app's connections ([`App::max_connections`](crate::App::max_connections))
    /// until then. The header read timeout starts after the handshake.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How often a [`reloading`](Self::reloading) configuration reads its files (5 s by
    /// default, 10 ms at least); no effect on the others.
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The rustls configuration the server runs, ALPN set, and the handshake it does.
    pub(crate) fn acceptor(&self) -> Result<Acceptor, StartupError> {
        let mut config = match &self.source {
            Source::Rustls(config) => ServerConfig::clone(config),
            Source::Key(key) => builder()?.with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone()))),
            Source::Files(files) => builder()?.with_cert_resolver(Arc::new(Resolver(files.clone()))),
        };
        config.alpn_protocols = accept::alpn_protocols();
        Ok(Acceptor::new(Arc::new(config), self.handshake_timeout))
    }

    /// Starts watching the files of a [`reloading`](Self::reloading) configuration, until the
    /// watcher is dropped. (In a Tokio runtime.)
    pub(crate) fn watch(&self) -> Option<Watcher> {
        match &self.source {
            Source::Files(files) => Some(reload::watch(files.clone(), self.reload_interval)),
            Source::Key(_) | Source::Rustls(_) => None,
        }
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source: &dyn std::fmt::Debug = match &self.source {
            Source::Key(_) => &"certificate and key",
            Source::Files(files) => files,
            Source::Rustls(_) => &"rustls::ServerConfig",
        };
        f.debug_struct("TlsConfig")
            .field("source", source)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reload_interval", &self.reload_interval)
            .finish()
    }
}

/// rustls's builder on fratello's provider and rustls's safe protocol versions (TLS 1.3 and
/// 1.2), without client certificates.
fn builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>, StartupError> {
    Ok(ServerConfig::builder_with_provider(keys::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StartupError::config(format!("TLS: {e}")))?
        .with_no_client_auth())
}

fn refused(why: String) -> StartupError {
    StartupError::config(format!("TLS: {why}"))
}

#[cfg(test)]
mod tests {
    use crate::tls::config::*;

    #[test]
    fn a_config_moves_between_threads_and_clones() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        shared::<TlsConfig>();
    }

    #[test]
    fn alpn_is_what_the_server_speaks_whatever_the_config_said() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let tls = TlsConfig::from_pem(made.cert.pem(), made.key_pair.serialize_pem()).unwrap();
        let ours = tls.acceptor().unwrap();
        let expected: Vec<Vec<u8>> = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        assert_eq!(ours.config().alpn_protocols, expected);
        let mut theirs = ServerConfig::clone(ours.config());
        theirs.alpn_protocols = vec![b"spdy/3".to_vec()];
        let tls = TlsConfig::from_rustls(Arc::new(theirs));
        assert_eq!(tls.acceptor().unwrap().config().alpn_protocols, expected);
        assert!(tls.watch().is_none(), "only a reloading configuration watches files");
        assert!(format!("{tls:?}").contains("rustls::ServerConfig"));
    }
}
