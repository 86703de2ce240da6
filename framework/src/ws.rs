//! WebSocket routes: `#[ws(PATH)]`, the same `ctx.send`/`ctx.recv` as HTTP, one config type.
//!
//! The upgrade request runs through the route's middleware like any HTTP request, so the
//! auth middleware that guards `/api/notes` guards `/api/chat` unchanged (an `Err` answers the
//! handshake with its status and no socket is opened), and the handler finds what the
//! middleware `set` in its Context.
//!
//! ```ignore
//! #[ws("/api/chat")]
//! async fn chat(ctx: Context) -> Result<()> {
//!     let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
//!     while let Some(msg) = ctx.recv().await? {
//!         ctx.send(format!("{}: {}", user.name, msg.as_text()?)).await?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! **Protocol.** Handshakes follow RFC 6455 over HTTP/1.1 (hyper's upgrade); frames are read
//! and written by tungstenite. A request that is not a valid upgrade gets 400 (426 for a
//! version other than 13); WebSocket over HTTP/2 is not supported (400).
//!
//! **Sessions.** Each socket has one task that runs the handler and, beside it, the socket's
//! driver: it reads frames into a small inbound queue (at most 16 messages; reading pauses
//! while the handler does not keep up, which pushes back on the client through TCP), answers
//! pings, writes everything queued by `send` in one flush, pings an idle peer and closes a
//! dead one. `send` only queues (it waits while more than
//! [`WsConfig::max_send_queue`] bytes are queued), so any clone of the Context can send while
//! another receives, without a lock held across I/O.
//!
//! **Close codes.** 1000 when the handler returns `Ok`, 1011 when it returns `Err` or panics
//! (the error's message is the reason), 1009 for a message or frame over the limit, 1007 for
//! invalid UTF-8 in a text message, 1002 for a protocol violation, 1001 when the server shuts
//! down or the peer stays silent past the idle timeout.
//!
//! **Memory.** An idle socket holds its read buffer ([`WsConfig::read_buffer_size`], 1 KiB by
//! default; it grows only while a larger message is in flight), tungstenite's state, one task
//! and its Context: the upgrade request's head, copied out of hyper's read buffer, without the
//! headers only the handshake reads (`Connection`, `Upgrade`, `Sec-WebSocket-Key`,
//! `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`; middleware does not see them either).
//! See BENCHMARKS.md for the measured bytes per socket.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::__private::BoxFuture;
use crate::message::{Message, Out, Outbound};
use crate::{Context, Error, Response, Result};

/// Limits and timeouts of WebSocket sessions, for the whole app
/// ([`App::ws_config`](crate::App::ws_config)) or one route
/// ([`App::ws_route_config`](crate::App::ws_route_config)).
///
/// ```
/// use std::time::Duration;
/// use fratello::ws::WsConfig;
///
/// let config = WsConfig::default()
///     .max_message_size(256 * 1024)
///     .ping_interval(Some(Duration::from_secs(20)))
///     .allowed_origins(["https://app.example.com"]);
/// assert_eq!(config.get_max_message_size(), 256 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct WsConfig {
    max_message_size: usize,
    max_frame_size: usize,
    read_buffer_size: usize,
    write_buffer_size: usize,
    max_send_queue: usize,
    ping_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    close_timeout: Duration,
    allowed_origins: Option<Vec<String>>,
    protocols: Vec<String>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            read_buffer_size: 1024,
            write_buffer_size: 8 * 1024,
            max_send_queue: 1 << 20,
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
            close_timeout: Duration::from_secs(3),
            allowed_origins: None,
            protocols: Vec::new(),
        }
    }
}

