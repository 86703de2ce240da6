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
//! **Sessions.** Each socket is one task, a hand-written future that polls the handler and,
//! beside it, the socket's I/O: it reads frames into a small inbound queue (at most 16
//! messages; reading pauses while the handler does not keep up, which pushes back on the
//! client through TCP), answers pings, writes everything queued by `send` in one flush, pings
//! an idle peer and closes a dead one. A message in and the reply out are handed over within
//! one poll of the task. `send` only queues (it waits while more than
//! [`WsConfig::max_send_queue`] bytes are queued), so any clone of the Context can send while
//! another receives, without a lock held across I/O.
//!
//! **Close codes.** 1000 when the handler returns `Ok`, 1011 when it returns `Err` or panics
//! (the error's message is the reason), 1009 for a message or frame over the limit, 1007 for
//! invalid UTF-8 in a text message, 1002 for a protocol violation, 1001 when the server shuts
//! down or the peer stays silent past the idle timeout.
//!
//! **Memory.** An idle socket holds one task (its handler's future, tungstenite's state, the
//! timer), its Context (the upgrade request's head, copied out of hyper's read buffer, its
//! headers packed into one allocation, without those only the handshake reads: `Connection`,
//! `Upgrade`, `Sec-WebSocket-Key`,
//! `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`; middleware does not see them either)
//! and tungstenite's small parse buffer ([`WsConfig::read_buffer_size`], 256 bytes). The
//! socket is read through one 16 KiB buffer per worker thread, so a small per-socket buffer
//! costs no extra system calls: what tungstenite has not taken yet waits in an allocation that
//! exists only until it is taken. About 2.4 KiB per idle socket in all; see BENCHMARKS.md.
//! A socket that has sent something also keeps the two buffers its frames are encoded into and
//! written from, up to [`WsConfig::write_buffer_size`] each (larger ones are freed once
//! written).
//!
//! **Writing.** `send` encodes a message into the socket's queue at once, as one frame (the
//! header from tungstenite, then the payload): the queue is bytes, ready to write. The socket's
//! task takes the whole queue in exchange for its own empty buffer and writes it with one
//! system call. A room's message is copied the same way from the room's one copy, so a
//! delivery costs a header and a copy of the payload, not a frame built per receiver.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use http::{header, HeaderValue, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};

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
    message_timeout: Duration,
    write_timeout: Duration,
    close_timeout: Duration,
    allowed_origins: Option<Vec<String>>,
    protocols: Vec<String>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 256,
            write_buffer_size: 4 * 1024,
            max_send_queue: 256 * 1024,
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
            message_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(3),
            allowed_origins: None,
            protocols: Vec::new(),
        }
    }
}

impl WsConfig {
    /// Largest message accepted (reassembled from its frames); larger ones close the socket
    /// with 1009. Default 1 MiB.
    ///
    /// A message being received is held whole in memory until it is complete, so this is what
    /// each socket may cost while a client sends one (twice that for a single large frame,
    /// which is read in one piece): raise it for the routes that need large messages
    /// ([`App::ws_route_config`](crate::App::ws_route_config)), or stream large uploads over
    /// HTTP with `ctx.recv()`, where nothing is held.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest single frame accepted; larger ones close the socket with 1009. Default 1 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Size of the buffer that tungstenite parses frames from, which every socket holds, idle
    /// or not. The socket itself is read through a 16 KiB buffer per worker thread, so this
    /// size does not change how many system calls a burst takes. Larger messages are still
    /// accepted: the buffer grows to hold one (tungstenite may keep that capacity). Default
    /// 256 bytes.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(64);
        self
    }

    /// Capacity a socket keeps for its outgoing frames between bursts. Everything queued is
    /// encoded into one buffer and written in one piece, however large; once written, a
    /// buffer up to this size is kept for the next burst, and a larger one is freed. A socket
    /// has two (the handler encodes into one while the other is written). Default 4 KiB.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Bytes that `send` may queue before it waits for the socket. Default 256 KiB.
    ///
    /// It also bounds what a client that does not read can cost: a room's messages stay in the
    /// room while this queue is full (the client loses the oldest ones if it stays behind, see
    /// [`broadcast`](crate::broadcast)), and the socket stops reading from a client whose
    /// unwritten bytes (pongs included) are over it, so that pinging without reading cannot
    /// grow the server's memory either. A message larger than this is still sent, alone.
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
    /// 1001 and the handler's `recv` ends (`None`: forever). Pings from the peer do not count:
    /// a client that only pings is silent. Default 75 s.
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// How long a message may take to arrive once its first bytes have: a message (or a
    /// fragmented one's frames) still incomplete after that closes the socket with 1008, so
    /// that a client cannot hold a partly sent message in the server's memory by trickling
    /// it or by sending pings in between. Default 30 s.
    pub fn message_timeout(mut self, after: Duration) -> Self {
        self.message_timeout = after.max(Duration::from_millis(1));
        self
    }

    /// How long a socket may go without the client taking any of the bytes waiting for it: a
    /// client that stopped reading is disconnected then. Default 30 s.
    pub fn write_timeout(mut self, after: Duration) -> Self {
        self.write_timeout = after.max(Duration::from_millis(1));
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
            // Every frame tungstenite writes goes straight to the socket's own bytes (`Blocking`).
            .write_buffer_size(0)
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
            if version.is_none() {
                "missing `Sec-WebSocket-Version`: this server speaks version 13"
            } else {
                "unsupported WebSocket version: this server speaks version 13"
            },
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
            tracing::debug!(origin, "refused a WebSocket from an origin that is not allowed");
            return Err(Error::forbidden("this page's origin may not open a WebSocket here").into_response());
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
            io.lock().protocol = Some(p.into());
        }
    }
    res
}

// --------------------------------------------------------------------------- shared state

