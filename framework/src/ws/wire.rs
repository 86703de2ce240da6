//! The socket's bytes on their way in and out: what tungstenite has not read yet, what waits
//! to be written, and the socket seen as the blocking-style `Read`/`Write` that tungstenite
//! drives within one poll of the socket's task.

use std::task::Poll;

use super::stream::Stream;

/// Bytes read from the socket that tungstenite has not asked for by the end of a read.
///
/// Every read from the socket goes into one buffer per worker thread (as large as a burst of
/// frames), and tungstenite copies from there in small pieces into its own small per-socket
/// buffer. What it has not taken stays in the thread's buffer while the socket's read goes on
/// (usually tungstenite asks for the rest at once: the frame it parses ends there), and only
/// what is left when the read stops moves here, into an allocation that exists until it is
/// taken ([`TaskIo::stash`]). So a socket holds a small buffer while idle, yet one system call
/// still reads everything the peer sent.
pub(crate) struct Leftover {
    pub(crate) bytes: Vec<u8>,
    pub(crate) at: usize,
}

/// Bytes read from a socket at once (one buffer per worker thread, not per socket).
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Bytes on their way to the socket, in the order they go out: a burst of frames encoded by
/// `send` and `forward` (taken from the queue in one piece), and the frames tungstenite writes
/// itself (pongs, pings, close), which it hands over at once (its own write buffer is off).
///
/// Boxed, and only once the socket has written something: it sits in every socket's task,
/// whose allocation grows in steps of 128 bytes.
#[derive(Default)]
pub(crate) struct Outgoing(Option<Box<OutBuf>>);

#[derive(Default)]
pub(crate) struct OutBuf {
    pub(crate) bytes: Vec<u8>,
    /// How much of `bytes` the socket has taken.
    pub(crate) at: usize,
}

impl Outgoing {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|o| o.bytes.is_empty())
    }

    /// Bytes not written yet.
    pub(crate) fn unwritten(&self) -> usize {
        self.0.as_ref().map_or(0, |o| o.bytes.len() - o.at)
    }

    /// Whether the buffer is allocated.
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.0.is_some()
    }

    /// Frees the buffer if everything in it is written (a resting socket keeps none).
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            self.0 = None;
        }
    }

    /// The buffer, empty or not (made on first use).
    pub(crate) fn buf(&mut self) -> &mut OutBuf {
        self.0.get_or_insert_with(Default::default)
    }
}

/// The socket as the blocking-style `Read`/`Write` that tungstenite drives: an operation that
/// would wait returns `WouldBlock` and has registered the task's waker.
///
/// A write only appends to the socket's [`Outgoing`] bytes, and a flush writes them, so that
/// tungstenite's frames keep their place among the ones queued by the handler.
pub(crate) struct TaskIo<'a, 'b> {
    pub(crate) io: &'a mut Stream,
    pub(crate) cx: &'a mut std::task::Context<'b>,
    pub(crate) leftover: &'a mut Option<Box<Leftover>>,
    pub(crate) out: &'a mut Outgoing,
    /// The capacity `out` keeps between bursts ([`WsConfig::write_buffer_size`]).
    pub(crate) keep: usize,
    /// Bytes handed to tungstenite (since this was last cleared).
    pub(crate) taken: usize,
    /// The socket took some of `out`.
    pub(crate) wrote_any: bool,
    /// What the last read from the socket left in the thread's buffer, not taken yet: it must
    /// be taken, or stashed into `leftover`, before anything else may read on this thread.
    unread: std::ops::Range<usize>,
}

impl<'a, 'b> TaskIo<'a, 'b> {
    pub(crate) fn new(
        io: &'a mut Stream,
        cx: &'a mut std::task::Context<'b>,
        leftover: &'a mut Option<Box<Leftover>>,
        out: &'a mut Outgoing,
        keep: usize,
    ) -> Self {
        TaskIo { io, cx, leftover, out, keep, taken: 0, wrote_any: false, unread: 0..0 }
    }

