//! One round of a socket's I/O, in named steps: read what the peer sent, poll the handler if it
//! is due, write what is queued (and close when asked), watch whether the client reads, keep
//! time. A message read and its reply written take one round: the handler runs between them.

use std::ops::ControlFlow;
use std::task::Waker;

use tokio::time::Instant;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

use super::channel::{Ended, Failure, WsIo};
use super::deadlines::Marks;
use super::parser::{Held, Parser};
use super::waiters::Waiters;
use super::wire::TaskIo;
use crate::config::WsConfig;
use crate::message::Message;

/// What the socket's I/O keeps between rounds.
pub(crate) struct IoState {
    /// When the peer last showed it is there (pings do not count): a pong, or the tick of the
    /// sessions' clock that found a message had come since the one before. (A message only
    /// clears `quiet`, without reading the time: the idle timeout and pings are looked at on
    /// ticks, and are late by at most one tick for it.)
    pub(crate) last_seen: Instant,
    /// Bytes tungstenite has taken since the last message that no control frame accounts for:
    /// part of a message (or of a frame) it holds. (Bytes it read ahead past a message's end,
    /// at most its read buffer, are not counted: the message resets this.)
    pub(crate) unparsed: u32,
    /// What tungstenite may still hold of the peer's bytes: while it holds nothing, a quiet
    /// socket drops tungstenite's state (see [`parser`](super::parser)).
    pub(crate) held: Held,
    /// No message came since the sessions' clock last ticked.
    pub(crate) quiet: bool,
    /// The socket's deadlines.
    pub(crate) marks: Marks,
    pub(crate) shutting_down: bool,
    /// tungstenite has ended the connection (the close handshake is over) while its last
    /// frame still waits in `out`: that is written before the connection is closed.
    pub(crate) draining: bool,
    /// Reading is paused because the handler has not taken what came before.
    pub(crate) read_paused: bool,
    /// A read found nothing during this poll of the task: the socket is not read again in the
    /// same poll (tungstenite would grow and zero its buffer for nothing). New bytes wake the
    /// task, and the next poll reads.
    pub(crate) read_blocked: bool,
    /// Whether the handler takes more messages, as last learned under the channel's lock. Only
    /// this task makes it `false` (by handing over a message, or on a failure), so `true` is
    /// never stale; `false` is asked again before reading stops.
    pub(crate) wants_read: bool,
}

impl IoState {
    pub(crate) fn new() -> IoState {
        IoState {
            last_seen: Instant::now(),
            unparsed: 0,
            held: Held::default(),
            quiet: false,
            marks: Marks::default(),
            shutting_down: false,
            draining: false,
            read_paused: false,
            read_blocked: false,
            wants_read: true,
        }
    }
}

/// What one round of the socket's I/O did.
#[derive(PartialEq)]
pub(crate) enum Step {
    /// Nothing more to do until a wake-up.
    Idle,
    /// Something changed after the handler's poll in this round (room to send, a close, a
    /// failure, a tick): go round again.
    Progress,
    /// The connection is over.
    Done,
}

/// A step of a round that found the connection over.
struct Over;

/// One round of the socket's I/O over its parts (`s`: the socket and its bytes in and out),
/// step by step. `poll_handler` polls the handler if it is due (it was handed a message, or
/// woken from elsewhere).
pub(crate) fn run(
    ws: &mut Parser,
    s: TaskIo<'_, '_>,
    io: &WsIo,
    handler_waker: &Waker,
    state: &mut IoState,
    poll_handler: impl FnOnce(),
) -> Step {
    let config = &*io.config;
    let mut round = Round { ws, s, io, config, handler_waker, state, progress: false };
    if round.state.draining {
        poll_handler(); // (it hears that the socket is over)
        return round.drain();
    }
    let outcome = round.steps(poll_handler);
    match outcome {
        ControlFlow::Break(Over) => Step::Done,
        ControlFlow::Continue(()) if round.progress => Step::Progress,
        ControlFlow::Continue(()) => Step::Idle,
    }
}

/// What one round of the socket's I/O works with.
struct Round<'a, 'b> {
    ws: &'a mut Parser,
    s: TaskIo<'a, 'b>,
    io: &'a WsIo,
    config: &'a WsConfig,
    handler_waker: &'a Waker,
    state: &'a mut IoState,
    /// Something changed after the handler's poll: go round again (see [`Step::Progress`]).
    progress: bool,
}