/// The Context's view of a socket: queues between the handler (and its clones) and the
/// socket's task, and who waits on them.
pub(crate) struct WsIo {
    pub(crate) config: Arc<WsConfig>,
    state: Mutex<WsState>,
    /// The handler was woken (through the waker it is polled with, see `Socket`): the
    /// socket's task polls it on its next round, and only then.
    handler_woken: AtomicBool,
    /// The socket's task is polling: whoever hands it work leaves it be, since it looks for
    /// work under the lock before it parks (and says it parked, under the lock). A flag
    /// rather than taking `task` out under the lock at the start of every poll.
    polling: AtomicBool,
}

#[derive(Default)]
pub(crate) struct WsState {
    /// Frames queued by `send` and `forward`, encoded (header and payload, as tungstenite
    /// frames them), in the order they go out. The socket's task swaps it for its own empty
    /// buffer and writes that: the two allocations take turns, and a burst is one write.
    out: Vec<u8>,
    inbound: VecDeque<Message>,
    in_bytes: usize,
    /// Set once the socket is over; what `recv` reports then.
    end: Option<Ended>,
    /// The close frame the session asked for when the handler finished (boxed: it is rare,
    /// and this state is part of every socket).
    close: Option<Box<CloseFrame>>,
    /// The peer broke a rule after the queued messages: they are still delivered (and may be
    /// answered) before the socket closes with this code.
    failure: Option<(CloseCode, &'static str)>,
    /// When the failure was seen (the handler has `close_timeout` to drain what came before).
    failed_at: Option<Instant>,
    /// The server is shutting down: close with 1001.
    stopping: bool,
    pub(crate) protocol: Option<Box<str>>,
    /// The socket's task's waker; whoever hands it work while it is parked (not
    /// [`WsIo::polling`]) takes it and wakes it.
    task: Option<Waker>,
    /// Tasks waiting in `recv`/`closed` (usually the handler: the socket's own task).
    receivers: Waiters,
    /// Tasks waiting in `send` for room in the queue.
    senders: Waiters,
}

#[derive(Clone)]
enum Ended {
    /// The peer closed, went away, or the server shut down: `recv` returns `None`.
    Closed,
    /// The peer broke a rule (too big, bad UTF-8, protocol): `recv` returns this error.
    Failed(u16, &'static str),
}

const MAX_INBOUND: usize = 16;

/// The most room a send queue reserves at once for a burst it is told about.
const MAX_RESERVE: usize = 64 * 1024;

/// Wakers of the tasks waiting for a change; one is kept without allocating.
#[derive(Default)]
enum Waiters {
    #[default]
    None,
    One(Waker),
    Many(Vec<Waker>),
}

impl Waiters {
    fn register(&mut self, waker: &Waker) {
        match self {
            Waiters::None => *self = Waiters::One(waker.clone()),
            Waiters::One(w) if w.will_wake(waker) => {}
            Waiters::One(w) => *self = Waiters::Many(vec![w.clone(), waker.clone()]),
            Waiters::Many(v) => {
                if !v.iter().any(|w| w.will_wake(waker)) {
                    v.push(waker.clone());
                }
            }
        }
    }

    /// Wakes them all. From inside the socket's task (`running`), the task itself is not
    /// woken (it looks again by itself) and its handler is marked due without a wake-up.
    fn wake(self, running: Option<Running<'_>>) {
        let wake = |w: Waker| match running {
            Some(r) if w.will_wake(r.handler) => r.handler_woken.store(true, Ordering::SeqCst),
            Some(r) if w.will_wake(r.task) => {}
            _ => w.wake(),
        };
        match self {
            Waiters::None => {}
            Waiters::One(w) => wake(w),
            Waiters::Many(v) => v.into_iter().for_each(wake),
        }
    }
}

/// The socket's task, as it polls: the wakers of the task and of its handler.
///
/// Waking the handler's waker marks the handler due and takes the socket's lock to wake the
/// task. The task, handing something to its own handler (a message in, room to send), only
/// needs the mark: it polls the handler on its next round.
#[derive(Clone, Copy)]
struct Running<'a> {
    task: &'a Waker,
    handler: &'a Waker,
    handler_woken: &'a AtomicBool,
}

/// The waker a socket's handler is polled with: it marks the handler as due and wakes the
/// socket's task if that is parked. So the task knows, when it runs, whether the handler can
/// have anything to do, and a wake-up for the socket alone (bytes to read, room to write)
/// does not poll the handler for nothing. Made from the Context's own `Arc`: no allocation.
impl std::task::Wake for crate::context::Inner {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let crate::context::Io::Ws(io) = &self.io {
            io.handler_woken.store(true, Ordering::SeqCst);
            io.hand_over(io.lock());
        }
    }
}

/// What `recv` reports once the peer broke a rule.
fn closed_with(code: u16, why: &str) -> Error {
    Error::bad_request(format!("the WebSocket was closed with {code}: {why}"))
}

impl WsState {
    /// Whether the socket's task should read more from the peer.
    fn wants_read(&self, config: &WsConfig) -> bool {
        self.failure.is_none()
            && self.inbound.len() < MAX_INBOUND
            && self.in_bytes < config.max_message_size.max(1 << 20)
    }
}

impl WsIo {
    pub(crate) fn new(config: Arc<WsConfig>) -> Self {
        WsIo {
            config,
            state: Mutex::new(WsState::default()),
            handler_woken: AtomicBool::new(true),
            polling: AtomicBool::new(false),
        }
    }

    /// Wakes the socket's task if it is parked (it was handed work), after the lock is
    /// released. A task that is polling is left be: it looks for work before it parks.
    fn hand_over(&self, mut st: MutexGuard<'_, WsState>) {
        let task = if self.polling.load(Ordering::SeqCst) { None } else { st.task.take() };
        drop(st);
        if let Some(task) = task {
            task.wake();
        }
    }

