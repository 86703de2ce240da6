//! [`Cursor`]: a receiver's place in a room, to resume from after a reconnection, and
//! [`Resumed`]: what [`Hub::subscribe_from`](super::Hub::subscribe_from) found.

use std::fmt;
use std::str::FromStr;

use super::subscription::Subscription;

/// A place in a room: the next message a receiver wants. Its text form (`Display`,
/// `FromStr`) is what a client keeps and sends back: an SSE stream forwarded from a room
/// carries it as each text message's `id:`, so that a browser's `EventSource` sends it again
/// as `Last-Event-ID` when it reconnects.
///
/// A cursor belongs to one life of a room on one instance: a room is made when its first
/// receiver joins and freed when its last one leaves, and a cursor from an earlier life (or
/// from another instance) resumes nothing ([`Resumed::Reset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub(crate) life: u64,
    pub(crate) next: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.life, self.next)
    }
}

/// Why a text is not a [`Cursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCursor;

impl fmt::Display for BadCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a room cursor (HEX-DECIMAL, as an SSE id from a room)")
    }
}

impl std::error::Error for BadCursor {}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let (life, next) = s.trim().split_once('-').ok_or(BadCursor)?;
        let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
        if !digits(life, 16) || !digits(next, 10) {
            return Err(BadCursor);
        }
        Ok(Cursor {
            life: u64::from_str_radix(life, 16).map_err(|_| BadCursor)?,
            next: next.parse().map_err(|_| BadCursor)?,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_nothing_else() {
        let c = Cursor { life: 0xdead_beef_0123, next: 42 };
        assert_eq!(c.to_string(), "deadbeef0123-42");
        assert_eq!("deadbeef0123-42".parse::<Cursor>(), Ok(c));
        assert_eq!(" deadbeef0123-42\n".parse::<Cursor>(), Ok(c), "as a header may carry it");
        for bad in [
            "",
            "-",
            "12",
            "x-1",
            "1-x",
            "1-+2",
            "+1-2",
            "1--2",
            "1-2-3",
            "ffffffffffffffffff-1",
            "1-99999999999999999999",
        ] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad:?}");
        }
    }
}