impl Round<'_, '_> {
    /// The round's steps, in order, until one finds the connection over. (Inlined: a call of
    /// its own would cost every round its entry and exit.)
    ///
    /// The handler runs between the read and the write: what it queues in answer to what was
    /// read goes out in the same round, and the next round is only needed for what came in
    /// meanwhile.
    #[inline(always)]
    fn steps(&mut self, poll_handler: impl FnOnce()) -> ControlFlow<Over> {
        self.read()?;
        poll_handler();
        self.write()?;
        self.watch_stall();
        self.keep_time()
    }

    /// tungstenite ended the connection and its last frame waits: write it, for at most the
    /// close timeout.
    fn drain(&mut self) -> Step {
        self.io.take_tick(); // (nothing but the close timeout counts now)
        if !matches!(self.s.write_out(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            return Step::Done;
        }
        if self.state.marks.poll_alarm(self.s.cx) {
            Step::Done
        } else {
            Step::Idle
        }
    }

    /// Writes: the last write's rest first, then everything queued, in one write; closes when
    /// the handler, a failure or shutdown asks. Learns, under the queue's lock, whether the
    /// handler takes more messages.
    fn write(&mut self) -> ControlFlow<Over> {
        if !self.s.out.is_empty() && blocked(self.ws.flush(&mut self.s)).is_err() {
            return ControlFlow::Break(Over);
        }
        if !self.s.out.is_empty() {
            return ControlFlow::Continue(());
        }
        let (close, senders, wrote, failed) = {
            let mut st = self.io.lock();
            // Everything queued is already encoded: take it in one piece (the queue gets this
            // socket's empty buffer in exchange), and write it after the lock.
            let wrote = !st.out.is_empty();
            if wrote {
                std::mem::swap(&mut st.out, &mut self.s.out.buf().bytes);
            }
            // Shutdown reaches each socket through its own state (see
            // `SessionRegistry::shutdown`), so the loop never touches a lock shared with other
            // sockets.
            self.state.shutting_down |= st.stopping;
            self.state.wants_read = st.wants_read(self.config);
            let closing = self.state.marks.closing();
            let mut close = if closing { None } else { st.close.take().map(|c| *c) };
            if let Some(&Failure { rule: &Ended::Failed(code, why), at }) = st.failure.as_deref() {
                // Once the handler has seen the failure (or finished, or is too slow to drain
                // what came before it), close with the failure's code.
                let seen = st.end.is_some() || close.is_some();
                let overdue = at.elapsed() >= self.config.close_timeout;
                close = (!closing && (seen || overdue))
                    .then(|| CloseFrame { code: CloseCode::from(code), reason: why.into() });
            }
            let senders = if wrote { std::mem::take(&mut st.senders) } else { Waiters::default() };
            (close, senders, wrote, st.failure.as_ref().map(|f| f.rule))
        };
        if !senders.is_empty() {
            // Room in the queue. The handler, if it waited, is polled again right away.
            self.progress = true;
            senders.wake(Some(self.io.running(self.s.cx.waker(), self.handler_waker)));
        }
        // (tungstenite's flush also writes a pong it owes, then ours.)
        if wrote && blocked(self.ws.flush(&mut self.s)).is_err() {
            return ControlFlow::Break(Over);
        }
        let close = close.or_else(|| {
            (self.state.shutting_down && !self.state.marks.closing())
                .then(|| CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() })
        });
        if let Some(frame) = close {
            let how = failed.unwrap_or(&Ended::Closed);
            self.close(how, frame)?;
        }
        ControlFlow::Continue(())
    }

    /// Ends the socket for the handler (`how`), and sends our close frame: from then on the
    /// socket waits for the peer's, for at most the close timeout.
    fn close(&mut self, how: &'static Ended, frame: CloseFrame) -> ControlFlow<Over> {
        record_close(u16::from(frame.code));
        self.io.end(how, Some(self.io.running(self.s.cx.waker(), self.handler_waker)));
        self.progress = true;
        if blocked(self.ws.close(self.config, &mut self.s, frame)).is_err() {
            return ControlFlow::Break(Over);
        }
        let until = Instant::now() + self.config.close_timeout;
        self.state.marks.get().closing_until = Some(until);
        self.state.marks.alarm(until);
        ControlFlow::Continue(())
    }

    /// Drops tungstenite's state and the write buffers (this task's and the queue's), where
    /// nothing in them waits (see [`Parser::rest`]). A socket that cannot rest (TLS, or bytes
    /// still owed) keeps its buffers: it is not idle, and may be called again on every read.
    fn rest(&mut self) {
        if self.ws.rest(&mut self.s) {
            let mut st = self.io.lock();
            if st.out.is_empty() {
                st.out = Vec::new();
            }
        }
    }