    /// The socket's task as it polls (see [`Running`]).
    fn running<'a>(&'a self, task: &'a Waker, handler: &'a Waker) -> Running<'a> {
        Running { task, handler, handler_woken: &self.handler_woken }
    }

    /// Server shutdown: the socket's task closes it with 1001.
    fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        self.hand_over(st);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WsState> {
        // Every critical section is a few field updates that cannot panic half-way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues what `next` gives while the queue has room (at least one message), under one
    /// lock and with one wake-up of the socket's task. `Some` once something was queued or
    /// `next` has nothing more (an error once the socket is over); `None` when there is no
    /// room, after registering `waiting` (if given) for the moment there is.
    ///
    /// `next` encodes one message at the end of the queue and says whether it did (`false`:
    /// it has nothing more). `expect` is how many bytes it is likely to add: the queue grows
    /// once for them.
    fn try_queue(
        &self,
        waiting: Option<&Waker>,
        expect: usize,
        mut next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Option<Result<()>> {
        let mut st = self.lock();
        if st.end.is_some() || st.close.is_some() {
            return Some(Err(crate::context::peer_gone()));
        }
        st.out.reserve(expect.min(MAX_RESERVE));
        let (mut queued, mut exhausted) = (false, false);
        while st.out.len() < self.config.max_send_queue || st.out.is_empty() {
            if !next(&mut st.out) {
                exhausted = true;
                break;
            }
            queued = true;
        }
        if queued || exhausted {
            self.hand_over(st);
            return Some(Ok(()));
        }
        if let Some(w) = waiting {
            st.senders.register(w);
        }
        None
    }

    /// [`try_queue`](Self::try_queue), waiting for room.
    fn poll_queue(
        &self,
        cx: &mut std::task::Context<'_>,
        next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Poll<Result<()>> {
        match self.try_queue(Some(cx.waker()), 0, next) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    /// Queues one message. The future holds only the message (no waiter node): it lives
    /// inside every socket handler's future.
    pub(crate) fn send(&self, item: Outbound) -> impl Future<Output = Result<()>> + Send + '_ {
        let mut msg = match item.0 {
            Out::Invalid(why) => Err(Error::internal(why.to_string())),
            _ => Ok(Some(item)),
        };
        std::future::poll_fn(move |cx| match &mut msg {
            Ok(slot) => self.poll_queue(cx, |out| slot.take().is_some_and(|m| encode(&m, out))),
            Err(e) => Poll::Ready(Err(std::mem::replace(e, Error::internal(String::new())))),
        })
    }

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this socket.
    ///
    /// While the send queue has room, a room's messages go from the room's ring straight into
    /// it, as many at once as it takes: nothing is held twice. While it is full (the client
    /// reads more slowly than the room talks), they stay in the room, and messages the room
    /// drops before this client had room for them are counted as lost, so that a receiver too
    /// far behind is dropped (`Err`). `Ok` once the socket is over.
    pub(crate) async fn forward(&self, sub: &mut crate::broadcast::Subscription) -> Result<()> {
        // A message taken from the room and not queued yet (the queue was full).
        let mut first: Option<Outbound> = None;
        loop {
            if first.is_none() {
                first = Some(tokio::select! {
                    biased;
                    m = sub.recv() => m?,
                    () = self.closed() => return Ok(()),
                });
            }
            // Losses are counted after the lock: counting may leave the room, which takes the
            // hub's lock.
            let mut lost = 0;
            let queued = std::future::poll_fn(|cx| {
                let expect = first.as_ref().map_or(0, |m| (1 + sub.pending()) * (m.as_bytes().len() + 4));
                let queued = self.try_queue(Some(cx.waker()), expect, |out| loop {
                    let m = match first.take().map(|m| Ok(Some(m))).unwrap_or_else(|| sub.try_recv()) {
                        Ok(Some(m)) => m,
                        Ok(None) => return false,
                        Err(n) => {
                            lost += n;
                            return false;
                        }
                    };
                    if encode(&m, out) {
                        return true; // (a value a socket cannot carry is dropped)
                    }
                });
                match queued {
                    Some(done) => Poll::Ready(done),
                    // Full: wait for room, and meanwhile notice what the room drops.
                    None => sub.poll_fell_behind(cx).map(|n| {
                        lost += n;
                        Ok(())
                    }),
                }
            })
            .await;
            if lost > 0 {
                sub.lost(lost)?;
            }
            if queued.is_err() {
                return Ok(()); // the socket is over
            }
        }
    }

    fn poll_recv(&self, cx: &mut std::task::Context<'_>) -> Poll<Result<Option<Message>>> {
        let mut st = self.lock();
        let paused = !st.wants_read(&self.config);
        if let Some(m) = st.inbound.pop_front() {
            st.in_bytes -= m.len();
            // Reading paused while the queue was full: there is room again.
            if paused {
                self.hand_over(st);
            }
            return Poll::Ready(Ok(Some(m)));
        }
        if let (None, Some((code, why))) = (&st.end, st.failure) {
            st.end = Some(Ended::Failed(code.into(), why));
            self.hand_over(st);
            return Poll::Ready(Err(closed_with(code.into(), why)));
        }
        match &st.end {
            Some(Ended::Closed) => Poll::Ready(Ok(None)),
            Some(Ended::Failed(code, why)) => Poll::Ready(Err(closed_with(*code, why))),
            None => {
                st.receivers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    pub(crate) fn recv(&self) -> impl Future<Output = Result<Option<Message>>> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            if st.end.is_some() {
                return Poll::Ready(());
            }
            st.receivers.register(cx.waker());
            Poll::Pending
        })
    }

    /// Asks the socket's task to close with `frame` once everything queued is written.
    fn finish(&self, frame: CloseFrame) {
        let mut st = self.lock();
        if st.close.is_none() {
            st.close = Some(Box::new(frame));
        }
        self.hand_over(st);
    }

    /// The socket is over: `recv` ends, `send` fails. Wakes whoever waits (see
    /// [`Waiters::wake`] for `running`).
    fn end(&self, how: Ended, running: Option<Running<'_>>) {
        let mut st = self.lock();
        if st.end.is_none() {
            st.end = Some(how);
        }
        st.out = Vec::new();
        let (receivers, senders) = (std::mem::take(&mut st.receivers), std::mem::take(&mut st.senders));
        drop(st);
        receivers.wake(running);
        senders.wake(running);
    }

    /// A message from the peer for `recv`.
    /// Returns whether the handler takes more (so that the reader need not lock again to ask).
    fn push(&self, m: Message, running: Running<'_>) -> bool {
        let mut st = self.lock();
        if st.end.is_some() {
            return true; // closing: late messages are dropped
        }
        st.in_bytes += m.len();
        st.inbound.push_back(m);
        let more = st.wants_read(&self.config);
        let receivers = std::mem::take(&mut st.receivers);
        drop(st);
        receivers.wake(Some(running));
        more
    }
}

/// Appends `item` to `out` as one WebSocket frame (`false`, and nothing appended, for a value
/// that cannot be sent). The header is tungstenite's: a server's frames are not masked, so a
/// frame is the header and the payload as it is.
fn encode(item: &Outbound, out: &mut Vec<u8>) -> bool {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let (opcode, payload): (Data, &[u8]) = match &item.0 {
        Out::Text(t) => (Data::Text, t.as_bytes()),
        Out::Shared(s) => (Data::Text, s.text.as_bytes()),
        Out::Binary(b) => (Data::Binary, b),
        Out::Event { data, .. } => (Data::Text, data.as_bytes()),
        Out::Invalid(_) => return false,
    };
    let header =
        tungstenite::protocol::frame::FrameHeader { opcode: OpCode::Data(opcode), ..Default::default() };
    // (Writing to a `Vec` cannot fail.)
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
    true
}

// --------------------------------------------------------------------------- session

pin_project_lite::pin_project! {
    /// One socket's task: waits for hyper's upgrade, then runs the handler beside the
    /// socket's I/O. A hand-written future rather than an `async fn`, so that nothing is
    /// stored twice: it is most of what an idle socket costs.
    pub(crate) struct Session {
        stage: Stage,
        // Ping, idle and close timeouts.
        #[pin]
        timer: tokio::time::Sleep,
        // Boxed, and only when something records spans: most servers record none.
        span: Option<Box<tracing::Span>>,
        _registered: SessionGuard,
    }
}

// Boxing the socket would cost an allocation per socket to save bytes only while upgrading.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Upgrading { ctx: Context, on_upgrade: OnUpgrade, handler: fn(Context) -> BoxFuture<Result<()>> },
    Running(Socket),
    Over,
}

/// The socket's task, for `tokio::spawn`.
pub(crate) fn session(
    ctx: Context,
    on_upgrade: OnUpgrade,
    handler: fn(Context) -> BoxFuture<Result<()>>,
) -> Session {
    let span = tracing::info_span!("ws", route = route_name(&ctx), peer = %ctx.peer_addr());
    Session {
        _registered: Sessions::enter_registered(&ctx),
        stage: Stage::Upgrading { ctx, on_upgrade, handler },
        timer: tokio::time::sleep(Duration::ZERO),
        span: (!span.is_disabled()).then(|| Box::new(span)),
    }
}

fn route_name(ctx: &Context) -> &'static str {
    ctx.endpoint().map_or("(unrouted)", |e| e.def.name)
}

