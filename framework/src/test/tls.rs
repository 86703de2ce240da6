//! The test client's TLS (features `test-util` and `tls`): a rustls client that trusts the
//! test's certificate, and the connector that puts hyper's client on it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::Body;

/// The name the test client asks for (SNI) and checks the server's certificate against.
pub(crate) const SERVER_NAME: &str = "localhost";

/// The client side of TLS to the app under test: one configuration that offers `http/1.1`
/// by ALPN (HTTP/1.1 requests and WebSockets), one that offers `h2`.
pub(crate) struct ClientTls {
    h1: tokio_rustls::TlsConnector,
    #[cfg(feature = "http2")]
    h2: tokio_rustls::TlsConnector,
}

impl ClientTls {
    /// A client that trusts `trust` (a CA certificate, or the server's self-signed one), on
    /// the same crypto provider as the server. Panics when `trust` is not a certificate: in a
    /// test that is the failure to report.
    pub(crate) fn new(trust: CertificateDer<'static>) -> ClientTls {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trust).unwrap_or_else(|e| panic!("the test's trusted certificate cannot be used: {e}"));
        let roots = Arc::new(roots);
        let config = |alpn: &[u8]| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = vec![alpn.to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(config))
        };
        ClientTls {
            h1: config(b"http/1.1"),
            #[cfg(feature = "http2")]
            h2: config(b"h2"),
        }
    }

    /// A TLS connection to `addr`, offering HTTP/2 (`h2`) or HTTP/1.1 by ALPN.
    pub(crate) async fn connect(&self, addr: SocketAddr, h2: bool) -> io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(SERVER_NAME).expect("a valid DNS name");
        #[cfg(feature = "http2")]
        if h2 {
            return self.h2.connect(name, tcp).await;
        }
        let _ = h2;
        self.h1.connect(name, tcp).await
    }
}

/// hyper's clients for a TLS app: HTTP/1.1, and HTTP/2 chosen by ALPN.
pub(crate) struct TlsClients {
    pub(crate) h1: Client<Connector, Body>,
    #[cfg(feature = "http2")]
    pub(crate) h2: Client<Connector, Body>,
}

impl TlsClients {
    pub(crate) fn new(tls: Arc<ClientTls>, addr: SocketAddr) -> TlsClients {
        let connector = |h2| Connector { tls: tls.clone(), addr, h2 };
        TlsClients {
            h1: Client::builder(TokioExecutor::new()).build(connector(false)),
            #[cfg(feature = "http2")]
            h2: Client::builder(TokioExecutor::new()).http2_only(true).build(connector(true)),
        }
    }
}

/// Connects hyper's client to the app's address over TLS, whatever the URL's host
/// ([`SERVER_NAME`], which may not resolve to the address the app listens on).
#[derive(Clone)]
pub(crate) struct Connector {
    tls: Arc<ClientTls>,
    addr: SocketAddr,
    h2: bool,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TlsConnection>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(TokioIo::new(TlsConnection(this.tls.connect(this.addr, this.h2).await?))) })
    }
}

/// A client's TLS connection, as hyper's client takes it.
pub(crate) struct TlsConnection(TlsStream<TcpStream>);

impl Connection for TlsConnection {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.0.get_ref().1.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
