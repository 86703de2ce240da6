//! The byte stream under a socket, as hyper hands it back after the upgrade: the TCP stream
//! itself, or (feature `tls`) the TLS stream over it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::server::conn_io::ConnIo;

/// A socket's connection. An enum rather than a type parameter of the socket's task, so that
/// one task type serves both, and a cleartext socket pays one branch per call for it.
pub(crate) enum Stream {
    Tcp(TcpStream),
    /// Boxed: rustls's connection state is large, and a cleartext socket should not carry its
    /// size.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The stream the server gave hyper for this connection, and the bytes hyper had read past
    /// the handshake (frames from a client that did not wait for the answer); `Err` with the
    /// upgrade when it is neither kind of stream.
    pub(crate) fn from_upgraded(
        upgraded: hyper::upgrade::Upgraded,
    ) -> Result<(Stream, bytes::Bytes), hyper::upgrade::Upgraded> {
        let parts = upgraded.downcast::<ConnIo>()?;
        let stream = match parts.io {
            ConnIo::Tcp(io) => Stream::Tcp(io.into_inner()),
            #[cfg(feature = "tls")]
            ConnIo::Tls(io) => Stream::Tls(Box::new(io.into_inner())),
        };
        Ok((stream, parts.read_buf))
    }

    /// Whether the socket can wait for bytes without a read into a buffer: a TCP stream can,
    /// a TLS stream may hold decrypted bytes only a read finds.
    pub(crate) fn can_rest(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }

    /// Whether the peer may have sent something (`Pending` registers the task's waker).
    pub(crate) fn poll_readable(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx).map(|_| ()),
            #[cfg(feature = "tls")]
            Stream::Tls(_) => std::task::Poll::Ready(()),
        }
    }
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    /// A TCP stream has nothing to flush (tokio answers ready at once). A TLS stream may hold
    /// encrypted records that the socket did not take when they were written: this writes them.
    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