/// How often the socket's timer looks at it (the shortest of its timeouts): a deadline is
/// noticed within twice its length.
fn tick(config: &WsConfig) -> Duration {
    let far = Duration::from_secs(86_400 * 365);
    config
        .ping_interval
        .unwrap_or(far)
        .min(config.idle_timeout.unwrap_or(far))
        .min(config.message_timeout)
        .min(config.write_timeout)
        .max(Duration::from_millis(1))
}

impl Future for Session {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let _span = this.span.as_ref().map(|s| s.enter());
        loop {
            match this.stage {
                Stage::Upgrading { on_upgrade, .. } => {
                    let upgraded = std::task::ready!(std::pin::Pin::new(on_upgrade).poll(cx));
                    let Stage::Upgrading { ctx, handler, .. } = std::mem::replace(this.stage, Stage::Over)
                    else {
                        unreachable!("matched above")
                    };
                    let Some(io) = ctx.ws_io() else { return Poll::Ready(()) };
                    // The server hands hyper the TCP stream itself, and gets it back here with
                    // the bytes the client sent after its handshake that hyper already read
                    // (the first frames, from a client that did not wait for the answer).
                    // Read directly, the socket saves every read two buffering layers and a
                    // call through a trait object.
                    let upgraded = match upgraded.map(|u| u.downcast::<TokioIo<tokio::net::TcpStream>>()) {
                        Ok(Ok(parts)) => parts,
                        Ok(Err(_)) => {
                            tracing::error!("WebSocket upgrade on a connection that is not a TCP stream");
                            io.end(Ended::Closed, None);
                            return Poll::Ready(());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "WebSocket upgrade failed");
                            io.end(Ended::Closed, None);
                            return Poll::Ready(());
                        }
                    };
                    let config = io.config.clone();
                    this.timer.as_mut().reset(Instant::now() + tick(&config));
                    let early = upgraded.read_buf;
                    *this.stage = Stage::Running(Socket {
                        ws: WebSocketContext::new(Role::Server, Some(config.tungstenite())),
                        io: Some(upgraded.io.into_inner()),
                        leftover: (!early.is_empty())
                            .then(|| Box::new(Leftover { bytes: early.into(), at: 0 })),
                        out: Outgoing::default(),
                        handler: Some(handler(ctx.clone())),
                        handler_waker: Waker::from(ctx.inner.clone()),
                        ctx,
                        last_seen: Instant::now(),
                        unparsed: 0,
                        marks: Marks::default(),
                        shutting_down: false,
                        draining: false,
                        read_paused: false,
                        read_blocked: false,
                        timer_armed: false,
                    });
                }
                Stage::Running(socket) => {
                    std::task::ready!(socket.poll(cx, this.timer.as_mut()));
                    *this.stage = Stage::Over;
                    tracing::debug!("WebSocket session ended");
                    return Poll::Ready(());
                }
                Stage::Over => return Poll::Ready(()),
            }
        }
    }
}

