//! The server: accepts connections, speaks HTTP/1.1 and HTTP/2 (h2c) through hyper, and runs
//! each request through the route's middleware and handler.
//!
//! Limits come from [`Config`](crate::app::Config). Graceful shutdown (Ctrl-C or SIGTERM with
//! [`App::serve`](crate::App::serve), or the future given to
//! [`App::serve_with`](crate::App::serve_with)) stops accepting, lets open requests finish,
//! and closes what is still open after the shutdown timeout.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;

use crate::app::Shared;
use crate::response::{prefers_json, ErrorMark};
use crate::routing::{Handler, Lookup, RouteDef, RouteKind};
use crate::{Body, Context, Error, IntoResponse, Response};
use hyper::upgrade::OnUpgrade;

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

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}

/// hyper's own limit on the number of request headers.
const HYPER_MAX_HEADERS: usize = 100;

pub(crate) async fn run(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let config = shared.config.clone();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // No `header_read_timeout` in hyper: it arms a timer for every request (a boxed sleep in
    // the timer wheel, about 6% of a small request's cost). Each connection's task keeps that
    // watch instead, with one timer per connection (see `serve_connection`).
    http1.keep_alive(true);
    if config.max_headers != HYPER_MAX_HEADERS {
        // Set only when it differs: with a limit set, hyper initialises a vector of that many
        // slots for every request it parses (without one, an array on the stack).
        http1.max_headers(config.max_headers);
    }
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2.timer(TokioTimer::new()).max_header_list_size(64 * 1024);
    let protocols = Arc::new(Protocols { http1, http2 });
    let stop = Arc::new(Stop::default());
    // Every connection holds a permit until it ends, and so do the sockets and streams it
    // hands over to (see `Conn`): shutdown takes them all back to know that none is open.
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(all as usize));
    let per_peer = config.max_connections_per_ip.map(|max| Arc::new(PeerCounts::new(max)));
    tracing::info!(addr = %listener.local_addr()?, routes = shared.router.infos().len(), "fratello serving");

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: not fatal.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
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
        let slot = Slot { _permit: permit, _peer: peer_slot };
        let watch = Watch {
            conn: Conn::with_slot(shared.clone(), peer, Some(slot)),
            stop: stop.clone(),
            timeout: config.header_read_timeout,
        };
        tokio::spawn(serve_connection(stream, protocols.clone(), watch));
    }

    drop(listener);
    tracing::info!("shutting down: draining open connections");
    // Sockets and streams hear it from their sessions; HTTP connections from `stop`.
    shared.sessions.shutdown();
    stop.stopping.store(true, Ordering::SeqCst);
    stop.notify.notify_waiters();
    let drained = async {
        let (_, ()) = tokio::join!(permits.acquire_many(all), shared.sessions.wait_idle());
    };
    match tokio::time::timeout(config.shutdown_timeout, drained).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!(timeout = ?config.shutdown_timeout, "shutdown timeout: closing what is still open")
        }
    }
    Ok(())
}

/// One connection, shared by its requests' Contexts: the app, the peer, and how many requests
/// it started (which the connection's watch reads).
///
/// Per connection rather than per request: a Context that held the app's own `Arc` would
/// count it up and down on every request, from every core, on one shared cache line.
///
/// Whether a request is still in progress is read off this `Arc`'s count: every Context of
/// the connection holds it, and so does a response body that is still being produced when
/// its request's future completes (see [`Body::keep_busy`]). A counter of its own cost four
/// more atomic read-modify-writes per request.
///
/// The connection's slot under [`Config::max_connections`](crate::app::Config) is held here
/// too, so that it is given back when the last of the connection's requests, sockets and
/// streams ends: a WebSocket outlives its connection's task (hyper hands the socket over),
/// and must still count.
pub(crate) struct Conn {
    pub(crate) app: Arc<Shared>,
    pub(crate) peer: SocketAddr,
    /// Requests started, and [`ABORTED`] once [`abort`](Self::abort) was called.
    started: AtomicUsize,
    _slot: Option<Slot>,
}

/// The bit of [`Conn::started`] that says the connection is to be closed.
const ABORTED: usize = 1 << (usize::BITS - 1);

/// A connection's place under the connection limits, given back when dropped.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    // (Boxed: a socket's Context keeps its connection for hours, and this is rarely set.)
    _peer: Option<Box<PeerSlot>>,
}

