//! One connection's TLS handshake, run by the server in that connection's own task under the
//! handshake timeout, and the protocol its client chose by ALPN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::reload::Watcher;

/// The ALPN protocols the server offers, in its order of preference: `h2` (with the `http2`
/// feature), then `http/1.1`.
pub(crate) fn alpn_protocols() -> Vec<Vec<u8>> {
    let mut protocols = Vec::new();
    if cfg!(feature = "http2") {
        protocols.push(b"h2".to_vec());
    }
    protocols.push(b"http/1.1".to_vec());
    protocols
}

/// What a TLS server runs with while it serves: the handshake, and the certificate watcher of
/// a reloading configuration (stopped with the server).
pub(crate) struct TlsServer {
    pub(crate) acceptor: Acceptor,
    _watcher: Option<Watcher>,
}

impl TlsServer {
    pub(crate) fn new(acceptor: Acceptor, watcher: Option<Watcher>) -> Self {
        TlsServer { acceptor, _watcher: watcher }
    }
}

/// The server side of the handshake, shared by every connection (cheap to clone).
#[derive(Clone)]
pub(crate) struct Acceptor {
    tls: tokio_rustls::TlsAcceptor,
    timeout: Duration,
}

impl Acceptor {
    pub(crate) fn new(config: Arc<ServerConfig>, timeout: Duration) -> Self {
        Acceptor { tls: tokio_rustls::TlsAcceptor::from(config), timeout }
    }

    /// The rustls configuration handshakes run with.
    #[cfg(test)]
    pub(crate) fn config(&self) -> &Arc<ServerConfig> {
        self.tls.config()
    }

    /// Runs the handshake on `stream` from `peer`: the encrypted stream, and whether the
    /// client chose HTTP/2 (`h2` by ALPN; HTTP/1.1 when it chose `http/1.1` or nothing).
    /// `None` when the handshake failed or took longer than the timeout: the client sent
    /// something else than TLS (plain HTTP to the HTTPS port), named a server the
    /// configuration has no certificate for, or stalled. That is the client's problem, not
    /// the server's, and it is logged at `debug`; the connection is closed by the caller.
    pub(crate) async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, bool)> {
        match tokio::time::timeout(self.timeout, self.tls.accept(stream)).await {
            Ok(Ok(tls)) => {
                let h2 = cfg!(feature = "http2") && tls.get_ref().1.alpn_protocol() == Some(b"h2");
                Some((tls, h2))
            }
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, timeout = ?self.timeout, "TLS handshake not completed in time");
                None
            }
        }
    }
}
