//! [`Inbox`]: where a [`Backend`](super::Backend) delivers what other instances publish.

use std::sync::Weak;

use super::cursor::LogId;
use super::member::Member;
use crate::message::Outbound;

/// What an [`Inbox`] delivers into: the hub's rooms (`rooms.rs`), seen from here through
/// this trait so that this file, which backends depend on, does not depend on the rooms,
/// which hold the backend.
pub(crate) trait Rooms: Send + Sync {
    /// The largest message a room takes.
    fn max_bytes(&self) -> usize;
    /// Adds the message (of `size` bytes, at `id` in a backend's log) to `room`'s ring: how
    /// many subscribers the room has.
    fn deliver(&self, room: &str, message: Outbound, size: usize, id: Option<LogId>) -> usize;
    /// Counts `count` messages of `room` lost between instances.
    fn lose(&self, room: &str, count: u64);
    /// The rooms with subscribers.
    fn names(&self) -> Vec<String>;
    /// Another instance (`origin`) has `key` in `room` now.
    fn present(&self, room: &str, origin: u64, key: &str, meta: &str);
    /// Another instance (`origin`) no longer has `key` in `room`.
    fn absent(&self, room: &str, origin: u64, key: &str);
    /// All the other instances' members of `room`, by origin.
    fn members_are(&self, room: &str, members: Vec<(u64, Member)>);
    /// The rooms whose members this instance follows.
    fn watched(&self) -> Vec<String>;
}

/// A backend's way into its hub: delivers messages from other instances to this instance's
/// subscribers, and reports messages lost on the way. It does not keep the hub alive: once
/// the hub is gone, every call does nothing and [`is_closed`](Inbox::is_closed) says so (a
/// backend's tasks end then).
#[derive(Clone)]
pub struct Inbox {
    pub(crate) rooms: Weak<dyn Rooms>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").field("closed", &self.is_closed()).finish()
    }
}

impl Inbox {
    /// Delivers `message` to `room`'s local subscribers; returns how many there are. A message
    /// larger than the hub's [`max_bytes`](super::HubConfig::max_bytes) is dropped (and logged),
    /// as is one for a room without local subscribers.
    pub fn deliver(&self, room: &str, message: Outbound) -> usize {
        self.deliver_inner(room, message, None)
    }

    /// [`deliver`](Self::deliver), for a backend that keeps a log of each room: `id` is the
    /// message's place in it, which receivers then carry as their [`Cursor`](super::Cursor),
    /// good on every instance ([`Hub::subscribe_from`](super::Hub::subscribe_from)). Deliver a
    /// room's messages in the log's order.
    pub fn deliver_at(&self, room: &str, id: LogId, message: Outbound) -> usize {
        self.deliver_inner(room, message, Some(id))
    }

    fn deliver_inner(&self, room: &str, message: Outbound, id: Option<LogId>) -> usize {
        let Some(rooms) = self.rooms.upgrade() else { return 0 };
        let message = message.shared();
        let size = message.size();
        if size > rooms.max_bytes() {
            tracing::warn!(room, size, "dropped a message from another instance: larger than a room takes");
            return 0;
        }
        rooms.deliver(room, message, size, id)
    }

    /// Reports `count` messages of `room` that were lost between instances: each of the room's
    /// local subscribers counts them in its [`lagged`](super::Subscription::lagged) (they do
    /// not count toward the hub's `max_lag`: the receiver was not slow).
    pub fn lost(&self, room: &str, count: u64) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.lose(room, count);
        }
    }

    /// The rooms that have local subscribers now (what a backend listens to).
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.upgrade().map(|r| r.names()).unwrap_or_default()
    }

    /// Presence: the instance `origin` (another one) has the member `key` in `room` now, with
    /// `meta`. Ignored for a room this instance does not follow.
    pub fn present(&self, room: &str, origin: u64, key: &str, meta: &str) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.present(room, origin, key, meta);
        }
    }

    /// Presence: the instance `origin` no longer has the member `key` in `room` (it left, or
    /// the instance stopped answering).
    pub fn absent(&self, room: &str, origin: u64, key: &str) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.absent(room, origin, key);
        }
    }

    /// Presence: every member the other instances have in `room`, by origin, as read now. It
    /// replaces what this instance knew of them (the listeners hear what that changed), and
    /// until the first such call for a room, [`Hub::members`](super::Hub::members) asks the
    /// backend instead.
    pub fn members_are(&self, room: &str, members: Vec<(u64, Member)>) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.members_are(room, members);
        }
    }

    /// The rooms whose members this instance follows now (what a backend watches).
    pub fn watched(&self) -> Vec<String> {
        self.rooms.upgrade().map(|r| r.watched()).unwrap_or_default()
    }

    /// Whether the hub is gone (nothing more can be delivered).
    pub fn is_closed(&self) -> bool {
        self.rooms.strong_count() == 0
    }
}