impl Conn {
    /// A connection from `peer` to `app` outside the server's limits (benchmarks, tests).
    pub(crate) fn new(app: Arc<Shared>, peer: SocketAddr) -> Arc<Conn> {
        Self::with_slot(app, peer, None)
    }

    /// A connection from `peer` to `app` holding its `slot`, with no request started yet.
    pub(crate) fn with_slot(app: Arc<Shared>, peer: SocketAddr, slot: Option<Slot>) -> Arc<Conn> {
        Arc::new(Conn { app, peer, started: AtomicUsize::new(0), _slot: slot })
    }

    /// Closes the connection, whatever it is doing (a client that stopped reading a stream:
    /// nothing can be written to it any more), the next time its watch looks: within one
    /// header read timeout. On HTTP/2 that ends all its streams. (The watch is not woken for
    /// it: a waker kept here would keep the connection's task in memory for as long as a
    /// socket keeps its Context.)
    pub(crate) fn abort(&self) {
        self.started.fetch_or(ABORTED, Ordering::Relaxed);
    }
}

/// Open connections per peer, for [`Config::max_connections_per_ip`](crate::app::Config). An
/// IPv6 peer counts by its /64 network, which one client can fill with addresses.
struct PeerCounts {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection's place in [`PeerCounts`], given back when dropped.
struct PeerSlot {
    counts: Arc<PeerCounts>,
    key: std::net::IpAddr,
}

impl PeerCounts {
    fn new(max: usize) -> Self {
        PeerCounts { max, open: Default::default() }
    }

    fn key(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => std::net::Ipv6Addr::from(u128::from(v6) & !0u128 >> 64).into(),
            },
            v4 => v4,
        }
    }

    /// A place for a connection from `ip`, unless its peer has `max` open.
    fn enter(counts: &Arc<Self>, ip: std::net::IpAddr) -> Option<PeerSlot> {
        let key = Self::key(ip);
        let mut open = counts.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= counts.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot { counts: counts.clone(), key })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// hyper's two connection builders, set up once.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

/// What a connection's task keeps an eye on besides the connection.
struct Watch {
    conn: Arc<Conn>,
    stop: Arc<Stop>,
    /// How long a connection may go without starting a request while none is in progress.
    timeout: std::time::Duration,
}

/// Serves one connection with HTTP/2 when its first bytes are HTTP/2's preface (prior
/// knowledge, h2c), with HTTP/1.1 otherwise.
///
/// The protocol is told by peeking, so hyper gets the socket itself: hyper-util's `auto`
/// builder reads the first bytes and then puts a layer in front of the socket to give them
/// back, which every read of every request (and of an upgraded WebSocket, which can then not
/// get at the socket underneath) went through.
async fn serve_connection(stream: TcpStream, protocols: Arc<Protocols>, watch: Watch) {
    let peer = watch.conn.peer;
    let timer = tokio::time::sleep(watch.timeout);
    let mut timer = std::pin::pin!(timer);
    let stopped = watch.stop.notify.notified();
    let mut stopped = std::pin::pin!(stopped);
    let h2 = tokio::select! {
        biased;
        r = sniff(&stream) => match r {
            Ok(h2) => h2,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "connection failed before its first request");
                return;
            }
        },
        () = &mut timer => {
            tracing::debug!(%peer, timeout = ?watch.timeout, "closing a connection that sent nothing in time");
            return;
        }
        () = &mut stopped => return,
    };
    let service = {
        let conn = watch.conn.clone();
        hyper::service::service_fn(move |req| dispatch(&conn, req))
    };
    let io = TokioIo::new(stream);
    let outcome = if h2 {
        let served = protocols.http2.serve_connection(io, service);
        drive(served, hyper::server::conn::http2::Connection::graceful_shutdown, &watch, timer, stopped).await
    } else {
        let served = protocols.http1.serve_connection(io, service).with_upgrades();
        let shutdown = hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown;
        drive(served, shutdown, &watch, timer, stopped).await
    };
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

/// The server's "stop accepting, finish what is open", as each connection hears it.
#[derive(Default)]
struct Stop {
    stopping: AtomicBool,
    /// Wakes every connection once `stopping` is set.
    notify: tokio::sync::Notify,
}

