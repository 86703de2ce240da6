//! Where the app under test listens, and the test client's own connection to it for a
//! WebSocket: TCP, or (feature `tls`) TLS over it.

use std::net::SocketAddr;
#[cfg(feature = "ws")]
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(feature = "ws")]
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
#[cfg(feature = "ws")]
use tokio::net::TcpStream;

/// The app's address, and the TLS to speak to it (when it serves TLS).
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<super::tls::ClientTls>>,
}

impl Target {
    /// Whether the app serves TLS.
    #[cfg(feature = "ws")]
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// A connection for HTTP/1.1 (a WebSocket's handshake), over TLS when the app serves it.
    #[cfg(feature = "ws")]
    pub(crate) async fn connect(&self) -> io::Result<ClientStream> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Ok(ClientStream::Tls(Box::new(tls.connect(self.addr, false).await?)));
        }
        let tcp = TcpStream::connect(self.addr).await?;
        Ok(ClientStream::Tcp(tcp))
    }
}

/// The test client's connection: TCP, or TLS over TCP.
#[cfg(feature = "ws")]
pub(crate) enum ClientStream {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

#[cfg(feature = "ws")]
impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

#[cfg(feature = "ws")]
impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
