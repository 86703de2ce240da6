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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use futures_util::future::{BoxFuture, Either};
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};
use tokio::sync::Semaphore;
use tracing::Instrument;

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
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No `header_read_timeout` in hyper: it arms a timer for every request (a boxed sleep in
    // the timer wheel, about 6% of a small request's cost). Each connection's task keeps that
    // watch instead, with one timer per connection (see `serve_connection`).
    builder.http1().keep_alive(true);
    if config.max_headers != HYPER_MAX_HEADERS {
        // Set only when it differs: with a limit set, hyper initialises a vector of that many
        // slots for every request it parses (without one, an array on the stack).
        builder.http1().max_headers(config.max_headers);
    }
    builder.http2().timer(TokioTimer::new()).max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
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
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let service = {
            let (shared, activity) = (shared.clone(), activity.clone());
            hyper::service::service_fn(move |req| {
                let busy = Busy::start(&activity);
                dispatch(shared.clone(), req, peer)
                    .map(move |res| Ok::<_, Infallible>(res.map(|body| Tracked { body, _busy: busy })))
            })
        };
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(serve_connection(conn, activity, config.header_read_timeout, peer, permit));
    }

    drop(listener);
    tracing::info!("shutting down: draining open connections");
    // Sockets and streams hear it from here; HTTP connections from `graceful`.
    shared.sessions.shutdown();
    let drained = async {
        tokio::join!(graceful.shutdown(), shared.sessions.wait_idle());
    };
    match tokio::time::timeout(config.shutdown_timeout, drained).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!(timeout = ?config.shutdown_timeout, "shutdown timeout: closing what is still open")
        }
    }
    Ok(())
}

/// What a connection's requests tell its watch: how many started, how many are not over.
#[derive(Default)]
struct Activity {
    started: AtomicUsize,
    busy: AtomicUsize,
}