impl WsConfig {
    /// Largest message accepted (reassembled from its frames); larger ones close the socket
    /// with 1009. Default 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest single frame accepted; larger ones close the socket with 1009. Default 16 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Bytes read from the socket at a time. Every socket holds this buffer, idle or not;
    /// messages larger than it are still accepted (they are assembled in a buffer that grows
    /// while they arrive). Default 1 KiB.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(64);
        self
    }

    /// Bytes of encoded frames gathered before a write to the socket (everything queued is
    /// written in one flush anyway). Default 8 KiB.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Bytes that `send` may queue before it waits for the socket. Default 1 MiB.
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.max_send_queue = bytes.max(1);
        self
    }

    /// How often a silent peer is pinged (`None`: never). Default 30 s.
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// How long a peer may stay silent (no message, no pong) before the socket is closed with
    /// 1001 and the handler's `recv` ends (`None`: forever). Default 75 s.
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// How long a closing socket waits for the peer's close frame. Default 3 s.
    pub fn close_timeout(mut self, after: Duration) -> Self {
        self.close_timeout = after;
        self
    }

    /// Only these origins (`scheme://host[:port]`, compared case-insensitively) may open a
    /// socket; others get 403. Browsers send cookies with cross-site handshakes, so an app that
    /// authenticates sockets by cookie should set this. Requests without an `Origin` header
    /// (non-browser clients) are allowed.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins =
            Some(origins.into_iter().map(|o| o.into().trim_end_matches('/').to_owned()).collect());
        self
    }

    /// Subprotocols the server speaks, preferred first; the first one the client offers is
    /// chosen (a middleware may choose instead with [`Context::set_protocol`]).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The message size limit.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    fn tungstenite(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

// --------------------------------------------------------------------------- handshake

