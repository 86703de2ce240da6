//! The server: accepts connections, speaks HTTP/1.1 and HTTP/2 (h2c; over TLS, h2 by ALPN with
//! the `tls` feature) through hyper, and runs each request through the route's middleware and
//! handler.
//!
//! Limits come from [`Config`](crate::config::Config). Graceful shutdown (Ctrl-C or SIGTERM with
//! [`App::serve`](crate::App::serve), or the future given to
//! [`App::serve_with`](crate::App::serve_with)) stops accepting, lets open requests finish,
//! and closes what is still open after the shutdown timeout.

mod backoff;
pub(crate) mod conn_io;
mod signal;
mod watch;

pub use self::signal::shutdown_signal;

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
#[cfg(feature = "http2")]
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};

use self::backoff::AcceptBackoff;
use self::conn_io::ConnIo;
use self::watch::{drive, Draining, Watch};
use crate::http::service::ConnService;
use crate::runtime::conn::{Conn, PeerCounts};
use crate::runtime::shared::Shared;

/// Listen backlog: tokio's `bind` uses 128, and a burst of connects then loses SYNs for a second.
pub const BACKLOG: u32 = 1024;

/// Binds a listener with a backlog of [`BACKLOG`] and `SO_REUSEADDR`.
pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to nothing")))
}

/// hyper's own limit on the number of request headers.
const HYPER_MAX_HEADERS: usize = 100;

