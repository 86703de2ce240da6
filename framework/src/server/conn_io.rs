//! The stream hyper serves a connection on: a TCP stream, or (feature `tls`) the TLS stream
//! over one, as one type.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A connection's stream, as hyper reads and writes it. One type for both kinds, so that hyper's
/// connection code is built once: built twice (once per stream type), the compiler inlines
/// less of its write path into either. A cleartext connection pays one branch per call.
pub(crate) enum ConnIo {
    Tcp(TokioIo<TcpStream>),
    /// Boxed: rustls's connection state is large, and a cleartext connection should not carry
    /// its size.
    #[cfg(feature = "tls")]
    Tls(Box<Tls>),
}

impl Read for ConnIo {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => tls_read(s, cx, buf),
        }
    }
}

impl Write for ConnIo {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnIo::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    #[inline(always)]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnIo::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => tls_write_vectored(s, cx, bufs),
        }
    }

    /// As the stream says: hyper picks its write strategy by it.
    #[inline]
    fn is_write_vectored(&self) -> bool {
        match self {
            ConnIo::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => s.is_write_vectored(),
        }
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            ConnIo::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// A TLS connection's stream.
#[cfg(feature = "tls")]
type Tls = TokioIo<tokio_rustls::server::TlsStream<TcpStream>>;

/// A TLS stream's read, out of line: inlined into hyper's read path, rustls's code would cost
/// the cleartext path there too. (Likewise the next.)
#[cfg(feature = "tls")]
#[inline(never)]
fn tls_read(s: &mut Tls, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
    Pin::new(s).poll_read(cx, buf)
}

/// A TLS stream's vectored write, out of line.
#[cfg(feature = "tls")]
#[inline(never)]
fn tls_write_vectored(
    s: &mut Tls,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    Pin::new(s).poll_write_vectored(cx, bufs)
}
