//! A socket at work: its handler and its I/O, polled together by one task. Each round reads,
//! polls the handler if it was woken, and writes (see [`round`](super::round)); the task parks
//! when none of them has anything to do.

use std::sync::atomic::Ordering;
use std::task::Poll;

use tokio::time::Instant;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

use super::channel::{Ended, WsIo};
use super::parser::Parser;
use super::round::{self, IoState, Step};
use super::stream::Stream;
use super::wire::{Leftover, Outgoing, TaskIo};
use crate::context::Context;
use crate::error::Result;
use crate::future::BoxFuture;

/// One socket's handler and I/O, polled together by one task.
///
/// Everything is polled with the task's own waker. A hand-over between the handler and the
/// I/O (a message in, a reply out) happens within one poll of the task, without the wake-up it
/// would cause: a round polls the handler right after its read, and writes what the handler
/// queued right after that. Waking the task from inside its own poll would send it to the back
/// of the run queue, so that every echo waited behind every other busy socket once more.
pub(crate) struct Socket {
    /// tungstenite's state: none while the socket rests.
    ws: Parser,
    /// `None` once the connection is gone (the handler may still be running).
    io: Option<Stream>,
    leftover: Option<Box<Leftover>>,
    /// Bytes the socket has not taken yet. While there are any, a write waits for the socket,
    /// and nothing more is taken from the queue.
    out: Outgoing,
    ctx: Context,
    /// `None` once the handler has finished. It is polled with the Context's waker
    /// ([`Context::handler_waker`]).
    handler: Option<BoxFuture<Result<()>>>,
    state: IoState,
}

/// The channel of a socket's Context (a socket's task is only made for a `#[ws]` route).
fn channel(ctx: &Context) -> &WsIo {
    ctx.ws_io().expect("a socket's Context has a socket's channel")
}

impl Socket {
    pub(crate) fn new(
        ctx: Context,
        handler: fn(Context) -> BoxFuture<Result<()>>,
        io: Stream,
        leftover: Option<Box<Leftover>>,
    ) -> Socket {
        Socket {
            ws: Parser::resting(),
            io: Some(io),
            leftover,
            out: Outgoing::default(),
            handler: Some(handler(ctx.clone())),
            ctx,
            state: IoState::new(),
        }
    }

    /// The socket's Context.
    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// Polls the handler and the I/O until there is nothing to do: `Ready` once both are over.
    pub(crate) fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        // Running: a hand-over from inside this poll need not wake the task.
        channel(&self.ctx).polling.store(true, Ordering::SeqCst);
        self.state.read_blocked = false;
        // Bounded, so that a chatty socket still lets the others run.
        for _ in 0..16 {
            let step = if self.io.is_some() {
                self.round(cx)
            } else {
                poll_handler(&mut self.handler, &self.ctx);
                Step::Idle
            };
            if step == Step::Done
                && !self.state.draining
                && !self.out.is_empty()
                && self.write_out_blocked(cx)
            {
                // tungstenite ended the connection after handing over its last frame (the
                // reply to the peer's close), and the socket cannot take it now: write it
                // first, for at most the close timeout.
                self.state.draining = true;
                let until = Instant::now() + channel(&self.ctx).config.close_timeout;
                let until = self.state.marks.closing_until().map_or(until, |t| t.min(until));
                self.state.marks.alarm(until);
                let (io, handler) = (channel(&self.ctx), self.ctx.handler_waker());
                io.end(&Ended::Closed, Some(io.running(cx.waker(), &handler)));
                continue;
            }
            if step == Step::Done {
                self.io = None; // closes the connection
                let (io, handler) = (channel(&self.ctx), self.ctx.handler_waker());
                io.end(&Ended::Closed, Some(io.running(cx.waker(), &handler)));
                continue; // the handler hears it at once
            }
            if self.handler.is_none() && self.io.is_none() {
                return Poll::Ready(());
            }
            if step == Step::Progress || !self.park(cx) {
                continue;
            }
            return Poll::Pending;
        }
        // Still busy after 16 rounds: yield, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Parks the task, unless work came in from elsewhere while it ran (which did not wake
    /// it): whether it parked.
    fn park(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let io = channel(&self.ctx);
        let mut st = io.lock();
        let state = &self.state;
        // (While a write waits for the socket, nothing more is taken from the queue.)
        let work = (self.handler.is_some() && io.handler_woken.load(Ordering::SeqCst))
            || (self.io.is_some()
                && (io.ticked.load(Ordering::SeqCst)
                    || (self.out.is_empty()
                        && (!st.out.is_empty()
                            || (st.close.is_some() && !state.marks.closing())
                            || (st.stopping && !state.shutting_down)))
                    || (state.read_paused
                        && st.wants_read(&io.config)
                        && self.out.unwritten() <= io.config.max_send_queue)));
        if work {
            return false;
        }
        // (The waker is usually the one left last time: not cloned again.)
        if !st.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            st.task = Some(cx.waker().clone());
        }
        io.polling.store(false, Ordering::SeqCst);
        true
    }

    /// Writes what `out` holds as far as the socket takes it: whether some must wait.
    fn write_out_blocked(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Socket { io: Some(stream), leftover, out, ctx, .. } = self else { return false };
        let keep = channel(ctx).config.write_buffer_size;
        let mut s = TaskIo::new(stream, cx, leftover, out, keep);
        matches!(s.write_out(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// One round of the socket's I/O (see [`round`](super::round)).
    fn round(&mut self, cx: &mut std::task::Context<'_>) -> Step {
        let Socket { ws, io: Some(stream), leftover, out, ctx, handler, state } = self else {
            return Step::Done;
        };
        let io = channel(ctx);
        let s = TaskIo::new(stream, cx, leftover, out, io.config.write_buffer_size);
        round::run(ws, s, io, &ctx.handler_waker(), state, || poll_handler(handler, ctx))
    }
}

/// Polls the socket's handler if it was woken (it waits on the socket's queues, or on anything
/// else): a message read and answered costs one poll of it, and a wake-up for the socket's I/O
/// alone costs none. (A function of the two fields it needs, so that a round can call it while
/// it holds the others.)
fn poll_handler(handler: &mut Option<BoxFuture<Result<()>>>, ctx: &Context) {
    let io = channel(ctx);
    let Some(future) = handler.as_mut() else { return };
    if !io.handler_woken.swap(false, Ordering::SeqCst) {
        return;
    }
    let describe = || format!("WebSocket handler of `{}`", ctx.route().unwrap_or(""));
    let waker = ctx.handler_waker();
    let mut hcx = std::task::Context::from_waker(&waker);
    if let Poll::Ready(outcome) = crate::panic::poll_catch(future.as_mut(), &mut hcx, describe) {
        *handler = None;
        handler_finished(ctx, outcome);
    }
}

/// The handler is over: the socket closes with 1000 for `Ok`, 1011 for an error.
fn handler_finished(ctx: &Context, outcome: Result<()>) {
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
    channel(ctx).request_close(frame);
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
