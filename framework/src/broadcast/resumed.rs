//! [`Resumed`]: what [`Hub::subscribe_from`](super::Hub::subscribe_from) found.

use super::subscription::Subscription;

/// What [`Hub::subscribe_from`](super::Hub::subscribe_from) found: in both cases a
/// subscription to the room.
#[derive(Debug)]
pub enum Resumed {
    /// Everything after the cursor is still in the room: the subscription delivers the missed
    /// messages first, then the new ones. The client misses nothing.
    Complete(Subscription),
    /// What the client missed is not there any more (its cursor is older than the room's
    /// ring, from an earlier life of the room or another instance, or it had none): the
    /// subscription delivers what is published from now on. Send the client the current
    /// state first (a snapshot), then forward.
    Reset(Subscription),
}

impl Resumed {
    /// Whether the client must reload its state ([`Resumed::Reset`]).
    pub fn is_reset(&self) -> bool {
        matches!(self, Resumed::Reset(_))
    }

    /// The subscription, either way.
    pub fn into_subscription(self) -> Subscription {
        match self {
            Resumed::Complete(s) | Resumed::Reset(s) => s,
        }
    }
}