/// One socket's handler and I/O, polled together by one task.
///
/// Everything is polled with the task's own waker. A hand-over between the handler and the
/// I/O (a message in, a reply out) happens within one poll of the task: the wake-up it would
/// cause is skipped, and the poll goes round again instead. Waking the task from inside its
/// own poll would send it to the back of the run queue, so that every echo waited behind every
/// other busy socket once more.
struct Socket {
    ws: WebSocketContext,
    /// `None` once the connection is gone (the handler may still be running).
    io: Option<tokio::net::TcpStream>,
    leftover: Option<Box<Leftover>>,
    /// Bytes the socket has not taken yet. While there are any, a write waits for the socket,
    /// and nothing more is taken from the queue.
    out: Outgoing,
    ctx: Context,
    /// `None` once the handler has finished.
    handler: Option<BoxFuture<Result<()>>>,
    /// What the handler is polled with (see the `Wake` impl above).
    handler_waker: Waker,
    /// When the peer last showed it is there: a message, or a pong (pings do not count).
    last_seen: Instant,
    /// Bytes tungstenite has taken since the last message that no control frame accounts for:
    /// part of a message (or of a frame) it holds. (Bytes it read ahead past a message's end,
    /// at most its read buffer, are not counted: the message resets this.)
    unparsed: u32,
    /// The socket's deadlines.
    marks: Marks,
    shutting_down: bool,
    /// tungstenite has ended the connection (the close handshake is over) while its last
    /// frame still waits in `out`: that is written before the connection is closed.
    draining: bool,
    /// Reading is paused because the handler has not taken what came before.
    read_paused: bool,
    /// A read found nothing during this poll of the task: the socket is not read again in the
    /// same poll (tungstenite would grow and zero its buffer for nothing). New bytes wake the
    /// task, and the next poll reads.
    read_blocked: bool,
    /// The timer was polled since it was last set, so it holds the task's waker: later rounds
    /// ask whether it fired instead of polling it.
    timer_armed: bool,
}

type Timer<'a> = std::pin::Pin<&'a mut tokio::time::Sleep>;

/// A socket's deadlines, which most sockets never have: boxed, and made the first time one is
/// set (then kept: a socket that had one is likely to have one again).
#[derive(Default)]
struct Marks(Option<Box<Deadlines>>);

#[derive(Default)]
struct Deadlines {
    /// Set once our close frame is out: from then on we only wait for the peer's, until then.
    closing_until: Option<Instant>,
    /// Since when bytes of a message have been read that do not make a whole message yet
    /// (its deadline is [`WsConfig::message_timeout`]). Control frames in between do not
    /// clear it; a message does, and so does a moment with no such bytes.
    message_since: Option<Instant>,
    /// Since when bytes have been waiting for the client without it taking any
    /// ([`WsConfig::write_timeout`]).
    stalled_since: Option<Instant>,
}

impl Marks {
    fn get(&mut self) -> &mut Deadlines {
        self.0.get_or_insert_with(Default::default)
    }

    fn closing_until(&self) -> Option<Instant> {
        self.0.as_ref()?.closing_until
    }

    fn message_since(&self) -> Option<Instant> {
        self.0.as_ref()?.message_since
    }

    fn stalled_since(&self) -> Option<Instant> {
        self.0.as_ref()?.stalled_since
    }

    fn clear_message(&mut self) {
        if let Some(d) = &mut self.0 {
            d.message_since = None;
        }
    }

    fn clear_stalled(&mut self) {
        if let Some(d) = &mut self.0 {
            d.stalled_since = None;
        }
    }
}

/// What one step of the socket's I/O did.
#[derive(PartialEq)]
enum Step {
    /// Nothing more to do until a wake-up.
    Idle,
    /// Handed something to the handler: poll it again.
    Progress,
    /// The connection is over.
    Done,
}

