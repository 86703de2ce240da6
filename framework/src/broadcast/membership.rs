//! [`Presence`] and [`MemberEvents`]: a connection's handles on a room's presence.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::member::MemberEvent;
use super::rooms::Rooms;

/// A member's presence in a room from one connection ([`Hub::join`](super::Hub::join)):
/// dropping it leaves (the member's last presence in the room, on every instance, makes it
/// leave the room).
pub struct Presence {
    pub(crate) rooms: Arc<Rooms>,
    pub(crate) room: Arc<str>,
    pub(crate) key: String,
}

impl Presence {
    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The member's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").field("room", &self.room).field("key", &self.key).finish()
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.rooms.presence.leave(&self.room, &self.key);
    }
}

/// The changes of a room's members, from when it was made
/// ([`Hub::member_events`](super::Hub::member_events)).
pub struct MemberEvents {
    pub(crate) rooms: Arc<Rooms>,
    pub(crate) room: Arc<str>,
    pub(crate) events: Receiver<MemberEvent>,
}

impl MemberEvents {
    /// The next change; [`MemberEvent::Resync`] when this listener fell so far behind that it
    /// missed some. Waits for one as long as it takes.
    pub async fn recv(&mut self) -> MemberEvent {
        match self.events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => MemberEvent::Resync,
            // The sender lives as long as this listener does (it keeps the room followed).
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }

    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }
}

impl std::fmt::Debug for MemberEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberEvents").field("room", &self.room).finish()
    }
}

impl Drop for MemberEvents {
    fn drop(&mut self) {
        self.rooms.presence.unlisten(&self.room);
    }
}
