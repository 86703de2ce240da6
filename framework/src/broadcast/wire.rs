//! The wire format in which a [`Backend`](super::Backend) carries a room's message between
//! instances: public and versioned, so that instances of different releases, and programs
//! that are not fratello, can read and write it.
//!
//! Version 1, every integer big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version: `1` |
//! | 1 | kind: `0` text, `1` binary, `2` SSE event, `3` mark |
//! | 8 | origin: the publishing instance's random tag |
//! | 8 | sequence: the origin's count of its publishes to this room, from 1 |
//! | rest | text or binary: the payload as it is (a text is UTF-8) |
//! | rest | event: 4 bytes, the length `n` of the event as SSE frames it; those `n` bytes (`id:`, `event:`, `retry:`, `data:` lines and the blank line); then the event's data alone (UTF-8) |
//! | rest | mark: nothing |
//!
//! A mark is not a message: it says that the origin's messages to the room up to `sequence`
//! have been sent (or lost on the way), so that a receiver that has not seen them all counts
//! the missing ones even when the origin publishes nothing more. A backend sends one after
//! messages could not go out ([`encode_mark`], [`read`]); [`decode`] reads messages only.
//!
//! The room is not in the message: a backend says it by where it sends it (a Redis channel
//! per room). A reader refuses a version it does not know, an unknown kind, a text that is
//! not UTF-8 and a length that runs past the end ([`WireError`]), so that a newer writer's
//! message is dropped and counted, never misread.

use bytes::{BufMut, Bytes, BytesMut};
use tungstenite::Utf8Bytes;

use crate::message::{EventForms, Out, Outbound};

/// The version this module writes, and the only one it reads.
pub const VERSION: u8 = 1;

const TEXT: u8 = 0;
const BINARY: u8 = 1;
const EVENT: u8 = 2;
const MARK: u8 = 3;
const HEAD: usize = 18;

/// One message as it crosses between instances: who published it, its number among that
/// publisher's messages to the room, and the message.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The publishing instance's tag ([`Backend`](super::Backend)s draw it at random when
    /// they start), so that an instance can tell its own messages.
    pub origin: u64,
    /// The origin's count of its publishes to this room, from 1: a gap means messages lost
    /// on the way.
    pub sequence: u64,
    /// The message, as a receiver of the room gets it.
    pub message: Outbound,
}

/// Why bytes are not a message of this format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the fixed head.
    Truncated,
    /// Written by a version this one cannot read.
    Version(u8),
    /// A kind of message this version does not know.
    Kind(u8),
    /// An event whose framed length runs past the end.
    EventLength,
    /// A text (or an event's data) that is not UTF-8.
    NotUtf8,
    /// A value that cannot be sent at all (a `Json` whose `Serialize` failed): nothing to encode.
    Invalid,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => write!(f, "shorter than the {HEAD}-byte head"),
            WireError::Version(v) => write!(f, "version {v}, this instance reads version {VERSION}"),
            WireError::Kind(k) => write!(f, "unknown message kind {k}"),
            WireError::EventLength => write!(f, "an event's length runs past the end of the message"),
            WireError::NotUtf8 => write!(f, "a text that is not UTF-8"),
            WireError::Invalid => write!(f, "the value could not be encoded (its Serialize failed)"),
        }
    }
}

impl std::error::Error for WireError {}

/// Encodes `message` as published by `origin`, its `sequence`-th message to the room.
pub fn encode(origin: u64, sequence: u64, message: &Outbound) -> Result<Bytes, WireError> {
    let (kind, event, payload): (u8, &[u8], &[u8]) = match &message.0 {
        Out::Text(t) => (TEXT, &[], t.as_bytes()),
        Out::Shared(s) => (TEXT, &[], s.text.as_bytes()),
        Out::Binary(b) => (BINARY, &[], b),
        Out::Event(e) => (EVENT, e.wire(), e.data()),
        Out::Invalid(_) => return Err(WireError::Invalid),
    };
    let extra = if kind == EVENT { 4 + event.len() } else { 0 };
    let mut out = BytesMut::with_capacity(HEAD + extra + payload.len());
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u64(origin);
    out.put_u64(sequence);
    if kind == EVENT {
        let len = u32::try_from(event.len()).map_err(|_| WireError::EventLength)?;
        out.put_u32(len);
        out.put_slice(event);
    }
    out.put_slice(payload);
    Ok(out.freeze())
}

/// What [`read`] found: a message, or a mark (see the format's description).
#[derive(Debug, Clone)]
pub enum Received {
    /// A room's message.
    Message(Envelope),
    /// `origin` has numbered its messages to the room up to `sequence`.
    Mark {
        /// The instance that published them.
        origin: u64,
        /// Its last number given to a message of the room.
        sequence: u64,
    },
}

