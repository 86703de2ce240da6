//! [`Subscription`]: one receiver's place in a room's ring.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::{Poll, Waker};

use super::cursor::{Cursor, LogId, Place};
use super::room::{Ring, Room};
use super::rooms::Rooms;
use crate::error::{Error, Result};
use crate::message::Outbound;

/// A subscriber of one room: where it is in the room's ring. Dropping it leaves the room (the
/// last one frees the room).
pub struct Subscription {
    pub(crate) rooms: Arc<Rooms>,
    pub(crate) name: Arc<str>,
    /// `None` once it has left (dropped for falling behind).
    pub(crate) room: Option<Arc<Room>>,
    /// The number of the next message to read.
    pub(crate) next: u64,
    /// The room's life (see [`Cursor`]).
    pub(crate) life: u64,
    /// Where [`cursor`](Self::cursor) falls back to once the ring no longer holds the last
    /// message received: the log id of the place resumed from, or of the last message taken
    /// from the backlog (messages taken from the ring are not noted one by one).
    pub(crate) last_id: Option<LogId>,
    /// Messages from the backend's log, delivered before the ring's (a resumed subscription).
    pub(crate) backlog: VecDeque<(LogId, Outbound)>,
    /// The ring's messages up to this id came in the backlog already: skipped.
    pub(crate) skip_through: Option<LogId>,
    /// A resumed subscription not yet past its backlog (`backlog`, `skip_through`): the one
    /// flag the path of every delivery looks at.
    pub(crate) resuming: bool,
    pub(crate) lagged: u64,
    /// Of `lagged`, the messages lost between instances (not this receiver's fault: they do
    /// not count toward `max_lag`).
    pub(crate) lagged_elsewhere: u64,
    /// The room's count of messages lost between instances when this receiver last looked.
    pub(crate) seen_elsewhere: u64,
    /// Where this receiver's waker is in the ring's waiters: `(round, index)`.
    pub(crate) parked: Option<(u64, usize)>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("room", &self.name).field("lagged", &self.lagged).finish()
    }
}

/// What a look at the ring found.
enum Look {
    Message(Outbound),
    /// That many messages were dropped before this receiver read them.
    Lost(u64),
    /// Nothing new (the receiver's waker is left, when one was given).
    Nothing,
}

impl Subscription {
    /// The room's name.
    pub fn room(&self) -> &str {
        &self.name
    }

    /// Where this receiver is in the room: after the last message it received. Keep it (an
    /// SSE stream forwarded from the room sends it as each text message's `id:`) and give it
    /// to [`Hub::subscribe_from`](super::Hub::subscribe_from) to resume.
    pub fn cursor(&self) -> Cursor {
        // The log id of the last message received, read off the ring while it holds it (the
        // ring keeps ids beside its messages when a backend gives them): nothing is noted per
        // message on the way.
        let last = self.room.as_ref().and_then(|room| room.lock().id_before(self.next));
        match last.or(self.last_id) {
            Some(id) => Cursor(Place::Log(id)),
            None => Cursor(Place::Local { life: self.life, next: self.next }),
        }
    }

    /// How many messages this receiver has lost: by falling behind, and (with a
    /// [`Backend`](super::Backend)) on the way from other instances.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// The next message. Lost messages are skipped (and counted in
    /// [`lagged`](Self::lagged)); past the hub's `max_lag` this returns an error (429) and the
    /// subscription is over.
    pub async fn recv(&mut self) -> Result<Outbound> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<Outbound>> {
        loop {
            if self.resuming {
                if let Some(m) = self.resume_step() {
                    return Poll::Ready(Ok(m));
                }
            }
            match self.look(Some(cx.waker()), true)? {
                Look::Message(_) if self.resuming && self.carried_already() => continue,
                Look::Message(m) => return Poll::Ready(Ok(m)),
                Look::Lost(n) => self.lost(n)?,
                Look::Nothing => return Poll::Pending,
            }
        }
    }

    /// Looks at the ring: the next message (if `take`), messages lost, or nothing (and then
    /// `waker` waits for the next publish).
    /// (The backlog of a resumed subscription is read before, by the callers: this path is
    /// every delivery's, and kept as small as it can be. Inlined into each caller, which then
    /// matches on what it finds without the `Result` being built and copied out of a call.)
    #[inline(always)]
    fn look(&mut self, waker: Option<&Waker>, take: bool) -> Result<Look> {
        let room = self.room.as_ref().ok_or_else(too_slow)?;
        let mut ring = room.lock();
        if ring.lost_elsewhere != self.seen_elsewhere {
            let n = ring.lost_elsewhere - self.seen_elsewhere;
            self.seen_elsewhere = ring.lost_elsewhere;
            self.lagged += n;
            self.lagged_elsewhere += n;
        }
        if self.next < ring.first {
            let n = ring.first - self.next;
            self.next = ring.first;
            return Ok(Look::Lost(n));
        }
        if take {
            if let Some(m) = ring.msgs.get((self.next - ring.first) as usize) {
                self.next += 1;
                return Ok(Look::Message(m.clone()));
            }
        }
        if let Some(waker) = waker {
            park_in(&mut self.parked, &mut ring, waker);
        }
        Ok(Look::Nothing)
    }

