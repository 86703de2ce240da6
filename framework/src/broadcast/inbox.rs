//! [`Inbox`]: where a [`Backend`](super::Backend) delivers what other instances publish.

use std::sync::{Arc, Weak};

use super::rooms::Rooms;
use crate::message::Outbound;

/// A backend's way into its hub: delivers messages from other instances to this instance's
/// subscribers, and reports messages lost on the way. It does not keep the hub alive: once
/// the hub is gone, every call does nothing and [`is_closed`](Inbox::is_closed) says so (a
/// backend's tasks end then).
#[derive(Clone)]
pub struct Inbox {
    pub(crate) rooms: Weak<Rooms>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").field("closed", &self.is_closed()).finish()
    }
}

impl Inbox {
    pub(crate) fn new(rooms: &Arc<Rooms>) -> Self {
        Inbox { rooms: Arc::downgrade(rooms) }
    }

    /// Delivers `message` to `room`'s local subscribers; returns how many there are. A message
    /// larger than the hub's [`max_bytes`](super::HubConfig::max_bytes) is dropped (and logged),
    /// as is one for a room without local subscribers.
    pub fn deliver(&self, room: &str, message: Outbound) -> usize {
        let Some(rooms) = self.rooms.upgrade() else { return 0 };
        let message = message.shared();
        let size = message.size();
        if size > rooms.config.max_bytes {
            tracing::warn!(room, size, "dropped a message from another instance: larger than a room takes");
            return 0;
        }
        rooms.deliver(room, message, size)
    }

    /// Reports `count` messages of `room` that were lost between instances: each of the room's
    /// local subscribers counts them in its [`lagged`](super::Subscription::lagged) (they do
    /// not count toward the hub's `max_lag`: the receiver was not slow).
    pub fn lost(&self, room: &str, count: u64) {
        let Some(rooms) = self.rooms.upgrade() else { return };
        let Some(room) = rooms.read().get(room).cloned() else { return };
        room.lose(count);
    }

    /// The rooms that have local subscribers now (what a backend listens to).
    pub fn rooms(&self) -> Vec<String> {
        let Some(rooms) = self.rooms.upgrade() else { return Vec::new() };
        let names: Vec<String> = rooms.read().keys().map(|k| k.to_string()).collect();
        names
    }

    /// Whether the hub is gone (nothing more can be delivered).
    pub fn is_closed(&self) -> bool {
        self.rooms.strong_count() == 0
    }
}