impl Socket {
    fn poll(&mut self, cx: &mut std::task::Context<'_>, mut timer: Timer<'_>) -> Poll<()> {
        // Running: a hand-over from inside this poll need not wake the task.
        self.ctx.ws_io().expect("a socket's Context").polling.store(true, Ordering::SeqCst);
        self.read_blocked = false;
        // Bounded, so that a chatty socket still lets the others run.
        for _ in 0..16 {
            // The handler is polled only when it was woken (it waits on the socket's queues,
            // or on anything else): a message read and answered costs one poll of it, and a
            // wake-up for the socket's I/O alone costs none. Before the I/O step, so that what
            // it queues is written in the same round.
            let io = self.ctx.ws_io().expect("a socket's Context");
            if self.handler.is_some() && io.handler_woken.swap(false, Ordering::SeqCst) {
                if let Some(handler) = self.handler.as_mut() {
                    let describe = || format!("WebSocket handler `{}`", route_name(&self.ctx));
                    let mut hcx = std::task::Context::from_waker(&self.handler_waker);
                    if let Poll::Ready(outcome) =
                        crate::panic::poll_catch(handler.as_mut(), &mut hcx, describe)
                    {
                        self.handler = None;
                        self.handler_finished(outcome);
                    }
                }
            }
            let step = if self.io.is_some() { self.step(cx, timer.as_mut()) } else { Step::Idle };
            if step == Step::Done && !self.draining && !self.out.is_empty() && self.write_out_blocked(cx) {
                // tungstenite ended the connection after handing over its last frame (the
                // reply to the peer's close), and the socket cannot take it now: write it
                // first, for at most the close timeout.
                self.draining = true;
                let until =
                    Instant::now() + self.ctx.ws_io().expect("a socket's Context").config.close_timeout;
                let until = self.marks.closing_until().map_or(until, |t| t.min(until));
                timer.as_mut().reset(until);
                let io = self.ctx.ws_io().expect("a socket's Context");
                io.end(Ended::Closed, Some(io.running(cx.waker(), &self.handler_waker)));
                continue;
            }
            if step == Step::Done {
                self.io = None; // closes the connection
                let io = self.ctx.ws_io().expect("a socket's Context");
                io.end(Ended::Closed, Some(io.running(cx.waker(), &self.handler_waker)));
                continue; // the handler hears it at once
            }
            if self.handler.is_none() && self.io.is_none() {
                return Poll::Ready(());
            }
            if step == Step::Progress {
                continue;
            }
            // Park, unless work came in from elsewhere while we ran (it did not wake us).
            let io = self.ctx.ws_io().expect("a socket's Context");
            let mut st = io.lock();
            // (While a write waits for the socket, nothing more is taken from the queue.)
            let work = (self.handler.is_some() && io.handler_woken.load(Ordering::SeqCst))
                || (self.io.is_some()
                    && ((self.out.is_empty()
                        && (!st.out.is_empty()
                            || (st.close.is_some() && self.marks.closing_until().is_none())
                            || (st.stopping && !self.shutting_down)))
                        || (self.read_paused
                            && st.wants_read(&io.config)
                            && self.out.unwritten() <= io.config.max_send_queue)));
            if !work {
                // (The waker is usually the one left last time: not cloned again.)
                if !st.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                    st.task = Some(cx.waker().clone());
                }
                io.polling.store(false, Ordering::SeqCst);
                return Poll::Pending;
            }
        }
        // Still busy after 16 rounds: yield, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Writes what `out` holds as far as the socket takes it: whether some must wait.
    fn write_out_blocked(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Socket { io: Some(stream), leftover, out, ctx, .. } = self else { return false };
        let keep = ctx.ws_io().expect("a socket's Context").config.write_buffer_size;
        let mut s = Blocking::new(stream, cx, leftover, out, keep);
        matches!(s.write_out(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    fn handler_finished(&mut self, outcome: Result<()>) {
        let frame = match outcome {
            Ok(()) => CloseFrame { code: CloseCode::Normal, reason: "".into() },
            Err(e) => {
                // The server's own failures are logged, and the client hears only that there
                // was one; a refusal (4xx) tells the client what it did wrong.
                let reason = if e.status().is_server_error() {
                    tracing::error!(error = %e, "WebSocket handler failed");
                    "internal error"
                } else {
                    tracing::debug!(error = %e, "WebSocket handler refused");
                    truncate(e.message(), 123)
                };
                CloseFrame { code: CloseCode::Error, reason: reason.into() }
            }
        };
        if let Some(io) = self.ctx.ws_io() {
            io.finish(frame);
        }
    }

    /// Writes what is queued, closes when asked, reads what the peer sent, keeps time.
    fn step(&mut self, cx: &mut std::task::Context<'_>, mut timer: Timer<'_>) -> Step {
        let Socket { ws, io: Some(stream), leftover, out, ctx, handler_waker, .. } = self else {
            return Step::Done;
        };
        let io = ctx.ws_io().expect("a socket's Context");
        let config = &*io.config;
        let mut s = Blocking::new(stream, cx, leftover, out, config.write_buffer_size);
        let mut progress = false;

        // Whether the handler takes more, if already known under a lock taken anyway.
        let mut wants_read = None;

        // 1. Write: finish the last write first, then everything queued, in one write.
        if self.draining {
            if !matches!(s.write_out(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                return Step::Done;
            }
            return if timer.as_mut().poll(s.cx).is_ready() { Step::Done } else { Step::Idle };
        }
        if !s.out.is_empty() && blocked(ws.flush(&mut s)).is_err() {
            return Step::Done;
        }
        if s.out.is_empty() {
            let (close, senders, wrote, failed, can_read) = {
                let mut st = io.lock();
                // Everything queued is already encoded: take it in one piece (the queue gets
                // this socket's empty buffer in exchange), and write it after the lock.
                let wrote = !st.out.is_empty();
                if wrote {
                    std::mem::swap(&mut st.out, &mut s.out.buf().bytes);
                }
                // Shutdown reaches each socket through its own state (see `Sessions::shutdown`),
                // so the loop never touches a lock shared with other sockets.
                self.shutting_down |= st.stopping;
                let mut close =
                    if self.marks.closing_until().is_none() { st.close.take().map(|c| *c) } else { None };
                if let Some((code, why)) = st.failure {
                    // Once the handler has seen the failure (or finished, or is too slow to
                    // drain what came before it), close with the failure's code.
                    let seen = st.end.is_some() || close.is_some();
                    let overdue = st.failed_at.is_some_and(|t| t.elapsed() >= config.close_timeout);
                    close = (self.marks.closing_until().is_none() && (seen || overdue))
                        .then(|| CloseFrame { code, reason: why.into() });
                }
                let senders = if wrote { std::mem::take(&mut st.senders) } else { Waiters::None };
                (close, senders, wrote, st.failed_at.is_some(), st.wants_read(config))
            };
            wants_read = Some(can_read);
            if !matches!(senders, Waiters::None) {
                // Room in the queue. The handler, if it waited, is polled again right away.
                progress = true;
                senders.wake(Some(io.running(s.cx.waker(), handler_waker)));
            }
            // (tungstenite's flush also writes a pong it owes, then ours.)
            if wrote && blocked(ws.flush(&mut s)).is_err() {
                return Step::Done;
            }
            let close = close.or_else(|| {
                (self.shutting_down && self.marks.closing_until().is_none())
                    .then(|| CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() })
            });
            if let Some(frame) = close {
                let how = match failed {
                    true => Ended::Failed(frame.code.into(), "protocol error"),
                    false => Ended::Closed,
                };
                io.end(how, Some(io.running(s.cx.waker(), handler_waker)));
                progress = true;
                if blocked(ws.close(&mut s, Some(frame))).is_err() {
                    return Step::Done;
                }
                let until = Instant::now() + config.close_timeout;
                self.marks.get().closing_until = Some(until);
                timer.as_mut().reset(until);
                self.timer_armed = false;
            }
        }

        // 2. Read what the peer sent, while the handler keeps up, and while the peer takes what
        //    is written to it: every ping read queues a pong, so a peer that pings without
        //    reading is read no further once its unwritten bytes are over the send queue's size.
        self.read_paused = false;
        let mut wants_read = wants_read.unwrap_or_else(|| io.lock().wants_read(config));
        while !self.read_blocked {
            if self.marks.closing_until().is_none()
                && (!wants_read || s.out.unwritten() > config.max_send_queue)
            {
                self.read_paused = true;
                break;
            }
            s.taken = 0;
            let read = ws.read(&mut s);
            self.unparsed = self.unparsed.saturating_add(u32::try_from(s.taken).unwrap_or(u32::MAX));
            match read {
                Ok(m) => {
                    wants_read = match m {
                        tungstenite::Message::Text(t) => {
                            (self.last_seen, self.unparsed) = (Instant::now(), 0);
                            self.marks.clear_message();
                            io.push(Message::from_ws_text(t), io.running(s.cx.waker(), handler_waker))
                        }
                        tungstenite::Message::Binary(b) => {
                            (self.last_seen, self.unparsed) = (Instant::now(), 0);
                            self.marks.clear_message();
                            io.push(Message::binary(b), io.running(s.cx.waker(), handler_waker))
                        }
                        tungstenite::Message::Ping(p) => {
                            // (Answered by tungstenite.) A client's control frame is its
                            // payload behind a 6-byte header (2, and the 4-byte mask).
                            self.unparsed = self.unparsed.saturating_sub(6 + p.len() as u32);
                            continue;
                        }
                        tungstenite::Message::Pong(p) => {
                            self.last_seen = Instant::now();
                            self.unparsed = self.unparsed.saturating_sub(6 + p.len() as u32);
                            continue;
                        }
                        _ => continue, // close (answered by tungstenite too)
                    };
                    progress = true;
                }
                Err(e) if would_block(&e) => {
                    // Bytes taken by tungstenite that made neither a message nor a control
                    // frame: part of a message is held, and its deadline runs from now.
                    if self.unparsed == 0 {
                        self.marks.clear_message();
                    } else if self.marks.message_since().is_none() {
                        self.marks.get().message_since = Some(Instant::now());
                    }
                    self.read_blocked = true;
                }
                // The peer closed the connection without a close frame: it is gone, so there
                // is no handshake to make (and no close timeout to arm); `recv` ends.
                Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => return Step::Done,
                Err(e) => match close_for(&e) {
                    Some((code, why)) if self.marks.closing_until().is_none() => {
                        tracing::debug!(error = %e, "closing a WebSocket that broke the protocol");
                        let now = Instant::now();
                        let receivers = {
                            let mut st = io.lock();
                            st.failure = Some((code, why));
                            st.failed_at = Some(now);
                            std::mem::take(&mut st.receivers)
                        };
                        receivers.wake(Some(io.running(s.cx.waker(), handler_waker)));
                        progress = true;
                        timer.as_mut().reset(now + config.close_timeout);
                        self.timer_armed = false;
                        break;
                    }
                    _ => return Step::Done, // closed (cleanly or not), or the connection failed
                },
            }
        }

        // Whether the client takes what is written to it.
        if s.out.is_empty() || s.wrote_any {
            self.marks.clear_stalled();
        }
        if !s.out.is_empty() && self.marks.stalled_since().is_none() {
            self.marks.get().stalled_since = Some(Instant::now());
        }

        // 3. Keep time: close timeouts, the idle timeout, pings.
        let fired = if self.timer_armed && !timer.is_elapsed() {
            false
        } else {
            self.timer_armed = true;
            timer.as_mut().poll(s.cx).is_ready()
        };
        if fired {
            let now = Instant::now();
            if self.marks.closing_until().is_some_and(|t| now >= t) {
                return Step::Done; // the peer never answered our close frame
            }
            if self.marks.stalled_since().is_some_and(|t| now.duration_since(t) >= config.write_timeout) {
                // Nothing can reach a client that does not read, not even a close frame.
                tracing::debug!("disconnecting a WebSocket client that stopped reading");
                return Step::Done;
            }
            let late =
                self.marks.message_since().is_some_and(|t| now.duration_since(t) >= config.message_timeout);
            let idle = config.idle_timeout.is_some_and(|idle| now.duration_since(self.last_seen) >= idle);
            if self.marks.closing_until().is_none() && (late || idle) {
                let (how, frame) = if late {
                    tracing::debug!("closing a WebSocket whose message did not arrive in time");
                    let why = "message not completed in time";
                    (Ended::Failed(1008, why), CloseFrame { code: CloseCode::Policy, reason: why.into() })
                } else {
                    tracing::debug!("closing an idle WebSocket");
                    (Ended::Closed, CloseFrame { code: CloseCode::Away, reason: "idle timeout".into() })
                };
                io.end(how, Some(io.running(s.cx.waker(), handler_waker)));
                if blocked(ws.close(&mut s, Some(frame))).is_err() {
                    return Step::Done;
                }
                self.marks.get().closing_until = Some(now + config.close_timeout);
                timer.as_mut().reset(now + config.close_timeout);
                self.timer_armed = false;
            } else {
                let ping_due = self.marks.closing_until().is_none()
                    && config.ping_interval.is_some_and(|p| now.duration_since(self.last_seen) >= p);
                if ping_due {
                    let ping = tungstenite::Message::Ping(Default::default());
                    if blocked(ws.write(&mut s, ping)).and_then(|_| blocked(ws.flush(&mut s))).is_err() {
                        return Step::Done;
                    }
                }
                let next = self.marks.closing_until().unwrap_or(now + tick(config));
                timer.as_mut().reset(next);
                self.timer_armed = false;
            }
            // The next round polls the timer again (so that it wakes this task when it fires)
            // and looks again at what changed (a failure's close may be overdue now).
            progress = true;
        }
        if progress {
            Step::Progress
        } else {
            Step::Idle
        }
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// An operation on the socket: `Ok(true)` when it waits for the socket (what it wrote stays in
/// the socket's [`Outgoing`] bytes), `Err` when the connection failed.
fn blocked(r: tungstenite::Result<()>) -> std::result::Result<bool, tungstenite::Error> {
    match r {
        Ok(()) => Ok(false),
        Err(e) if would_block(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

// --------------------------------------------------------------------------- reading and writing

/// Bytes read from the socket that tungstenite has not asked for yet.
///
/// Every read from the socket goes into one buffer per worker thread (as large as a burst of
/// frames), and tungstenite copies from there in small pieces into its own small per-socket
/// buffer. What it did not take waits here, in an allocation that exists only until it is
/// taken. So a socket holds a small buffer while idle, yet one system call still reads
/// everything the peer sent.
struct Leftover {
    bytes: Vec<u8>,
    at: usize,
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
struct Outgoing(Option<Box<OutBuf>>);

#[derive(Default)]
struct OutBuf {
    bytes: Vec<u8>,
    /// How much of `bytes` the socket has taken.
    at: usize,
}

impl Outgoing {
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|o| o.bytes.is_empty())
    }

    /// Bytes not written yet.
    fn unwritten(&self) -> usize {
        self.0.as_ref().map_or(0, |o| o.bytes.len() - o.at)
    }

    /// The buffer, empty or not (made on first use).
    fn buf(&mut self) -> &mut OutBuf {
        self.0.get_or_insert_with(Default::default)
    }
}

/// The socket as the blocking-style `Read`/`Write` that tungstenite drives: an operation that
/// would wait returns `WouldBlock` and has registered the task's waker.
///
/// A write only appends to the socket's [`Outgoing`] bytes, and a flush writes them, so that
/// tungstenite's frames keep their place among the ones queued by the handler.
struct Blocking<'a, 'b> {
    io: &'a mut tokio::net::TcpStream,
    cx: &'a mut std::task::Context<'b>,
    leftover: &'a mut Option<Box<Leftover>>,
    out: &'a mut Outgoing,
    /// The capacity `out` keeps between bursts ([`WsConfig::write_buffer_size`]).
    keep: usize,
    /// Bytes handed to tungstenite (since this was last cleared).
    taken: usize,
    /// The socket took some of `out`.
    wrote_any: bool,
}

impl<'a, 'b> Blocking<'a, 'b> {
    fn new(
        io: &'a mut tokio::net::TcpStream,
        cx: &'a mut std::task::Context<'b>,
        leftover: &'a mut Option<Box<Leftover>>,
        out: &'a mut Outgoing,
        keep: usize,
    ) -> Self {
        Blocking { io, cx, leftover, out, keep, taken: 0, wrote_any: false }
    }
}

fn pending() -> std::io::Error {
    std::io::ErrorKind::WouldBlock.into()
}

impl std::io::Read for Blocking<'_, '_> {
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
        let left = &mut *self.leftover;
        let (io, cx, taken) = (&mut *self.io, &mut *self.cx, &mut self.taken);
        SCRATCH_BUF.with_borrow_mut(|scratch| {
            let mut rb = tokio::io::ReadBuf::new(scratch);
            match std::pin::Pin::new(io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    let n = buf.len().min(got.len());
                    buf[..n].copy_from_slice(&got[..n]);
                    if got.len() > n {
                        *left = Some(Box::new(Leftover { bytes: got[n..].to_vec(), at: 0 }));
                    }
                    *taken += n;
                    Ok(n)
                }
                Poll::Ready(Err(e)) => Err(e),
                Poll::Pending => Err(pending()),
            }
        })
    }
}

fn poll_write(
    io: &mut tokio::net::TcpStream,
    cx: &mut std::task::Context<'_>,
    buf: &[u8],
) -> std::io::Result<usize> {
    use tokio::io::AsyncWrite;
    match std::pin::Pin::new(io).poll_write(cx, buf) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(pending()),
    }
}

impl Blocking<'_, '_> {
    /// Writes the socket's [`Outgoing`] bytes, all of them or until the socket is full.
    fn write_out(&mut self) -> std::io::Result<()> {
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
        out.at = 0;
        out.bytes.clear();
        if out.bytes.capacity() > self.keep {
            self.out.0 = None; // a large burst's buffer is not kept
        }
        Ok(())
    }
}

impl std::io::Write for Blocking<'_, '_> {
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
pub(crate) struct SessionGuard(Arc<crate::app::Shared>, u64);

impl Sessions {
    /// Enters a WebSocket or SSE session, which [`shutdown`](Self::shutdown) will end.
    pub(crate) fn enter_registered(ctx: &Context) -> SessionGuard {
        let app = ctx.app().clone();
        let this = &app.sessions;
        this.open.fetch_add(1, Ordering::SeqCst);
        let id = this.next_id.fetch_add(1, Ordering::Relaxed);
        this.sockets.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::downgrade(&ctx.inner));
        if this.stopping.load(Ordering::SeqCst) {
            stop(&ctx.inner);
        }
        SessionGuard(app, id)
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

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let sessions = &self.0.sessions;
        sessions.sockets.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.1);
        if sessions.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            sessions.idle.notify_waiters();
        }
    }
}