    /// Reads what the peer sent (see [`read_messages`](Self::read_messages)), and keeps what
    /// tungstenite has not taken of it before the thread's read buffer is used again.
    fn read(&mut self) -> ControlFlow<Over> {
        let read = self.read_messages();
        self.s.stash();
        read
    }

    /// Reads what the peer sent, while the handler keeps up, and while the peer takes what is
    /// written to it: every ping read queues a pong, so a peer that pings without reading is
    /// read no further once its unwritten bytes are over the send queue's size.
    fn read_messages(&mut self) -> ControlFlow<Over> {
        self.state.read_paused = false;
        while !self.state.read_blocked {
            let closing = self.state.marks.closing();
            if !self.state.wants_read {
                // (The handler may have taken messages since: ask.)
                self.state.wants_read = self.io.lock().wants_read(self.config);
            }
            if !closing && (!self.state.wants_read || self.s.out.unwritten() > self.config.max_send_queue) {
                self.state.read_paused = true;
                break;
            }
            if self.state.held.is_empty()
                && !self.s.holds_unread()
                && self.s.io.poll_readable(self.s.cx).is_pending()
            {
                // tungstenite holds nothing of the peer's and the socket has nothing: asking
                // it to read would only grow and zero its buffer to learn that. (No frame or
                // message is under way: no deadline runs.)
                self.state.marks.clear_message();
                self.nothing_to_read(closing);
                break;
            }
            self.s.taken = 0;
            let read = self.ws.get(self.config).read(&mut self.s);
            self.state.held.take(self.s.taken);
            let taken = u32::try_from(self.s.taken).unwrap_or(u32::MAX);
            self.state.unparsed = self.state.unparsed.saturating_add(taken);
            match read {
                Ok(m) => {
                    if let Some(more) = self.received(m) {
                        // (The handler, due now, is polled after the read.)
                        self.state.wants_read = more;
                    }
                }
                Err(e) if would_block(&e) => {
                    // Bytes taken by tungstenite that made neither a message nor a control
                    // frame: part of a message is held, and its deadline runs from now.
                    let marks = &mut self.state.marks;
                    if self.state.unparsed == 0 {
                        marks.clear_message();
                    } else if marks.message_since().is_none() {
                        marks.get().message_since = Some(Instant::now());
                    }
                    self.nothing_to_read(closing);
                }
                // The peer closed the connection without a close frame: it is gone, so there
                // is no handshake to make (and no close timeout to arm); `recv` ends.
                Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => {
                    record_close(1006);
                    return ControlFlow::Break(Over);
                }
                Err(e) => match close_for(&e) {
                    Some(rule) if !closing => {
                        tracing::debug!(error = %e, "closing a WebSocket that broke the protocol");
                        self.failed(rule);
                        break;
                    }
                    _ => return ControlFlow::Break(Over), // closed, or the connection failed
                },
            }
        }
        ControlFlow::Continue(())
    }

    /// The socket has nothing more to read in this poll of the task; a quiet socket whose
    /// tungstenite holds nothing of the peer's rests now.
    fn nothing_to_read(&mut self, closing: bool) {
        self.state.read_blocked = true;
        if self.state.quiet && self.state.held.is_empty() && !closing && !self.ws.is_resting() {
            self.rest();
        }
    }

    /// A message read from the peer: a data message goes to the handler (whether it takes
    /// more: `Some`), a control frame is accounted for (`None`).
    fn received(&mut self, m: tungstenite::Message) -> Option<bool> {
        let running = self.io.running(self.s.cx.waker(), self.handler_waker);
        let message = match m {
            tungstenite::Message::Text(t) => Message::from_ws_text(t),
            tungstenite::Message::Binary(b) => Message::binary(b),
            tungstenite::Message::Ping(p) => {
                // (Answered by tungstenite.) A client's control frame is its payload behind a
                // 6-byte header (2, and the 4-byte mask).
                self.state.held.parsed(p.len());
                self.state.unparsed = self.state.unparsed.saturating_sub(6 + p.len() as u32);
                return None;
            }
            tungstenite::Message::Pong(p) => {
                self.state.last_seen = Instant::now();
                self.state.held.parsed(p.len());
                self.state.unparsed = self.state.unparsed.saturating_sub(6 + p.len() as u32);
                return None;
            }
            tungstenite::Message::Close(frame) => {
                // (Answered by tungstenite.) The peer's code, when it closed first.
                if !self.state.marks.closing() {
                    peer_closed(frame);
                }
                return None;
            }
            tungstenite::Message::Frame(_) => return None,
        };
        self.state.held.parsed(message.len());
        (self.state.unparsed, self.state.quiet) = (0, false);
        self.state.marks.clear_message();
        Some(self.io.push(message, running))
    }