/// Drives a connection, and closes it when no request starts for the watch's timeout while
/// none is in progress: a client that sends its request head too slowly (slowloris), or a
/// keep-alive connection left idle. One timer per connection, looked at once per timeout, so
/// a connection goes between one and two timeouts after its last request. When the server
/// stops, the connection finishes the request in progress and closes (`shutdown`). `None`
/// when the watch closed it.
///
/// Hand-written rather than a `select!` over the connection, the timer and a shutdown signal:
/// that polls all three on every wake-up (and draws a random number to pick the order), about
/// 400 instructions per request, and the shutdown signal's poll takes a lock that every
/// connection shares. Here each wake-up polls the connection and reads two flags; the timer
/// and the signal are registered once and hold this task's waker until they fire.
async fn drive<C>(
    served: C,
    shutdown: fn(std::pin::Pin<&mut C>),
    watch: &Watch,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    mut stopped: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> Option<Result<(), hyper::Error>>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut served = std::pin::pin!(served);
    let (conn, timeout) = (&watch.conn, watch.timeout);
    // What the connection holds of its `Conn` itself (the watch, the service): no request has
    // started yet. Anything above this is a request in progress.
    let held = Arc::strong_count(conn);
    let (mut registered, mut graceful, mut seen) = (false, false, 0);
    std::future::poll_fn(|cx| {
        if !registered {
            registered = true;
            // Polled once each, to leave this task's waker with them; later wake-ups read
            // their state instead.
            let _ = stopped.as_mut().poll(cx);
            let _ = timer.as_mut().poll(cx);
        }
        loop {
            if !graceful && watch.stop.stopping.load(Ordering::SeqCst) {
                graceful = true;
                shutdown(served.as_mut());
            }
            if let Poll::Ready(done) = served.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            if !timer.is_elapsed() {
                return Poll::Pending;
            }
            let started = conn.started.load(Ordering::Relaxed);
            if started & ABORTED != 0 {
                return Poll::Ready(Some(Ok(())));
            }
            if started == seen && Arc::strong_count(conn) <= held {
                return Poll::Ready(None);
            }
            seen = started;
            timer.as_mut().reset(tokio::time::Instant::now() + timeout);
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// One request, from the call of the service until its response head is ready: the route's
/// middleware and handler (or an answer made without them), then error rendering, HEAD and the
/// log line.
///
/// Routing is done before (in [`dispatch`]), and this holds only what the rest needs: hyper
/// stores it, and moves it, once per request. One future, rather than the handler's wrapped in
/// adapters, because each adapter moves the response once more on its way out.
struct Answer {
    route: Route,
    is_head: bool,
    /// The request's span and start, when something records spans.
    trace: Option<Box<Trace>>,
}

enum Route {
    Handling(Handling),
    /// Answered without a handler (no route, a bad handshake), and already rendered.
    Early(Option<Box<Response>>),
}

struct Trace {
    span: tracing::Span,
    start: Instant,
}

/// Starts one request: routes it and makes its Context.
fn dispatch(conn: &Arc<Conn>, req: http::Request<Incoming>) -> Answer {
    conn.started.fetch_add(1, Ordering::Relaxed);
    // Without a subscriber no span is made: with `tracing`'s `log` feature (which other crates
    // turn on) a span would otherwise format its fields for `log` on every request.
    let trace = tracing::dispatcher::has_been_set()
        .then(|| {
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                status = tracing::field::Empty,
                latency_us = tracing::field::Empty,
            );
            (!span.is_disabled()).then(|| Box::new(Trace { span, start: Instant::now() }))
        })
        .flatten();
    let (head, body) = req.into_parts();
    let is_head = head.method == Method::HEAD;
    let start = trace.as_ref().map(|t| t.start);
    let routed = match &trace {
        None => route(conn, head, body, is_head, start),
        Some(t) => t.span.in_scope(|| route(conn, head, body, is_head, start)),
    };
    let route = match routed {
        Ok(handling) => Route::Handling(handling),
        Err(res) => Route::Early(Some(res)),
    };
    Answer { route, is_head, trace }
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let res = match &mut this.route {
            Route::Early(res) => *res.take().expect("a request's future was polled after it completed"),
            Route::Handling(handling) => {
                let _entered = this.trace.as_ref().map(|t| t.span.enter());
                let mut res = std::task::ready!(std::pin::Pin::new(&mut *handling).poll(cx));
                let ctx = &handling.ctx.0;
                let json = || prefers_json(ctx.header(header::ACCEPT));
                finish(&mut res, json, this.is_head, this.trace.as_ref().map(|t| t.start));
                res.body_mut().keep_busy(&ctx.inner.conn);
                res
            }
        };
        Poll::Ready(Ok(res))
    }
}

/// Renders an error as the client prefers (`json`: whether its `Accept` prefers JSON, asked
/// only for an error), applies HEAD, and logs the response. (In place: a response moved in and
/// out is two copies of it.)
fn finish(res: &mut Response, json: impl FnOnce() -> bool, is_head: bool, start: Option<Instant>) {
    // (Most responses have no extensions: asking whether there are any costs less than looking
    // for the mark.)
    let mark = if res.extensions().is_empty() { None } else { res.extensions_mut().remove::<ErrorMark>() };
    if let Some(ErrorMark(e)) = mark {
        if e.status().is_server_error() {
            tracing::error!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        if res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
            && json()
        {
            *res.body_mut() = Body::from(e.to_json());
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    if is_head {
        // Keep the length the GET would have had, then drop the body.
        if let Some(len) = http_body::Body::size_hint(res.body()).exact() {
            res.headers_mut().entry(header::CONTENT_LENGTH).or_insert(HeaderValue::from(len));
        }
        *res.body_mut() = Body::empty();
    }
    if let Some(start) = start {
        let span = tracing::Span::current();
        span.record("status", res.status().as_u16());
        span.record("latency_us", start.elapsed().as_micros() as u64);
    }
    tracing::debug!("response");
}

/// Finds the route and makes the Context: the future that runs middleware and handler, or
/// (rendered by [`finish`]) the answer when there is none to run: no route, a bad handshake.
fn route(
    conn: &Arc<Conn>,
    mut head: http::request::Parts,
    body: Incoming,
    is_head: bool,
    start: Option<Instant>,
) -> Result<Handling, Box<Response>> {
    let app = &conn.app;
    let refuse = |res: Response, head: &http::request::Parts| {
        let json = || prefers_json(head.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
        let mut res = Box::new(res);
        finish(&mut res, json, is_head, start);
        res
    };
    let (id, def, params) = match app.router.lookup(&head.method, head.uri.path()) {
        Lookup::Found { id, endpoint, params } => (id, endpoint.def, params),
        Lookup::NotFound => {
            return Err(refuse(Error::not_found("no route matches this path").into_response(), &head));
        }
        Lookup::MethodNotAllowed(allow) => {
            let mut res = Error::method_not_allowed(format!(
                "{} is not allowed here; allowed: {}",
                head.method,
                allow.to_str().unwrap_or("")
            ))
            .into_response();
            res.headers_mut().insert(header::ALLOW, allow.clone());
            return Err(refuse(res, &head));
        }
        Lookup::BadParam(name) => {
            let msg = format!("path parameter `{name}` is not valid percent-encoded UTF-8");
            return Err(refuse(Error::bad_request(msg).into_response(), &head));
        }
        Lookup::Redirect(to) => {
            let location = match head.uri.query() {
                Some(q) => format!("{to}?{q}"),
                None => to,
            };
            let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            return Err(refuse(res, &head));
        }
    };

    let mut upgrade = None;
    if def.kind == RouteKind::Ws {
        // The handshake is checked before middleware runs, so middleware sees only real upgrades.
        match crate::ws::check(&head, &app.ws_config(def.path)) {
            Ok(accept_key) => {
                upgrade =
                    Some(Box::new(Upgrade { on_upgrade: head.extensions.remove::<OnUpgrade>(), accept_key }))
            }
            Err(res) => return Err(refuse(res, &head)),
        }
    }
    let packed = (def.kind != RouteKind::Http)
        .then(|| detach(&mut head, def.kind == RouteKind::Ws, app.config.max_session_header_bytes));
    let ctx = Context::new(head, packed, Some(body), params, conn.clone(), Some(id));
    Ok(Handling::new(ctx, def, upgrade))
}

/// What a socket's handshake hands over to its session once the response is out.
struct Upgrade {
    on_upgrade: Option<OnUpgrade>,
    accept_key: HeaderValue,
}

/// Runs the before-middleware and the handler, then the after-middleware; starts the socket
/// or stream that the response opened.
///
/// A hand-written future rather than an `async fn`: hyper stores it for every request and it
/// is moved several times on the way there, and an `async fn` with these branches took 688
/// bytes (locals of every branch side by side). Here it is a few pointers, and each stage that
/// is not the plain handler's is a box of its own.
struct Handling {
    /// Whatever happens to this future, a head that comes later is not waited for.
    ctx: AbandonHead,
    def: &'static RouteDef,
    stage: Stage,
    upgrade: Option<Box<Upgrade>>,
}

/// Where a [`Handling`] is.
enum Stage {
    /// The before-middleware runs.
    Before(BoxFuture<'static, crate::Result<()>>),
    /// Next: the handler (or the handshake's answer).
    Start,
    /// The HTTP handler runs.
    Handler(crate::__private::BoxFuture<Response>),
    /// What is still to run before the response (after-middleware, the end of a streamed
    /// response).
    Rest(BoxFuture<'static, Response>),
    /// Answered.
    Done,
}

impl Handling {
    fn new(ctx: Context, def: &'static RouteDef, upgrade: Option<Box<Upgrade>>) -> Self {
        let stage = if ctx.has_before() {
            let ctx = ctx.clone();
            Stage::Before(
                async move { crate::panic::catch(crate::middleware::run_before(&ctx), || describe(def)).await }
                    .boxed(),
            )
        } else {
            Stage::Start
        };
        Handling { ctx: AbandonHead(ctx), def, stage, upgrade }
    }

    /// After the before-middleware: starts the HTTP handler, or answers a handshake.
    fn start(&mut self) -> Option<crate::Result<Response>> {
        let ctx = &self.ctx.0;
        match (self.def.handler, self.def.kind) {
            (Handler::Http(h), _) => {
                self.stage = Stage::Handler(h(ctx.clone()));
                None
            }
            (Handler::Stream(_), RouteKind::Ws) => {
                let config = ctx.ws_io().map(|io| io.config.clone()).unwrap_or_default();
                let key =
                    self.upgrade.as_ref().expect("checked before the Context was made").accept_key.clone();
                Some(Ok(crate::ws::accept(ctx, &config, key)))
            }
            (Handler::Stream(_), _) => Some(crate::sse::response(ctx, &ctx.app().config.sse)),
        }
    }

    /// After the handler: the response, or what is still to run before it (`Stage::Rest`).
    fn done(&mut self, outcome: crate::Result<Response>) -> Option<Response> {
        let ctx = &self.ctx.0;
        if let Some(res) = ctx.take_head() {
            // Streamed and finished before we looked.
            let ctx = ctx.clone();
            self.stage = Stage::Rest(
                async move {
                    finish_stream(&ctx, outcome).await;
                    res
                }
                .boxed(),
            );
            return None;
        }
        let mut res = outcome.unwrap_or_else(IntoResponse::into_response);
        ctx.apply_response_parts(&mut res);
        let (def, upgrade) = (self.def, self.upgrade.take());
        if ctx.has_after() {
            let ctx = ctx.clone();
            self.stage = Stage::Rest(
                async move {
                    let res = ctx.run_after(res).await;
                    open_session(&ctx, def, upgrade, &res);
                    res
                }
                .boxed(),
            );
            return None;
        }
        if def.kind != RouteKind::Http {
            open_session(ctx, def, upgrade, &res);
        }
        self.stage = Stage::Done;
        Some(res)
    }
}

impl Future for Handling {
    type Output = Response;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Response> {
        let this = &mut *self;
        loop {
            let outcome = match &mut this.stage {
                Stage::Rest(rest) => {
                    let res = std::task::ready!(rest.as_mut().poll(cx));
                    this.stage = Stage::Done;
                    return Poll::Ready(res);
                }
                Stage::Before(before) => {
                    let passed = std::task::ready!(before.as_mut().poll(cx));
                    this.stage = Stage::Start;
                    match passed {
                        Ok(()) => continue,
                        Err(e) => Err(e), // refused: the handler never starts
                    }
                }
                Stage::Start => match this.start() {
                    Some(outcome) => outcome,
                    None => continue,
                },
                Stage::Handler(handler) => {
                    let def = this.def;
                    match crate::panic::poll_caught(handler.as_mut(), cx, || describe(def)) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => {
                            let ctx = &this.ctx.0;
                            let res = std::task::ready!(ctx.poll_head(cx));
                            // The handler streams: its head is committed; it goes on in a task
                            // of its own (its box moves there: it is not wrapped in a second one).
                            let Stage::Handler(handler) = std::mem::replace(&mut this.stage, Stage::Done)
                            else {
                                unreachable!("polled above")
                            };
                            let ctx = ctx.clone();
                            tokio::spawn(async move {
                                let outcome = crate::panic::catch(handler.map(Ok), || describe(def)).await;
                                finish_stream(&ctx, outcome).await;
                            });
                            return Poll::Ready(res);
                        }
                    }
                }
                Stage::Done => panic!("a request's future was polled after it completed"),
            };
            if let Some(res) = this.done(outcome) {
                return Poll::Ready(res);
            }
        }
    }
}

/// What a handler's panic is reported as.
fn describe(def: &RouteDef) -> String {
    format!("handler `{}` ({}:{})", def.name, def.file, def.line)
}

/// Starts the socket or stream that the response opened.
fn open_session(ctx: &Context, def: &'static RouteDef, upgrade: Option<Box<Upgrade>>, res: &Response) {
    let Handler::Stream(handler) = def.handler else { return };
    match (def.kind, upgrade.and_then(|u| u.on_upgrade)) {
        (RouteKind::Ws, Some(on_upgrade)) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
            tokio::spawn(crate::ws::session(ctx.clone(), on_upgrade, handler));
        }
        (RouteKind::Sse, _) if res.status() == StatusCode::OK => {
            tokio::spawn(crate::sse::session(ctx.clone(), handler, def.name));
        }
        _ => {}
    }
}

/// Tells the Context, when dropped, that nobody waits for a streamed head any more.
struct AbandonHead(Context);

impl Drop for AbandonHead {
    fn drop(&mut self) {
        self.0.abandon_head();
    }
}

/// Ends a streamed response: cleanly when the handler succeeded, with an aborted body when it
/// failed (so the client sees a truncated response, not a complete one).
async fn finish_stream(ctx: &Context, outcome: crate::Result<Response>) {
    if let Some(tx) = ctx.streamed().await {
        if let Err(e) = outcome.and_then(|res| match res.extensions().get::<ErrorMark>() {
            Some(ErrorMark(e)) => Err(Error::new(e.status(), e.message().to_owned())),
            None => Ok(()),
        }) {
            tracing::error!(error = %e, "streamed response failed after its head was sent");
            let _ = tx.send(Err(e)).await;
        }
    }
    ctx.finish_stream().await;
}

/// Copies the request head out of hyper's read buffer, for a socket or stream.
///
/// hyper hands out the URI and header values as slices of the connection's read buffer
/// (8 KiB or more), and a slice keeps the whole buffer alive. A socket or stream lives for
/// hours with its Context, so its head gets its own allocations instead: 16 KiB less per idle
/// socket. The headers are packed into one allocation (a `HeaderMap` costs about 130 bytes
/// per header), and a socket drops the headers only its handshake reads (`Connection`,
/// `Upgrade`, `Sec-WebSocket-Key`/`-Version`/`-Extensions`): what is kept is kept for hours,
/// so at most `budget` bytes of it (in the order received, each header that fits).
fn detach(head: &mut http::request::Parts, websocket: bool, budget: usize) -> crate::context::PackedHeaders {
    let keep = |name: &http::HeaderName| !(websocket && crate::ws::HANDSHAKE_HEADERS.contains(name));
    let (mut left, mut dropped) = (budget, 0usize);
    let fits = |(name, value): &(&http::HeaderName, &HeaderValue)| {
        let size = name.as_str().len() + value.len();
        let fits = size <= left;
        if fits {
            left -= size;
        } else {
            dropped += 1;
        }
        fits
    };
    let packed =
        crate::context::PackedHeaders::pack(head.headers.iter().filter(|(n, _)| keep(n)).filter(fits));
    if dropped > 0 {
        tracing::debug!(
            dropped,
            budget,
            "a session's request headers are over its budget: some were dropped"
        );
    }
    head.headers = http::HeaderMap::new();
    // Nothing in hyper's extensions is for the handler (the upgrade was taken out before).
    head.extensions = http::Extensions::new();
    if let Ok(uri) = http::Uri::try_from(head.uri.to_string()) {
        head.uri = uri;
    }
    packed
}