/// Encodes a mark: `origin` has numbered its messages to the room up to `sequence`.
pub fn encode_mark(origin: u64, sequence: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(HEAD);
    out.put_u8(VERSION);
    out.put_u8(MARK);
    out.put_u64(origin);
    out.put_u64(sequence);
    out.freeze()
}

/// Reads a message or a mark of this format.
pub fn read(bytes: Bytes) -> Result<Received, WireError> {
    if bytes.len() >= HEAD && bytes[0] == VERSION && bytes[1] == MARK {
        let origin = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
        let sequence = u64::from_be_bytes(bytes[10..18].try_into().expect("8 bytes"));
        return Ok(Received::Mark { origin, sequence });
    }
    decode(bytes).map(Received::Message)
}

/// Decodes a message of this format (a mark is refused as [`WireError::Kind`]: use [`read`]
/// where marks may come). The payload is shared with `bytes`, not copied.
pub fn decode(bytes: Bytes) -> Result<Envelope, WireError> {
    if bytes.len() < HEAD {
        return Err(WireError::Truncated);
    }
    if bytes[0] != VERSION {
        return Err(WireError::Version(bytes[0]));
    }
    let kind = bytes[1];
    let origin = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
    let sequence = u64::from_be_bytes(bytes[10..18].try_into().expect("8 bytes"));
    let body = bytes.slice(HEAD..);
    let message = match kind {
        TEXT => Outbound(Out::Text(utf8(body)?)),
        BINARY => Outbound(Out::Binary(body)),
        EVENT => {
            let len = body.get(..4).ok_or(WireError::EventLength)?;
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
            if body.len() - 4 < len {
                return Err(WireError::EventLength);
            }
            let forms = EventForms::from_parts(&body[4..4 + len], &body[4 + len..]);
            Outbound(Out::Event(forms.ok_or(WireError::NotUtf8)?))
        }
        other => return Err(WireError::Kind(other)),
    };
    Ok(Envelope { origin, sequence, message })
}

fn utf8(bytes: Bytes) -> Result<Utf8Bytes, WireError> {
    Utf8Bytes::try_from(bytes).map_err(|_| WireError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use crate::broadcast::wire::*;
    use crate::Event;

    fn round_trip(m: impl Into<Outbound>) -> Envelope {
        let m = m.into();
        let bytes = encode(7, 42, &m).unwrap();
        let got = decode(bytes).unwrap();
        assert_eq!((got.origin, got.sequence), (7, 42));
        assert_eq!(got.message.as_bytes(), m.as_bytes());
        got
    }

    #[test]
    fn every_kind_crosses_intact() {
        assert_eq!(round_trip("héllo").message.as_text(), Some("héllo"));
        assert_eq!(round_trip(vec![0u8, 255, 1]).message.as_text(), None);
        let event = Event::new().id("9").event("tick").retry(std::time::Duration::from_secs(3)).data("a\nb");
        let got = round_trip(event.clone());
        let (Out::Event(a), Out::Event(b)) = (&got.message.0, &Outbound::from(event).0) else {
            panic!("an event stays an event")
        };
        assert_eq!(
            a.clone().into_wire(),
            b.clone().into_wire(),
            "id, event, retry and data lines as SSE frames them"
        );
        assert_eq!(got.message.as_text(), Some("a\nb"));
    }

    #[test]
    fn a_mark_reads_as_a_mark_and_is_no_message() {
        let mark = encode_mark(7, 42);
        assert!(matches!(read(mark.clone()), Ok(Received::Mark { origin: 7, sequence: 42 })));
        assert_eq!(decode(mark).unwrap_err(), WireError::Kind(MARK));
        let message = encode(7, 1, &Outbound::from("x")).unwrap();
        assert!(matches!(read(message), Ok(Received::Message(e)) if e.message.as_text() == Some("x")));
    }

    #[test]
    fn what_is_not_this_format_is_refused() {
        let good = encode(1, 1, &Outbound::from("x")).unwrap();
        assert_eq!(decode(good.slice(..5)).unwrap_err(), WireError::Truncated);
        let mut v = good.to_vec();
        v[0] = 2;
        assert_eq!(decode(v.clone().into()).unwrap_err(), WireError::Version(2));
        v[0] = 1;
        v[1] = 9;
        assert_eq!(decode(v.clone().into()).unwrap_err(), WireError::Kind(9));
        v[1] = TEXT;
        v.push(0xff);
        assert_eq!(decode(v.clone().into()).unwrap_err(), WireError::NotUtf8);
        v[1] = EVENT;
        assert_eq!(decode(v.into()).unwrap_err(), WireError::EventLength);
    }
}