    /// Whether bytes read from the socket wait for tungstenite (in the thread's buffer or in the
    /// socket's `leftover`).
    pub(crate) fn holds_unread(&self) -> bool {
        self.leftover.is_some() || !self.unread.is_empty()
    }

    /// Moves what tungstenite has not taken of the last read out of the thread's buffer into
    /// the socket's own `leftover`: once a socket's read is over, the buffer is another
    /// socket's. (Usually there is nothing left, and nothing is allocated.)
    pub(crate) fn stash(&mut self) {
        if self.unread.is_empty() {
            return;
        }
        let unread = std::mem::replace(&mut self.unread, 0..0);
        let bytes = SCRATCH_BUF.with_borrow(|scratch| scratch[unread].to_vec());
        *self.leftover = Some(Box::new(Leftover { bytes, at: 0 }));
    }
}

fn pending() -> std::io::Error {
    std::io::ErrorKind::WouldBlock.into()
}

impl std::io::Read for TaskIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tokio::io::AsyncRead;
        if let Some(left) = self.leftover.as_mut() {
            let n = buf.len().min(left.bytes.len() - left.at);
            buf[..n].copy_from_slice(&left.bytes[left.at..left.at + n]);
            left.at += n;
            if left.at == left.bytes.len() {
                *self.leftover = None; // frees it
            }
            self.taken += n;
            return Ok(n);
        }
        let (io, cx, unread) = (&mut *self.io, &mut *self.cx, &mut self.unread);
        let n = SCRATCH_BUF.with_borrow_mut(|scratch| {
            if unread.start == unread.end {
                let mut rb = tokio::io::ReadBuf::new(scratch);
                match std::pin::Pin::new(io).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => *unread = 0..rb.filled().len(),
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Err(pending()),
                }
            }
            let got = &scratch[unread.clone()];
            let n = buf.len().min(got.len());
            buf[..n].copy_from_slice(&got[..n]);
            unread.start += n;
            Ok(n)
        })?;
        self.taken += n;
        Ok(n)
    }
}

fn poll_write(io: &mut Stream, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncWrite;
    match std::pin::Pin::new(io).poll_write(cx, buf) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(pending()),
    }
}

fn poll_flush(io: &mut Stream, cx: &mut std::task::Context<'_>) -> std::io::Result<()> {
    use tokio::io::AsyncWrite;
    match std::pin::Pin::new(io).poll_flush(cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(pending()),
    }
}

impl TaskIo<'_, '_> {
    /// Writes the socket's [`Outgoing`] bytes, all of them or until the socket is full.
    pub(crate) fn write_out(&mut self) -> std::io::Result<()> {
        let Some(out) = self.out.0.as_deref_mut() else { return Ok(()) };
        while out.at < out.bytes.len() {
            match poll_write(self.io, self.cx, &out.bytes[out.at..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    out.at += n;
                    self.wrote_any = true;
                }
                Err(e) => return Err(e),
            }
        }
        // A TLS stream takes bytes before the socket does, and keeps the records the socket
        // did not take: until they are out too, `out` stays (written, not empty), so that the
        // socket waits for them as it waits for its own bytes. (Nothing to do for TCP.)
        poll_flush(self.io, self.cx)?;
        out.at = 0;
        out.bytes.clear();
        if out.bytes.capacity() > self.keep {
            self.out.0 = None; // a large burst's buffer is not kept
        }
        Ok(())
    }
}

impl std::io::Write for TaskIo<'_, '_> {
    /// tungstenite's own frames (its write buffer is off) join the socket's bytes, so that
    /// every frame goes out whole and in order; the flush that follows writes them.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.buf().bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_out()
    }
}

#[cfg(test)]
mod read_tests {
    use std::io::Read;

    use tokio::io::AsyncWriteExt;

    use crate::ws::stream::Stream;
    use crate::ws::wire::*;