    /// A resumed subscription's next message from its backlog (from the backend's log), or
    /// `None` once the backlog is read (then the ring's messages follow).
    #[inline(never)]
    fn resume_step(&mut self) -> Option<Outbound> {
        let (id, m) = self.backlog.pop_front()?;
        self.last_id = Some(id);
        Some(m)
    }

    /// Whether the message just taken from the ring came in the backlog already (a resumed
    /// subscription: the ring's messages up to `skip_through` did): skip it. Forgets
    /// `skip_through` once past it.
    #[inline(never)]
    fn carried_already(&mut self) -> bool {
        let id = self.room.as_ref().and_then(|room| room.lock().id_before(self.next));
        match (id, self.skip_through) {
            (Some(id), Some(through)) if id <= through => true,
            _ => {
                // Past what the backlog carried: an ordinary subscription from here on.
                self.skip_through = None;
                self.resuming = false;
                false
            }
        }
    }

    /// How many messages are waiting for this receiver.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn pending(&self) -> usize {
        let Some(room) = &self.room else { return 0 };
        let ring = room.lock();
        self.backlog.len() + (ring.first + ring.msgs.len() as u64).saturating_sub(self.next) as usize
    }

    /// The next message if one is already there; `Err(n)` when `n` messages were lost before
    /// it (count them with [`lost`](Self::lost), which may leave the room: not under a lock).
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn try_recv(&mut self) -> std::result::Result<Option<Outbound>, u64> {
        loop {
            if self.resuming {
                if let Some(m) = self.resume_step() {
                    return Ok(Some(m));
                }
            }
            return match self.look(None, true) {
                Ok(Look::Message(_)) if self.resuming && self.carried_already() => continue,
                Ok(Look::Message(m)) => Ok(Some(m)),
                Ok(Look::Lost(n)) => Err(n),
                Ok(Look::Nothing) | Err(_) => Ok(None),
            };
        }
    }

    /// [`try_recv`](Self::try_recv) that leaves `waker` to be woken by the next publish when
    /// nothing is there (`Ok(Ok(None))`); `Err` once this receiver was dropped.
    /// (Inlined into the stream's body, which reads the room through it on every poll.)
    #[cfg(feature = "sse")]
    #[inline(always)]
    pub(crate) fn try_recv_or_wait(
        &mut self,
        waker: &Waker,
    ) -> Result<std::result::Result<Option<Outbound>, u64>> {
        loop {
            if self.resuming {
                if let Some(m) = self.resume_step() {
                    return Ok(Ok(Some(m)));
                }
            }
            return match self.look(Some(waker), true)? {
                Look::Message(_) if self.resuming && self.carried_already() => continue,
                Look::Message(m) => Ok(Ok(Some(m))),
                Look::Lost(n) => Ok(Err(n)),
                Look::Nothing => Ok(Ok(None)),
            };
        }
    }

    /// Waits, while the client cannot take more, until the room has dropped messages this
    /// receiver had not read: how many (to count with [`lost`](Self::lost)).
    pub(crate) fn poll_fell_behind(&mut self, cx: &mut std::task::Context<'_>) -> Poll<u64> {
        match self.look(Some(cx.waker()), false) {
            Ok(Look::Lost(n)) => Poll::Ready(n),
            // (A receiver that has left waits for nothing more.)
            Ok(_) | Err(_) => Poll::Pending,
        }
    }

    /// [`poll_fell_behind`](Self::poll_fell_behind) as a future.
    pub(crate) fn fell_behind(&mut self) -> impl Future<Output = u64> + '_ {
        std::future::poll_fn(|cx| self.poll_fell_behind(cx))
    }

    /// Counts `n` lost messages; past the hub's `max_lag` the receiver is dropped.
    pub(crate) fn lost(&mut self, n: u64) -> Result<()> {
        self.lagged += n;
        if self.lagged - self.lagged_elsewhere > self.rooms.config.max_lag {
            tracing::debug!(room = %self.name, lost = self.lagged, "dropping a receiver that does not keep up");
            self.leave();
            return Err(too_slow());
        }
        Ok(())
    }

    fn leave(&mut self) {
        if let Some(room) = self.room.take() {
            self.rooms.leave(&self.name, room);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Leaves `waker` in `ring`'s waiters, where `parked` says the receiver's is: replaced there if
/// it was left in this round already (the receiver moved to another task), added if not.
fn park_in(parked: &mut Option<(u64, usize)>, ring: &mut Ring, waker: &Waker) {
    match *parked {
        Some((round, i)) if round == ring.round => {
            if let Some(w) = ring.waiters.get_mut(i) {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
        }
        _ => {
            *parked = Some((ring.round, ring.waiters.len()));
            ring.waiters.push(waker.clone());
        }
    }
}

fn too_slow() -> Error {
    Error::too_many_requests("this receiver fell too far behind the room and was dropped")
}
