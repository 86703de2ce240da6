//! A socket's task: it waits for hyper's upgrade, then polls the handler and, beside it, the
//! socket's I/O (write what is queued, close when asked, read what the peer sent, keep time).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketContext};

use super::channel::{Ended, Waiters, WsIo};
use super::wire::{Leftover, Outgoing, TaskIo};
use crate::config::WsConfig;
use crate::context::Context;
use crate::error::Result;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::runtime::sessions::SessionGuard;

pin_project_lite::pin_project! {
    /// One socket's task: waits for hyper's upgrade, then runs the handler beside the
    /// socket's I/O. A hand-written future rather than an `async fn`, so that nothing is
    /// stored twice: it is most of what an idle socket costs.
    pub(crate) struct Session {
        state: SessionState,
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
enum SessionState {
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
    let span = tracing::info_span!("ws", route = ctx.route().unwrap_or(""), peer = %ctx.peer_addr());
    Session {
        _registered: ctx.enter_session(),
        state: SessionState::Upgrading { ctx, on_upgrade, handler },
        timer: tokio::time::sleep(Duration::ZERO),
        span: (!span.is_disabled()).then(|| Box::new(span)),
    }
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
            match this.state {
                SessionState::Upgrading { on_upgrade, .. } => {
                    let upgraded = std::task::ready!(std::pin::Pin::new(on_upgrade).poll(cx));
                    let SessionState::Upgrading { ctx, handler, .. } =
                        std::mem::replace(this.state, SessionState::Over)
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
                    *this.state = SessionState::Running(Socket {
                        ws: WebSocketContext::new(Role::Server, Some(config.tungstenite())),
                        io: Some(upgraded.io.into_inner()),
                        leftover: (!early.is_empty())
                            .then(|| Box::new(Leftover { bytes: early.into(), at: 0 })),
                        out: Outgoing::default(),
                        handler: Some(handler(ctx.clone())),
                        handler_waker: ctx.handler_waker(),
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
                SessionState::Running(socket) => {
                    std::task::ready!(socket.poll(cx, this.timer.as_mut()));
                    *this.state = SessionState::Over;
                    tracing::debug!("WebSocket session ended");
                    return Poll::Ready(());
                }
                SessionState::Over => return Poll::Ready(()),
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

/// The channel of a socket's Context (a socket's task is only made for a `#[ws]` route).
fn channel(ctx: &Context) -> &WsIo {
    ctx.ws_io().expect("a socket's Context has a socket's channel")
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
        channel(&self.ctx).polling.store(true, Ordering::SeqCst);
        self.read_blocked = false;
        // Bounded, so that a chatty socket still lets the others run.
        for _ in 0..16 {
            // The handler is polled only when it was woken (it waits on the socket's queues,
            // or on anything else): a message read and answered costs one poll of it, and a
            // wake-up for the socket's I/O alone costs none. Before the I/O step, so that what
            // it queues is written in the same round.
            let io = channel(&self.ctx);
            if self.handler.is_some() && io.handler_woken.swap(false, Ordering::SeqCst) {
                if let Some(handler) = self.handler.as_mut() {
                    let describe = || format!("WebSocket handler of `{}`", self.ctx.route().unwrap_or(""));
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
                let until = Instant::now() + channel(&self.ctx).config.close_timeout;
                let until = self.marks.closing_until().map_or(until, |t| t.min(until));
                timer.as_mut().reset(until);
                let io = channel(&self.ctx);
                io.end(Ended::Closed, Some(io.running(cx.waker(), &self.handler_waker)));
                continue;
            }
            if step == Step::Done {
                self.io = None; // closes the connection
                let io = channel(&self.ctx);
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
            let io = channel(&self.ctx);
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
        let keep = channel(ctx).config.write_buffer_size;
        let mut s = TaskIo::new(stream, cx, leftover, out, keep);
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
            io.request_close(frame);
        }
    }

    /// Writes what is queued, closes when asked, reads what the peer sent, keeps time.
    fn step(&mut self, cx: &mut std::task::Context<'_>, mut timer: Timer<'_>) -> Step {
        let Socket { ws, io: Some(stream), leftover, out, ctx, handler_waker, .. } = self else {
            return Step::Done;
        };
        let io = channel(ctx);
        let config = &*io.config;
        let mut s = TaskIo::new(stream, cx, leftover, out, config.write_buffer_size);
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
                // Shutdown reaches each socket through its own state (see `SessionRegistry::shutdown`),
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