    /// The peer broke a rule: the messages before it are still delivered (and may be
    /// answered) before the socket closes with `code`, within the close timeout.
    fn failed(&mut self, rule: &'static Ended) {
        let now = Instant::now();
        let receivers = {
            let mut st = self.io.lock();
            st.failure = Some(Box::new(Failure { rule, at: now }));
            self.state.wants_read = false;
            std::mem::take(&mut st.receivers)
        };
        receivers.wake(Some(self.io.running(self.s.cx.waker(), self.handler_waker)));
        self.progress = true;
        self.state.marks.alarm(now + self.config.close_timeout);
    }

    /// Notes whether the client takes what is written to it.
    fn watch_stall(&mut self) {
        let marks = &mut self.state.marks;
        if self.s.out.is_empty() || self.s.wrote_any {
            marks.clear_stalled();
        }
        if !self.s.out.is_empty() && marks.stalled_since().is_none() {
            marks.get().stalled_since = Some(Instant::now());
        }
    }

    /// Keeps time: the close timeout, the write and message deadlines, the idle timeout, pings.
    fn keep_time(&mut self) -> ControlFlow<Over> {
        // (Both asked: a tick must not leave an alarm that fired unseen, nor the reverse.)
        let ticked = self.io.take_tick();
        if !(self.state.marks.poll_alarm(self.s.cx) | ticked) {
            return ControlFlow::Continue(());
        }
        let (now, config) = (Instant::now(), self.config);
        if !self.state.quiet {
            // (A message came since the last tick.)
            self.state.last_seen = now;
        }
        let marks = &self.state.marks;
        if marks.closing_until().is_some_and(|t| now >= t) {
            return ControlFlow::Break(Over); // the peer never answered our close frame
        }
        if marks.stalled_since().is_some_and(|t| now.duration_since(t) >= config.write_timeout) {
            // Nothing can reach a client that does not read, not even a close frame.
            tracing::debug!("disconnecting a WebSocket client that stopped reading");
            return ControlFlow::Break(Over);
        }
        let late = marks.message_since().is_some_and(|t| now.duration_since(t) >= config.message_timeout);
        let idle = config.idle_timeout.is_some_and(|idle| now.duration_since(self.state.last_seen) >= idle);
        if !marks.closing() && late {
            tracing::debug!("closing a WebSocket whose message did not arrive in time");
            let late = &Ended::Failed(1008, "message not completed in time");
            self.close(
                late,
                CloseFrame { code: CloseCode::Policy, reason: "message not completed in time".into() },
            )?;
        } else if !marks.closing() && idle {
            tracing::debug!("closing an idle WebSocket");
            self.close(&Ended::Closed, CloseFrame { code: CloseCode::Away, reason: "idle timeout".into() })?;
        } else {
            // (Due half a tick early: a pong that came just after the last tick's ping must
            // not make this tick skip the next one.)
            let since = now.duration_since(self.state.last_seen) + config.clock / 2;
            let ping_due = !marks.closing() && config.ping_interval.is_some_and(|p| since >= p);
            if ping_due && blocked(self.ws.ping(&mut self.s)).is_err() {
                return ControlFlow::Break(Over);
            }
            // Quiet until a message comes; one that holds nothing rests now.
            self.state.quiet = true;
            if !self.state.marks.closing() && self.state.held.is_empty() {
                self.rest();
            }
        }
        // The next round looks again at what changed (a failure's close may be overdue now).
        self.progress = true;
        ControlFlow::Continue(())
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

/// What tungstenite's read error means for the close code.
/// Puts the socket's close code on its span (1006: no close frame at all). Out of line, as
/// what the rare close costs should not weigh on the loop that reads every message.
#[cold]
#[inline(never)]
fn record_close(code: u16) {
    tracing::Span::current().record("close_code", code);
}

/// Puts the code of the peer's close `frame` on the socket's span (1005: a frame without one).
#[cold]
#[inline(never)]
fn peer_closed(frame: Option<CloseFrame>) {
    record_close(frame.map_or(1005, |f| u16::from(f.code)));
}

fn close_for(e: &tungstenite::Error) -> Option<&'static Ended> {
    use tungstenite::Error as E;
    match e {
        E::Capacity(_) => Some(&Ended::Failed(1009, "message too big")),
        E::Utf8(_) => Some(&Ended::Failed(1007, "invalid UTF-8 in a text message")),
        E::Protocol(_) => Some(&Ended::Failed(1002, "protocol error")),
        _ => None,
    }
}