/// Checks that a request is a valid upgrade (before middleware runs): the rejection is the
/// response to send.
#[allow(clippy::result_large_err)] // the rejection is the response itself, built once per bad request
pub(crate) fn check(
    head: &http::request::Parts,
    config: &WsConfig,
) -> std::result::Result<HeaderValue, Response> {
    use crate::IntoResponse;
    if head.version != Version::HTTP_11 {
        return Err(Error::bad_request(
            "WebSocket routes need an HTTP/1.1 upgrade; WebSocket over HTTP/2 is not supported",
        )
        .into_response());
    }
    let has_token = |name: header::HeaderName, token: &str| {
        head.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(Error::bad_request(
            "this is a WebSocket endpoint: connect with a WebSocket client \
             (`Connection: Upgrade` and `Upgrade: websocket` are missing)",
        )
        .into_response());
    }
    let text = |name| head.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let version = text(header::SEC_WEBSOCKET_VERSION);
    if version != Some("13") {
        let mut res = Error::new(
            StatusCode::UPGRADE_REQUIRED,
            format!(
                "unsupported WebSocket version {}: this server speaks version 13",
                version.unwrap_or("(none)")
            ),
        )
        .into_response();
        res.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(res);
    }
    let key = text(header::SEC_WEBSOCKET_KEY).unwrap_or("");
    let key_ok = key.len() == 24
        && key.ends_with("==")
        && key[..22].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !key_ok {
        return Err(Error::bad_request(
            "missing or malformed `Sec-WebSocket-Key` (16 random bytes in base64)",
        )
        .into_response());
    }
    if let (Some(allowed), Some(origin)) = (&config.allowed_origins, text(header::ORIGIN)) {
        let origin = origin.trim_end_matches('/');
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Err(
                Error::forbidden(format!("origin `{origin}` may not open a WebSocket here")).into_response()
            );
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(HeaderValue::from_str(&accept).expect("base64 is a valid header value"))
}

/// Headers that only the handshake reads; a socket's Context does not keep them.
pub(crate) const HANDSHAKE_HEADERS: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// The 101 response for a checked upgrade (after-middleware still runs on it).
pub(crate) fn accept(ctx: &Context, config: &WsConfig, accept: HeaderValue) -> Response {
    let mut res = http::Response::new(crate::Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    let chosen = ctx.protocol().or_else(|| {
        let offered = ctx.protocols();
        config.protocols.iter().find(|p| offered.contains(&p.as_str())).cloned()
    });
    if let Some(p) = chosen {
        if let Ok(v) = HeaderValue::from_str(&p) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
        if let Some(io) = ctx.ws_io() {
            io.lock().protocol = Some(p);
        }
    }
    res
}

// --------------------------------------------------------------------------- shared state

/// The Context's view of a socket: queues between the handler (and its clones) and the
/// driver, plus the notifications that connect them.
pub(crate) struct WsIo {
    pub(crate) config: Arc<WsConfig>,
    state: Mutex<WsState>,
    to_driver: Notify,
    to_receivers: Notify,
    to_senders: Notify,
}

#[derive(Default)]
pub(crate) struct WsState {
    outbound: VecDeque<tungstenite::Message>,
    out_bytes: usize,
    inbound: VecDeque<Message>,
    in_bytes: usize,
    /// Set once the socket is over; what `recv` reports then.
    end: Option<Ended>,
    /// The close frame the session asked for when the handler finished.
    close: Option<CloseFrame>,
    /// The peer broke a rule after the queued messages: they are still delivered (and may be
    /// answered) before the socket closes with this code.
    failure: Option<(CloseCode, &'static str)>,
    /// The server is shutting down: close with 1001.
    stopping: bool,
    pub(crate) protocol: Option<String>,
}

#[derive(Clone)]
enum Ended {
    /// The peer closed, went away, or the server shut down: `recv` returns `None`.
    Closed,
    /// The peer broke a rule (too big, bad UTF-8, protocol): `recv` returns this error.
    Failed(u16, &'static str),
}

const MAX_INBOUND: usize = 16;

impl WsIo {
    pub(crate) fn new(config: Arc<WsConfig>) -> Self {
        WsIo {
            config,
            state: Mutex::new(WsState::default()),
            to_driver: Notify::new(),
            to_receivers: Notify::new(),
            to_senders: Notify::new(),
        }
    }

    /// Server shutdown: the driver closes the socket with 1001.
    fn stop(&self) {
        self.lock().stopping = true;
        self.handed_over();
    }

    /// Tells the driver there is work (queued output, room for input, a close to send).
    fn handed_over(&self) {
        self.to_driver.notify_one();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WsState> {
        // Every critical section is a few field updates that cannot panic half-way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) async fn send(&self, item: Outbound) -> Result<()> {
        let limit = self.config.max_send_queue;
        if let Out::Invalid(why) = &item.0 {
            return Err(Error::internal(why.to_string()));
        }
        let msg = to_ws(item).expect("valid outbound values convert");
        let len = msg.len();
        let mut msg = Some(msg);
        loop {
            let notified = self.to_senders.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.end.is_some() || st.close.is_some() {
                    return Err(crate::context::peer_gone());
                }
                if st.out_bytes < limit || st.outbound.is_empty() {
                    st.out_bytes += len;
                    st.outbound.push_back(msg.take().expect("queued once"));
                    drop(st);
                    self.handed_over();
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Queues as much of `pending` as the send queue takes (at least one message, waiting
    /// for room if needed), under one lock and with one wake-up of the driver.
    pub(crate) async fn send_batch(&self, pending: &mut VecDeque<Outbound>) -> Result<()> {
        let limit = self.config.max_send_queue;
        loop {
            let notified = self.to_senders.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.end.is_some() || st.close.is_some() {
                    return Err(crate::context::peer_gone());
                }
                let mut queued = false;
                while st.out_bytes < limit || st.outbound.is_empty() {
                    let Some(item) = pending.pop_front() else { break };
                    let Some(msg) = to_ws(item) else { continue };
                    st.out_bytes += msg.len();
                    st.outbound.push_back(msg);
                    queued = true;
                }
                if queued || pending.is_empty() {
                    drop(st);
                    self.handed_over();
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    pub(crate) async fn recv(&self) -> Result<Option<Message>> {
        loop {
            let notified = self.to_receivers.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if let Some(m) = st.inbound.pop_front() {
                    st.in_bytes -= m.len();
                    drop(st);
                    self.handed_over();
                    return Ok(Some(m));
                }
                if let (None, Some((code, why))) = (&st.end, st.failure) {
                    st.end = Some(Ended::Failed(code.into(), why));
                    drop(st);
                    self.handed_over();
                    return Err(Error::bad_request(format!(
                        "the WebSocket was closed with {}: {why}",
                        u16::from(code)
                    )));
                }
                match &st.end {
                    Some(Ended::Closed) => return Ok(None),
                    Some(Ended::Failed(code, why)) => {
                        return Err(Error::bad_request(format!(
                            "the WebSocket was closed with {code}: {why}"
                        )))
                    }
                    None => {}
                }
            }
            notified.await;
        }
    }

    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.to_receivers.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.lock().end.is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Asks the driver to close with `frame` once everything queued is written.
    fn finish(&self, frame: CloseFrame) {
        let mut st = self.lock();
        if st.close.is_none() {
            st.close = Some(frame);
        }
        drop(st);
        self.handed_over();
    }

    fn end(&self, how: Ended) {
        let mut st = self.lock();
        if st.end.is_none() {
            st.end = Some(how);
        }
        st.outbound.clear();
        st.out_bytes = 0;
        drop(st);
        self.to_receivers.notify_waiters();
        self.to_senders.notify_waiters();
    }
}

/// The WebSocket message for an outbound value (`None` for one that failed to encode).
fn to_ws(item: Outbound) -> Option<tungstenite::Message> {
    Some(match item.0 {
        Out::Text(t) => tungstenite::Message::Text(t),
        Out::Binary(b) => tungstenite::Message::Binary(b),
        Out::Event { data, .. } => tungstenite::Message::Text(data),
        Out::Invalid(_) => return None,
    })
}

// --------------------------------------------------------------------------- session

/// Runs one socket: waits for hyper's upgrade, then the handler beside the driver.
pub(crate) async fn session(
    ctx: Context,
    on_upgrade: OnUpgrade,
    handler: fn(Context) -> BoxFuture<Result<()>>,
    name: &'static str,
) {
    let app = ctx.inner.app.clone();
    let _session = app.sessions.enter_registered(&ctx);
    let Some(io) = ctx.ws_io() else { return };
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket upgrade failed");
            io.end(Ended::Closed);
            return;
        }
    };
    let config = io.config.clone();
    let stream =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config.tungstenite()))
            .await;

    let run_handler = async {
        let outcome =
            crate::panic::catch(handler(ctx.clone()), || format!("WebSocket handler `{name}`")).await;
        let frame = match outcome {
            Ok(()) => CloseFrame { code: CloseCode::Normal, reason: "".into() },
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::error!(error = %e, "WebSocket handler failed");
                } else {
                    tracing::debug!(error = %e, "WebSocket handler refused");
                }
                CloseFrame { code: CloseCode::Error, reason: truncate(e.message(), 123).into() }
            }
        };
        io.finish(frame);
    };
    let span = tracing::info_span!("ws", route = name, peer = %ctx.peer_addr());
    let handler = std::pin::pin!(run_handler);
    let driver = std::pin::pin!(drive(stream, io, &config));
    together(handler, driver).instrument(span).await;
    tracing::debug!(route = name, "WebSocket session ended");
}

/// Runs the handler and the socket's driver in one task, and lets them hand work to each other
/// (a message in, a reply out) within one poll of the task.
///
/// Both are polled with a waker of our own: a wake while they are being polled (the handler
/// queued a reply for the driver, the driver a message for the handler) makes this poll go
/// round again, instead of waking the task, which would put it at the back of the run queue
/// and make every echo wait behind every other busy socket once more. Wakes from elsewhere
/// (the socket became readable, another task sent) pass through to the task as usual.
///
/// Takes the futures pinned by the caller: moved into this fn, each would be stored twice.
async fn together<H, D>(mut handler: std::pin::Pin<&mut H>, mut driver: std::pin::Pin<&mut D>)
where
    H: Future<Output = ()>,
    D: Future<Output = ()>,
{
    let shared = Arc::new(WakeState { state: AtomicU8::new(IDLE), task: Mutex::new(None) });
    let handler_waker =
        std::task::Waker::from(Arc::new(InnerWake { shared: shared.clone(), bit: WOKE_HANDLER }));
    let driver_waker =
        std::task::Waker::from(Arc::new(InnerWake { shared: shared.clone(), bit: WOKE_DRIVER }));
    let (mut handler_done, mut driver_done) = (false, false);
    let mut first = true;
    std::future::poll_fn(|cx| {
        {
            let mut task = shared.task.lock().unwrap_or_else(|p| p.into_inner());
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // Whoever was woken since the last poll (both, the first time).
        let mut todo = shared.state.swap(POLLING, Ordering::SeqCst) & BOTH;
        if std::mem::take(&mut first) {
            todo = BOTH;
        }
        // Bounded, so that a chatty socket still lets the others run.
        for _ in 0..16 {
            if todo & WOKE_HANDLER != 0 && !handler_done {
                handler_done =
                    handler.as_mut().poll(&mut std::task::Context::from_waker(&handler_waker)).is_ready();
            }
            if todo & WOKE_DRIVER != 0 && !driver_done {
                driver_done =
                    driver.as_mut().poll(&mut std::task::Context::from_waker(&driver_waker)).is_ready();
            }
            if handler_done && driver_done {
                shared.state.store(IDLE, Ordering::SeqCst);
                return Poll::Ready(());
            }
            // Wakes that came in while polling: the other side was handed work.
            todo = shared.state.swap(POLLING, Ordering::SeqCst) & BOTH;
            if todo == 0 {
                match shared.state.compare_exchange(POLLING, IDLE, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return Poll::Pending,
                    Err(_) => todo = shared.state.swap(POLLING, Ordering::SeqCst) & BOTH,
                }
            }
        }
        // Still busy after 16 rounds: keep what is to do for the next poll, and yield.
        shared.state.store(IDLE | todo, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKE_HANDLER: u8 = 2;
const WOKE_DRIVER: u8 = 4;
const BOTH: u8 = WOKE_HANDLER | WOKE_DRIVER;

/// What [`together`]'s two wakers share: whether it is polling, who was woken, and the task.
struct WakeState {
    state: AtomicU8,
    task: Mutex<Option<std::task::Waker>>,
}

/// The waker [`together`] polls the handler (or the driver) with.
struct InnerWake {
    shared: Arc<WakeState>,
    bit: u8,
}

impl std::task::Wake for InnerWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.shared.state.fetch_or(self.bit, Ordering::SeqCst) & POLLING == 0 {
            // Not being polled: wake the task, which will poll the one woken. (Being polled:
            // that poll sees the bit and goes round again.)
            if let Some(task) = self.shared.task.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                task.wake_by_ref();
            }
        }
    }
}

/// At most `max` bytes of `s`, cut at a character boundary (close reasons are ≤ 123 bytes).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What tungstenite's read error means for the close code.
fn close_for(e: &tungstenite::Error) -> Option<(CloseCode, &'static str)> {
    use tungstenite::Error as E;
    match e {
        E::Capacity(_) => Some((CloseCode::Size, "message too big")),
        E::Utf8(_) => Some((CloseCode::Invalid, "invalid UTF-8 in a text message")),
        E::Protocol(_) => Some((CloseCode::Protocol, "protocol error")),
        _ => None,
    }
}

/// The socket's driver: writes what is queued, reads into the inbound queue, pings, closes.
async fn drive<S>(mut ws: WebSocketStream<S>, io: &WsIo, config: &WsConfig)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let far = Duration::from_secs(86_400 * 365);
    let mut last_seen = Instant::now();
    let tick = config.ping_interval.unwrap_or(far).min(config.idle_timeout.unwrap_or(far));
    let timer = tokio::time::sleep(tick);
    let mut timer = std::pin::pin!(timer);
    // Set once our close frame is out: from then on we only wait for the peer's, until then.
    let mut closing_until: Option<Instant> = None;
    let mut shutting_down = false;
    let mut failed_at: Option<Instant> = None;
    // Kept across iterations: a fresh `Notified` per loop would re-register every time.
    let mut wake = std::pin::pin!(io.to_driver.notified());
    let mut batch: VecDeque<tungstenite::Message> = VecDeque::new();

    loop {
        // 1. Write everything queued, in one flush.
        let (close, want_read) = {
            let mut st = io.lock();
            // Swap with the (empty) spare, so both keep their capacity: no allocation per batch.
            std::mem::swap(&mut st.outbound, &mut batch);
            st.out_bytes = 0;
            // Shutdown reaches each socket through its own state (see `Sessions::shutdown`),
            // so the loop never touches a lock shared with other sockets.
            shutting_down |= st.stopping;
            let mut close = if closing_until.is_none() { st.close.take() } else { None };
            if let Some((code, why)) = st.failure {
                // Once the handler has seen the failure (or finished, or is too slow to drain
                // what came before it), close with the failure's code.
                let seen = st.end.is_some() || close.is_some();
                let overdue = failed_at.is_some_and(|t: Instant| t.elapsed() >= config.close_timeout);
                close = (closing_until.is_none() && (seen || overdue))
                    .then(|| CloseFrame { code, reason: why.into() });
            }
            let want_read = st.failure.is_none()
                && st.inbound.len() < MAX_INBOUND
                && st.in_bytes < config.max_message_size.max(1 << 20);
            (close, want_read)
        };
        if !batch.is_empty() {
            io.to_senders.notify_waiters();
            let mut failed = false;
            while let Some(m) = batch.pop_front() {
                if ws.feed(m).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || ws.flush().await.is_err() {
                io.end(Ended::Closed);
                return;
            }
            if batch.capacity() > 64 {
                batch = VecDeque::new(); // a burst is over: do not keep its buffer for hours
            }
        }
        let close = close.or_else(|| {
            (shutting_down && closing_until.is_none())
                .then(|| CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() })
        });
        if let Some(frame) = close {
            io.end(if failed_at.is_some() {
                Ended::Failed(frame.code.into(), "protocol error")
            } else {
                Ended::Closed
            });
            // Rare paths are boxed so that their futures do not enlarge every idle socket's.
            if Box::pin(ws.close(Some(frame))).await.is_err() {
                return;
            }
            closing_until = Some(Instant::now() + config.close_timeout);
            timer.as_mut().reset(Instant::now() + config.close_timeout);
        }

        // 2. Wait for the next thing to do.
        tokio::select! {
            biased;
            () = wake.as_mut() => wake.set(io.to_driver.notified()),
            frame = ws.next(), if want_read || closing_until.is_some() => {
                last_seen = Instant::now();
                match frame {
                    Some(Ok(tungstenite::Message::Text(t))) => push(io, Message::from_ws_text(t)),
                    Some(Ok(tungstenite::Message::Binary(b))) => push(io, Message::binary(b)),
                    Some(Ok(_)) => {} // ping (answered by tungstenite), pong, close (answered too)
                    Some(Err(e)) => {
                        match close_for(&e) {
                            Some((code, why)) if closing_until.is_none() => {
                                tracing::debug!(error = %e, "closing a WebSocket that broke the protocol");
                                io.lock().failure = Some((code, why));
                                io.to_receivers.notify_waiters();
                                failed_at = Some(Instant::now());
                                timer.as_mut().reset(Instant::now() + config.close_timeout);
                            }
                            _ => {
                                io.end(Ended::Closed);
                                return;
                            }
                        }
                    }
                    None => {
                        io.end(Ended::Closed);
                        return;
                    }
                }
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                if closing_until.is_some_and(|t| now >= t) {
                    return; // the peer never answered our close frame
                }
                if config.idle_timeout.is_some_and(|idle| now.duration_since(last_seen) >= idle) {
                    tracing::debug!("closing an idle WebSocket");
                    io.end(Ended::Closed);
                    let _ = Box::pin(tokio::time::timeout(
                        config.close_timeout,
                        ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "idle timeout".into() })),
                    ))
                    .await;
                    return;
                }
                let ping_due = closing_until.is_none() && config.ping_interval.is_some_and(|p| now.duration_since(last_seen) >= p);
                if ping_due && Box::pin(ws.send(tungstenite::Message::Ping(Default::default()))).await.is_err() {
                    io.end(Ended::Closed);
                    return;
                }
                timer.as_mut().reset(now + tick);
            }
        }
    }
}

fn push(io: &WsIo, m: Message) {
    let mut st = io.lock();
    if st.end.is_some() {
        return; // closing: late messages are dropped
    }
    st.in_bytes += m.len();
    st.inbound.push_back(m);
    drop(st);
    io.to_receivers.notify_waiters();
}

// --------------------------------------------------------------------------- session tracking

/// Counts open sessions (sockets, streams) so that shutdown can wait for them, and knows them
/// so that shutdown can end each one.
#[derive(Default)]
pub(crate) struct Sessions {
    open: std::sync::atomic::AtomicUsize,
    idle: Notify,
    sockets: Mutex<std::collections::HashMap<u64, std::sync::Weak<crate::context::Inner>>>,
    next_id: std::sync::atomic::AtomicU64,
    stopping: std::sync::atomic::AtomicBool,
}

/// Server shutdown for one session.
fn stop(inner: &crate::context::Inner) {
    match &inner.io {
        crate::context::Io::Ws(io) => io.stop(),
        crate::context::Io::Sse(io) => io.stop(),
        crate::context::Io::Http(_) => {}
    }
}

/// Leaves the session count (and the registry) when dropped.
pub(crate) struct SessionGuard<'a>(&'a Sessions, Option<u64>);

impl Sessions {
    /// Enters a WebSocket or SSE session, which [`shutdown`](Self::shutdown) will end.
    pub(crate) fn enter_registered(&self, ctx: &Context) -> SessionGuard<'_> {
        self.open.fetch_add(1, Ordering::SeqCst);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::downgrade(&ctx.inner));
        if self.stopping.load(Ordering::SeqCst) {
            stop(&ctx.inner);
        }
        SessionGuard(self, Some(id))
    }

    /// Tells every open socket to close with 1001 and every stream to end with a retry hint.
    /// Each hears it through its own state: nothing per message touches a shared lock.
    pub(crate) fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let open: Vec<_> = self
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|w| w.upgrade())
            .collect();
        for inner in open {
            stop(&inner);
        }
    }

    /// Completes once no session is open.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.1 {
            self.0.sockets.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