/// A request that is not over: from the call of the service until its response body is sent
/// (or dropped, when the client leaves first).
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Busy {
        activity.started.fetch_add(1, Ordering::Relaxed);
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request [`Busy`] until hyper has sent it.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves one connection, and closes it when no request starts for `timeout` while none is
/// in progress: a client that sends its request head too slowly (slowloris), or a keep-alive
/// connection left idle. One timer per connection, looked at once per `timeout`, so a
/// connection goes between one and two timeouts after its last request.
async fn serve_connection<C, E>(
    conn: C,
    activity: Arc<Activity>,
    timeout: std::time::Duration,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let watch = tokio::time::sleep(timeout);
    let mut watch = std::pin::pin!(watch);
    let mut seen = 0;
    loop {
        tokio::select! {
            done = &mut conn => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            () = &mut watch => {
                let started = activity.started.load(Ordering::Relaxed);
                if started == seen && activity.busy.load(Ordering::Relaxed) == 0 {
                    tracing::debug!(%peer, ?timeout, "closing a connection that started no request in time");
                    break; // dropping the connection closes it
                }
                seen = started;
                watch.as_mut().reset(tokio::time::Instant::now() + timeout);
            }
        }
    }
    drop(permit);
}

/// One request: route, middleware, handler, after-middleware, error rendering.
///
/// Routing is done before the future is made, and the future holds only what the rest needs:
/// hyper stores (and moves) it once per request, so its size is paid on every request.
#[allow(clippy::result_large_err)] // `route`'s error is the response itself
fn dispatch(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> impl Future<Output = Response> + Send {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        status = tracing::field::Empty,
        latency_us = tracing::field::Empty,
    );
    let (head, body) = req.into_parts();
    // Kept (a reference count, not a copy) and parsed only if the answer is an error.
    let accept = head.headers.get(header::ACCEPT).cloned();
    let is_head = head.method == Method::HEAD;
    // When nobody records spans: no span entered on every poll, no clock read.
    let start = (!span.is_disabled()).then(Instant::now);
    let routed = match start {
        None => route(shared, head, body, peer),
        Some(_) => span.in_scope(|| route(shared, head, body, peer)),
    };
    let answer = match routed {
        Ok(run) => Either::Left(run),
        Err(res) => Either::Right(std::future::ready(res)),
    }
    .map(move |res| finish(res, accept.as_ref(), is_head, start));
    match start {
        None => Either::Left(answer),
        Some(_) => Either::Right(answer.instrument(span)),
    }
}

/// Renders an error as the client prefers, applies HEAD, and logs the response.
fn finish(
    mut res: Response,
    accept: Option<&HeaderValue>,
    is_head: bool,
    start: Option<Instant>,
) -> Response {
    if let Some(ErrorMark(e)) = res.extensions_mut().remove::<ErrorMark>() {
        if e.status().is_server_error() {
            tracing::error!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        if prefers_json(accept)
            && res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
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
    res
}

/// Finds the route and makes the Context: either the answer (no route, a bad handshake) or
/// the future that runs middleware and handler.
#[allow(clippy::result_large_err)] // the error is the response itself
fn route(
    shared: Arc<Shared>,
    mut head: http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Result<impl Future<Output = Response> + Send, Response> {
    let (endpoint, params) = match shared.router.lookup(&head.method, head.uri.path()) {
        Lookup::Found { endpoint, params } => (endpoint.clone(), params),
        Lookup::NotFound => {
            return Err(
                Error::not_found(format!("no route for {} {}", head.method, head.uri.path())).into_response()
            )
        }
        Lookup::MethodNotAllowed(allow) => {
            let mut res = Error::method_not_allowed(format!(
                "{} is not allowed here; allowed: {}",
                head.method,
                allow.to_str().unwrap_or("")
            ))
            .into_response();
            res.headers_mut().insert(header::ALLOW, allow.clone());
            return Err(res);
        }
        Lookup::BadParam(name) => {
            return Err(Error::bad_request(format!(
                "path parameter `{name}` is not valid percent-encoded UTF-8"
            ))
            .into_response())
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
            return Err(res);
        }
    };

    let def = endpoint.def;
    let mut upgrade = None;
    if def.kind == RouteKind::Ws {
        // The handshake is checked before middleware runs, so middleware sees only real upgrades.
        let accept_key = crate::ws::check(&head, &shared.ws_config(def.path))?;
        upgrade = Some(Box::new(Upgrade { on_upgrade: head.extensions.remove::<OnUpgrade>(), accept_key }));
    }
    let packed = (def.kind != RouteKind::Http).then(|| detach(&mut head, def.kind == RouteKind::Ws));
    let ctx = Context::new(head, packed, Some(body), params, peer, shared, Some(endpoint));

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
/// bytes (locals of every branch side by side). Here the common case (no middleware, a plain
/// HTTP handler) is a few pointers, and each rare stage is a box of its own.
struct Handling {
    /// Whatever happens to this future, a head that comes later is not waited for.
    ctx: AbandonHead,
    def: &'static RouteDef,
    /// The before-middleware, while it runs.
    before: Option<BoxFuture<'static, crate::Result<()>>>,
    /// Whether the handler was started (or the handshake answered).
    started: bool,
    /// The HTTP handler, while it runs.
    handler: Option<crate::__private::BoxFuture<Response>>,
    upgrade: Option<Box<Upgrade>>,
    /// The rest (after-middleware, the end of a streamed response), when there is any.
    rest: Option<BoxFuture<'static, Response>>,
}

impl Handling {
    fn new(ctx: Context, def: &'static RouteDef, upgrade: Option<Box<Upgrade>>) -> Self {
        let before = ctx.has_before().then(|| {
            let ctx = ctx.clone();
            async move { crate::panic::catch(crate::middleware::run_before(&ctx), || describe(def)).await }
                .boxed()
        });
        Handling { ctx: AbandonHead(ctx), def, before, started: false, handler: None, upgrade, rest: None }
    }

    /// After the before-middleware: starts the HTTP handler, or answers a handshake.
    fn start(&mut self) -> Option<crate::Result<Response>> {
        self.started = true;
        let ctx = &self.ctx.0;
        match (self.def.handler, self.def.kind) {
            (Handler::Http(h), _) => {
                self.handler = Some(h(ctx.clone()));
                None
            }
            (Handler::Stream(_), RouteKind::Ws) => {
                let config = ctx.ws_io().map(|io| io.config.clone()).unwrap_or_default();
                let key =
                    self.upgrade.as_ref().expect("checked before the Context was made").accept_key.clone();
                Some(Ok(crate::ws::accept(ctx, &config, key)))
            }
            (Handler::Stream(_), _) => Some(crate::sse::response(ctx, &ctx.inner.app.config.sse)),
        }
    }

    /// After the handler: the response, or what is still to run before it (`rest`).
    fn done(&mut self, outcome: crate::Result<Response>) -> Option<Response> {
        let ctx = &self.ctx.0;
        if let Some(res) = ctx.take_head() {
            // Streamed and finished before we looked.
            let ctx = ctx.clone();
            self.rest = Some(
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
            self.rest = Some(
                async move {
                    let res = ctx.run_after(res).await;
                    open_session(&ctx, def, upgrade, &res);
                    res
                }
                .boxed(),
            );
            return None;
        }
        open_session(ctx, def, upgrade, &res);
        Some(res)
    }
}

impl Future for Handling {
    type Output = Response;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Response> {
        let this = &mut *self;
        loop {
            if let Some(rest) = this.rest.as_mut() {
                return rest.as_mut().poll(cx);
            }
            let outcome = if let Some(before) = this.before.as_mut() {
                let passed = std::task::ready!(before.as_mut().poll(cx));
                this.before = None;
                passed.err().map(Err) // (refused: `done` answers, the handler never starts)
            } else if !this.started {
                this.start()
            } else if let Some(handler) = this.handler.as_mut() {
                let def = this.def;
                match crate::panic::poll_caught(handler.as_mut(), cx, || describe(def)) {
                    Poll::Ready(outcome) => {
                        this.handler = None;
                        Some(outcome)
                    }
                    Poll::Pending => {
                        let ctx = &this.ctx.0;
                        let res = std::task::ready!(ctx.poll_head(cx));
                        // The handler streams: its head is committed; it goes on in a task of
                        // its own (its box moves there: it is not wrapped in a second one).
                        let (handler, ctx) = (this.handler.take().expect("polled above"), ctx.clone());
                        tokio::spawn(async move {
                            let outcome = crate::panic::catch(handler.map(Ok), || describe(def)).await;
                            finish_stream(&ctx, outcome).await;
                        });
                        return Poll::Ready(res);
                    }
                }
            } else {
                panic!("a request's future was polled after it completed");
            };
            if let Some(res) = outcome.and_then(|outcome| this.done(outcome)) {
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
/// `Upgrade`, `Sec-WebSocket-Key`/`-Version`/`-Extensions`): what is kept is kept for hours.
fn detach(head: &mut http::request::Parts, websocket: bool) -> crate::context::PackedHeaders {
    let keep = |name: &http::HeaderName| !(websocket && crate::ws::HANDSHAKE_HEADERS.contains(name));
    let packed = crate::context::PackedHeaders::pack(head.headers.iter().filter(|(n, _)| keep(n)));
    head.headers = http::HeaderMap::new();
    // Nothing in hyper's extensions is for the handler (the upgrade was taken out before).
    head.extensions = http::Extensions::new();
    if let Ok(uri) = http::Uri::try_from(head.uri.to_string()) {
        head.uri = uri;
    }
    packed
}
