//! A room that a stream's response body reads itself: what
//! [`Subscription::forward`](crate::broadcast::Subscription::forward) to a stream sets up.
//!
//! The body takes each message from the room's ring when hyper asks it for the next chunk, and
//! hands the message's wire form (made once for every receiver) to hyper as it is: no copy
//! into the stream's queue, and no wake-up of the handler's task per message. The handler's
//! `forward` only waits, for the client to leave or for the receiver to be dropped, and looks
//! after a client that stops reading. hyper then stops asking the body for chunks, and the
//! body stays marked as having handed one out: the sessions' clock, at its next tick, wakes
//! `forward`, which from then on counts what the room drops for this receiver and gives the
//! client up after the write timeout. (Nothing of this is done per message: a client that
//! reads costs one flag per chunk.)

use std::task::{Context as TaskCx, Poll, Waker};

use bytes::Bytes;
use tokio::time::Instant;

use super::encode::encode_from_room;
use crate::broadcast::Subscription;
use crate::error::Result;

/// The room a stream's body reads, and the handler's `forward` waiting on it. Lives in the
/// stream's queue, under its lock (which is never taken under the hub's: leaving the room
/// from here is safe).
#[derive(Default)]
pub(crate) struct Relay {
    sub: Option<Subscription>,
    /// The `forward` waiting for the relay to end.
    waiter: Option<Waker>,
    /// How the relay ended, for `forward` to return.
    end: Option<Result<()>>,
    /// The body handed out a chunk and has not been asked for the next one since: its
    /// connection is writing, or cannot write because the client does not read (which the
    /// clock's tick tells `forward` to look at).
    handed: bool,
    /// When `forward` first saw the body in that state (the write timeout counts from then).
    handed_seen: Option<Instant>,
}

/// What `forward` waits for next.
pub(crate) enum Wait {
    /// The relay ended: `forward` returns this.
    Done(Result<()>),
    /// The body has been waiting for the client to take a chunk since then, as far as
    /// `forward` knows.
    Stuck(Instant),
    /// The body reads the room: nothing to do until something wakes `forward`.
    Idle,
}

impl Relay {
    /// Whether a `forward` runs through the body already.
    pub(crate) fn active(&self) -> bool {
        self.sub.is_some() || self.waiter.is_some() || self.end.is_some()
    }

    /// The body reads `sub` from now on.
    pub(crate) fn start(&mut self, sub: Subscription) {
        *self = Relay { sub: Some(sub), ..Relay::default() };
    }

    /// The body was asked for its next chunk.
    pub(crate) fn polled(&mut self) {
        self.handed = false;
        self.handed_seen = None;
    }

    /// The body handed out a chunk: until it is asked again, a tick of the clock wakes
    /// `forward` (see [`tick`](Self::tick)).
    pub(crate) fn handed_out(&mut self) {
        self.handed = true;
    }

    /// The sessions' clock ticked: `forward`'s waker, to wake, when the body is still waiting
    /// for hyper to take its last chunk (the client may have stopped reading: `forward` then
    /// counts what the room drops, and times the client out).
    pub(crate) fn tick(&self) -> Option<Waker> {
        if self.handed && self.sub.is_some() {
            self.waiter.clone()
        } else {
            None
        }
    }

    /// The room's next message as the stream carries it, or `None` (the body's waker left
    /// with the room, or the relay ended).
    pub(crate) fn poll_next(&mut self, cx: &mut TaskCx<'_>) -> Option<Bytes> {
        loop {
            let sub = self.sub.as_mut()?;
            match sub.try_recv_or_wait(cx.waker()) {
                Ok(Ok(Some(m))) => {
                    if let Ok(chunk) = encode_from_room(m, sub) {
                        return Some(chunk);
                    }
                    // (A value a stream cannot carry, bytes, is skipped.)
                }
                Ok(Ok(None)) => return None,
                Ok(Err(lost)) => {
                    if let Err(e) = sub.lost(lost) {
                        self.finish(Err(e));
                    }
                }
                Err(e) => self.finish(Err(e)),
            }
        }
    }

    /// `forward`'s wait: how the relay ended, or what to wait for (with `cx` left to be
    /// woken). `gone`: the client has left.
    pub(crate) fn poll_wait(&mut self, cx: &mut TaskCx<'_>, gone: bool) -> Wait {
        if let Some(end) = self.end.take() {
            return Wait::Done(end);
        }
        if gone {
            self.sub = None;
            return Wait::Done(Ok(()));
        }
        if !self.waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waiter = Some(cx.waker().clone());
        }
        if !self.handed {
            return Wait::Idle;
        }
        // The body is not being asked for chunks: count what the room drops meanwhile.
        while let Some(sub) = &mut self.sub {
            let Poll::Ready(lost) = sub.poll_fell_behind(cx) else { break };
            if let Err(e) = sub.lost(lost) {
                self.sub = None;
                return Wait::Done(Err(e));
            }
        }
        Wait::Stuck(*self.handed_seen.get_or_insert_with(Instant::now))
    }

    /// Ends the relay with `end` (the receiver was dropped), for `forward` to return.
    fn finish(&mut self, end: Result<()>) {
        self.end = Some(end);
        self.stop();
    }

    /// `forward` is over (returned or dropped): the body stops reading the room, and another
    /// forward may start.
    pub(crate) fn detach(&mut self) {
        *self = Relay::default();
    }

    /// Ends the relay (the client left): leaves the room, wakes `forward`.
    pub(crate) fn stop(&mut self) {
        self.sub = None;
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }
}