    /// What one read from the socket brought and tungstenite did not take is handed out from
    /// the thread's buffer while the read goes on, then kept by the socket (and nothing else)
    /// once it stops, and handed out from there, in order, by the next read.
    #[tokio::test]
    async fn a_reads_rest_is_handed_out_in_order_and_kept_when_the_read_stops() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (mut client, server) = (client.unwrap(), accepted.unwrap().0);
        let sent: Vec<u8> = (0..100u8).collect();
        client.write_all(&sent).await.unwrap();
        server.readable().await.unwrap();
        let mut stream = Stream::Tcp(server);
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let (mut leftover, mut out) = (None, Outgoing::default());
        let mut got = Vec::new();
        let mut buf = [0u8; 30];
        {
            let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
            for _ in 0..2 {
                let n = io.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(io.taken, 60);
            assert!(io.holds_unread() && io.leftover.is_none(), "the rest waits in the thread's buffer");
            io.stash();
        }
        // Another socket's read on this thread uses the buffer meanwhile.
        crate::ws::wire::SCRATCH_BUF.with_borrow_mut(|scratch| scratch.fill(0xee));
        let kept = leftover.as_ref().map(|l| l.bytes.len());
        assert_eq!(kept, Some(40), "the socket keeps the 40 bytes not taken");
        let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
        let mut rest = [0u8; 64];
        let n = io.read(&mut rest).unwrap();
        got.extend_from_slice(&rest[..n]);
        assert!(!io.holds_unread(), "all taken: the allocation is gone");
        assert_eq!(got, sent);
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use crate::ws::stream::Stream;
    use crate::ws::wire::*;

    /// A TLS connection over loopback TCP: the server's side as a socket's [`Stream`], and the
    /// client's.
    async fn tls_pair() -> (Stream, tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
        use tokio_rustls::rustls::{self, pki_types::ServerName};
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::try_from(made.key_pair.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let (tcp, accepted) = tokio::join!(socket.connect(listener.local_addr().unwrap()), listener.accept());
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(
            tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, tcp.unwrap()),
            tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(accepted.unwrap().0),
        );
        (Stream::Tls(Box::new(server.unwrap())), client.unwrap())
    }

    /// Whether TLS holds records that the socket has not taken.
    fn tls_holds_records(stream: &Stream) -> bool {
        match stream {
            Stream::Tls(s) => s.get_ref().1.wants_write(),
            Stream::Tcp(_) => false,
        }
    }

    /// What `write_out` reports as written is on the socket, over TLS too: TLS takes bytes
    /// before the socket does, and a socket's task that took its word for it (with nothing
    /// more to write) would never send the rest.
    #[tokio::test]
    async fn written_over_tls_means_on_the_socket() {
        let (mut stream, mut client) = tls_pair().await;
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let (mut leftover, mut out) = (None, Outgoing::default());
        let (mut sent, mut received) = (0usize, 0usize);
        let mut buf = vec![0u8; 64 * 1024];
        // Rounds of: write pieces of varied sizes until the socket is full, then let the
        // client read some of it.
        for round in 0..40usize {
            for piece in 0..64usize {
                let size = 1000 + (round * 7919 + piece * 104_729) % 70_000;
                if out.is_empty() {
                    out.buf().bytes.resize(size, b'x');
                    sent += size;
                }
                let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
                match io.write_out() {
                    Ok(()) => assert!(
                        !tls_holds_records(&stream),
                        "round {round}: written, yet TLS holds records the socket did not take"
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            let want = 10_000 + (round * 31_337) % 90_000;
            let until = received + want;
            while received < until {
                match tokio::time::timeout(Duration::from_millis(20), client.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => received += n,
                    _ => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await; // (the reactor sees the room)
        }
        // What is left arrives once written out.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
            let done = io.write_out().is_ok();
            match tokio::time::timeout(Duration::from_millis(50), client.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => received += n,
                _ if done => break,
                _ => {}
            }
        }
        assert_eq!(received, sent, "every byte written arrived");
    }
}