/// How the accepted connections begin.
pub(crate) enum Transport {
    /// Cleartext: HTTP/1.1, or HTTP/2 with prior knowledge.
    Plain,
    /// A TLS handshake first, in the connection's own task; then HTTP/2 when the client chose
    /// it by ALPN, HTTP/1.1 otherwise. (Holds the certificate watcher, which stops with it.)
    #[cfg(feature = "tls")]
    Tls(crate::tls::accept::TlsServer),
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    transport: Transport,
) -> io::Result<()> {
    let config = shared.config.clone();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // No `header_read_timeout` in hyper: it arms a timer for every request (a boxed sleep in
    // the timer wheel). Each connection's task keeps that watch instead, with one timer per
    // connection (see `serve_connection`).
    http1.keep_alive(true);
    // The read buffer's limit bounds the request head: hyper answers 431 when a head does not
    // fit. (It also caps the buffer of a response queued for writing, which is flushed when
    // full.)
    http1.max_buf_size(config.max_header_bytes.max(8 * 1024));
    if config.max_headers != HYPER_MAX_HEADERS {
        // Set only when it differs: with a limit set, hyper initialises a vector of that many
        // slots for every request it parses (without one, an array on the stack).
        http1.max_headers(config.max_headers);
    }
    #[cfg(feature = "http2")]
    let http2 = {
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
        http2
    };
    let protocols = Arc::new(Protocols {
        http1,
        #[cfg(feature = "http2")]
        http2,
    });
    let stop = Arc::new(Draining::default());
    let per_peer = config.max_connections_per_ip.map(|max| Arc::new(PeerCounts::new(max)));
    let tls = !matches!(transport, Transport::Plain);
    tracing::info!(addr = %listener.local_addr()?, routes = shared.matcher.len(), tls, "fratello serving");

    // The accept loop is a task of its own, so that it runs on the runtime's workers and not
    // on the thread that awaits `serve` (often the one `block_on` runs on): what it allocates
    // for each connection (tokio's registration, the connection's task) then comes from the
    // workers' arenas, where the rest of the connection lives. From the caller's thread, each
    // connection's blocks that outlive its handshake sit between that thread's short-lived
    // ones, and the holes they leave grow an idle server's memory by a third.
    let accepting =
        Accepting { listener, shared: shared.clone(), protocols, stop: stop.clone(), per_peer, transport };
    let mut accept = tokio::spawn(accepting.run());
    let accepted = tokio::select! {
        // (Aborted: the listener is closed once the task is dropped, which this waits for.)
        () = shutdown => {
            accept.abort();
            accept.await
        }
        // Over without a shutdown: it panicked, or the runtime is shutting down. (Its handle
        // is not awaited a second time.)
        accepted = &mut accept => accepted,
    };
    if let Err(e) = accepted {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    drain(&shared, &stop).await;
    Ok(())
}

/// The accept loop and what it hands each connection.
struct Accepting {
    listener: TcpListener,
    shared: Arc<Shared>,
    protocols: Arc<Protocols>,
    stop: Arc<Draining>,
    per_peer: Option<Arc<PeerCounts>>,
    transport: Transport,
}

impl Accepting {
    /// Accepts connections, each into a task of its own, until aborted.
    async fn run(self) {
        let Accepting { listener, shared, protocols, stop, per_peer, transport } = self;
        let timeout = shared.config.header_read_timeout;
        let mut backoff = AcceptBackoff::default();
        loop {
            let permit = shared.connections.acquire().await.expect("the semaphore is never closed");
            let (stream, peer) = match listener.accept().await {
                Ok(c) => {
                    backoff.reset();
                    c
                }
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: not fatal.
                    // The pending connection stays in the backlog; wait and try again.
                    tokio::time::sleep(backoff.failed(&e)).await;
                    continue;
                }
            };
            let peer_slot = match &per_peer {
                None => None,
                Some(counts) => match PeerCounts::enter(counts, peer.ip()) {
                    Some(slot) => Some(Box::new(slot)),
                    None => {
                        tracing::debug!(%peer, "closing a connection over the per-peer limit");
                        continue; // (dropping the stream closes it)
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            permit.forget(); // (given back by the connection's `Conn` when it is dropped)
            let watch =
                Watch { conn: Conn::counted(shared.clone(), peer, peer_slot), stop: stop.clone(), timeout };
            let opening = match &transport {
                Transport::Plain => Opening::Plain,
                #[cfg(feature = "tls")]
                Transport::Tls(tls) => Opening::Tls(tls.acceptor.clone()),
            };
            tokio::spawn(serve_connection(stream, opening, protocols.clone(), watch));
        }
    }
}

/// Graceful shutdown, once the listener is closed: every socket and stream is told to end,
/// every connection to finish its request and close; waits for them all, for at most the
/// shutdown timeout.
async fn drain(shared: &Shared, stop: &Draining) {
    let timeout = shared.config.shutdown_timeout;
    tracing::info!("shutting down: draining open connections");
    // Sockets and streams hear it from their sessions; HTTP connections from `stop`.
    shared.sessions.shutdown();
    stop.stopping.store(true, Ordering::SeqCst);
    stop.notify.notify_waiters();
    let drained = async {
        let all = shared.config.connection_permits();
        let (_, ()) = tokio::join!(shared.connections.acquire_many(all), shared.sessions.wait_idle());
    };
    match tokio::time::timeout(timeout, drained).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!(?timeout, "shutdown timeout: closing what is still open"),
    }
}

/// hyper's connection builders, set up once.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    #[cfg(feature = "http2")]
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

/// How a connection begins, before it speaks HTTP.
enum Opening {
    /// Cleartext: HTTP/2 when its first bytes are HTTP/2's preface (prior knowledge, h2c, with
    /// the `http2` feature), HTTP/1.1 otherwise.
    Plain,
    /// A TLS handshake, then HTTP/2 when the client chose `h2` by ALPN, HTTP/1.1 otherwise.
    #[cfg(feature = "tls")]
    Tls(crate::tls::accept::Acceptor),
}

/// Serves one connection: opens it (see [`open`]), then serves HTTP on it, cleartext or TLS
/// alike, with the same builders and the same watch over idle time and shutdown.
///
/// One `async fn` for the whole connection, with the opening in a future of its own that is
/// over before the first request: each wake-up of a connection that serves requests goes
/// through this function's state machine and the watch's, and no other.
async fn serve_connection(stream: TcpStream, opening: Opening, protocols: Arc<Protocols>, watch: Watch) {
    let timer = tokio::time::sleep(watch.timeout);
    let mut timer = std::pin::pin!(timer);
    let stopped = watch.stop.notify.notified();
    let mut stopped = std::pin::pin!(stopped);
    let Some((io, h2)) = open(stream, opening, &watch, timer.as_mut(), stopped.as_mut()).await else {
        return;
    };
    let service = ConnService::new(&watch.conn);
    let spare = service.spare().cloned();
    let spare = spare.as_deref();
    #[cfg(feature = "http2")]
    if h2 {
        let served = std::pin::pin!(protocols.http2.serve_connection(io, service));
        let shutdown = hyper::server::conn::http2::Connection::graceful_shutdown;
        let outcome = drive(served, shutdown, &watch, spare, timer, stopped).await;
        return log_end(outcome, &watch);
    }
    // (Without HTTP/2, hyper's HTTP/1.1 refuses the preface.)
    let _ = h2;
    let served = std::pin::pin!(protocols.http1.serve_connection(io, service).with_upgrades());
    let shutdown = hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown;
    let outcome = drive(served, shutdown, &watch, spare, timer, stopped).await;
    log_end(outcome, &watch);
}

/// Opens a connection: its stream for hyper, and whether it speaks HTTP/2. `None` when it
/// closed, timed out or the server stopped first (logged).
///
/// A cleartext connection's protocol is told by peeking, so hyper gets the socket itself:
/// hyper-util's `auto` builder reads the first bytes and then puts a layer in front of the
/// socket to give them back, which every read of every request (and of an upgraded WebSocket,
/// which can then not get at the socket underneath) went through. Its first bytes must come
/// within the header read timeout (`timer`).
///
/// A TLS handshake runs here, in the connection's own task (under its own timeout, see
/// [`TlsConfig::handshake_timeout`](crate::tls::TlsConfig::handshake_timeout)), so that a
/// client that stalls it holds up nobody else. The header read timeout starts once it is
/// done.
async fn open(
    stream: TcpStream,
    opening: Opening,
    watch: &Watch,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    mut stopped: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> Option<(ConnIo, bool)> {
    let peer = watch.conn.peer;
    match opening {
        Opening::Plain => tokio::select! {
            biased;
            r = sniff(&stream) => match r {
                Ok(h2) => Some((ConnIo::Tcp(TokioIo::new(stream)), h2)),
                Err(e) => {
                    tracing::debug!(error = %e, %peer, "connection failed before its first request");
                    None
                }
            },
            () = &mut timer => {
                tracing::debug!(%peer, timeout = ?watch.timeout, "closing a connection that sent nothing in time");
                None
            }
            () = &mut stopped => None,
        },
        #[cfg(feature = "tls")]
        Opening::Tls(acceptor) => {
            let (tls, h2) = tokio::select! {
                biased;
                r = acceptor.handshake(stream, peer) => r?, // (`None` is logged)
                () = &mut stopped => return None,
            };
            timer.as_mut().reset(tokio::time::Instant::now() + watch.timeout);
            Some((ConnIo::Tls(Box::new(TokioIo::new(tls))), h2))
        }
    }
}

/// Logs how a connection ended (`None`: its watch closed it).
fn log_end(outcome: Option<Result<(), hyper::Error>>, watch: &Watch) {
    let peer = watch.conn.peer;
    match outcome {
        Some(Err(e)) => tracing::debug!(error = %e, %peer, "connection ended with an error"),
        Some(Ok(())) => {}
        // Dropping the connection closed it.
        None => {
            tracing::debug!(%peer, timeout = ?watch.timeout, "closed a connection that started no request in time")
        }
    }
}

/// Whether the client speaks HTTP/2 with prior knowledge: whether its first bytes are HTTP/2's
/// connection preface. Peeked, not read: the socket goes to hyper untouched.
async fn sniff(stream: &TcpStream) -> io::Result<bool> {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0u8; 24];
    let mut wait = std::time::Duration::from_millis(1);
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 || buf[..n] != PREFACE[..n] {
            return Ok(false); // (at the end of the stream, HTTP/1 sees the end)
        }
        if n == PREFACE.len() {
            return Ok(true);
        }
        // Part of the preface so far (clients send it whole; this is rare). What was peeked
        // keeps the socket readable, so there is no wake-up for the rest: look again after a
        // while that grows, so that a client trickling bytes costs few system calls. The
        // connection's timer bounds the whole wait.
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_millis(100));
    }
}
