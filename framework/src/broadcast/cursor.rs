//! [`Cursor`]: a receiver's place in a room, to resume from after a reconnection.

use std::fmt;
use std::str::FromStr;

/// A place in a room: the next message a receiver wants. Its text form (`Display`,
/// `FromStr`) is what a client keeps and sends back: an SSE stream forwarded from a room
/// carries it as each text message's `id:`, so that a browser's `EventSource` sends it again
/// as `Last-Event-ID` when it reconnects.
///
/// On a hub of its own, a cursor belongs to one life of a room on one instance: a room is
/// made when its first receiver joins and freed when its last one leaves, and a cursor from
/// an earlier life (or from another instance) resumes nothing ([`Resumed::Reset`](super::Resumed::Reset)). With a
/// [`Backend`](super::Backend) that keeps a log of each room (`fratello-redis` with
/// `RedisConfig::resumable`), a cursor is a place in that log ([`LogId`]), good on every
/// instance for as long as the log keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(pub(crate) Place);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    /// The next message wanted in life `life` of the room on this instance.
    Local { life: u64, next: u64 },
    /// The last message received, by its id in the backend's log.
    Log(LogId),
}

/// A message's place in a backend's log of a room: ordered as the log orders them. (For
/// Redis: a stream entry's id, `major-minor`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogId {
    /// The first part (Redis: the milliseconds).
    pub major: u64,
    /// The second part (Redis: the sequence within the millisecond).
    pub minor: u64,
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.major, self.minor)
    }
}

impl FromStr for LogId {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let (major, minor) = s.split_once('-').ok_or(BadCursor)?;
        Ok(LogId { major: decimal(major)?, minor: decimal(minor)? })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Place::Local { life, next } => write!(f, "{life:x}-{next}"),
            Place::Log(id) => write!(f, "r{id}"),
        }
    }
}

/// Why a text is not a [`Cursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCursor;

impl fmt::Display for BadCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a room cursor (as an SSE id from a room)")
    }
}

impl std::error::Error for BadCursor {}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let s = s.trim();
        if let Some(log) = s.strip_prefix('r') {
            return Ok(Cursor(Place::Log(log.parse()?)));
        }
        let (life, next) = s.split_once('-').ok_or(BadCursor)?;
        if life.is_empty() || !life.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BadCursor);
        }
        let life = u64::from_str_radix(life, 16).map_err(|_| BadCursor)?;
        Ok(Cursor(Place::Local { life, next: decimal(next)? }))
    }
}

/// Digits only (no sign, no space), within a `u64`.
fn decimal(t: &str) -> Result<u64, BadCursor> {
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(BadCursor);
    }
    t.parse().map_err(|_| BadCursor)
}

#[cfg(test)]
mod tests {
    use crate::broadcast::cursor::*;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_nothing_else() {
        let c = Cursor(Place::Local { life: 0xdead_beef_0123, next: 42 });
        assert_eq!(c.to_string(), "deadbeef0123-42");
        let log = Cursor(Place::Log(LogId { major: 1_733_380_000_000, minor: 7 }));
        assert_eq!(log.to_string(), "r1733380000000-7");
        assert_eq!("r1733380000000-7".parse::<Cursor>(), Ok(log));
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
