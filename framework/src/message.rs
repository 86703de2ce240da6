//! What flows through `ctx.recv()` ([`Message`]) and `ctx.send(..)` ([`Outbound`]); an SSE
//! [`Event`](crate::Event)(crate::Event) becomes an `Outbound` too.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::Utf8Bytes;

use crate::{Error, Result};

/// JSON in and out: a handler return value, a `ctx.send(..)` payload, or a `ctx.json()` result.
///
/// ```
/// use fratello::Json;
/// #[derive(serde::Serialize)]
/// struct Note { id: u32 }
/// let _reply = Json(Note { id: 7 });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// One inbound message: a WebSocket text or binary message, or a chunk of an HTTP request body
/// (always [`Message::is_text`] `== false`). The payload is shared, so clones are cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct Message(Payload);

/// A text payload is known to be UTF-8 (checked once, where it came in), so reading it as
/// text or sending it on as text checks nothing again.
#[derive(Clone, PartialEq, Eq)]
enum Payload {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Self {
        Message(Payload::Text(s.into().into()))
    }

    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn from_ws_text(t: Utf8Bytes) -> Self {
        Message(Payload::Text(t))
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message(Payload::Binary(b.into()))
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        matches!(self.0, Payload::Text(_))
    }

    /// The payload as text: a 400 error (close 1007 on a socket) when it is not UTF-8.
    pub fn as_text(&self) -> Result<&str> {
        match &self.0 {
            Payload::Text(t) => Ok(t.as_str()),
            Payload::Binary(b) => {
                std::str::from_utf8(b).map_err(|_| Error::bad_request("the message is not valid UTF-8 text"))
            }
        }
    }

    /// The payload.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Payload::Text(t) => t.as_bytes(),
            Payload::Binary(b) => b,
        }
    }

    /// The payload, without copying.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Payload::Text(t) => t.into(),
            Payload::Binary(b) => b,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Parses the payload as JSON (400 on malformed input).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(self.as_bytes())?)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Payload::Text(t) => f.debug_tuple("Text").field(&t.as_str()).finish(),
            Payload::Binary(b) => f.debug_tuple("Binary").field(b).finish(),
        }
    }
}

/// Anything `ctx.send(..)` accepts: text, bytes, [`Json`], [`Event`](crate::Event) or a [`Message`].
///
/// The payload is encoded once, when the `Outbound` is made, and is shared (not copied) by
/// clones, so one value can be sent to many clients.
#[derive(Clone, Debug)]
pub struct Outbound(pub(crate) Out);

#[derive(Clone, Debug)]
pub(crate) enum Out {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// The wire form for SSE and HTTP, and the data alone for a WebSocket text message.
    Event(EventForms),
    /// A text a hub publishes (see [`SharedText`]): text everywhere, as `Text` is.
    Shared(std::sync::Arc<SharedText>),
    /// A value that could not be encoded (a `Json` whose `Serialize` failed); sending it fails.
    Invalid(std::sync::Arc<str>),
}

/// An event's two forms in one buffer: the data's length (4 bytes, big-endian), the data
/// alone, UTF-8 (what a WebSocket text message carries), then the wire form (what SSE and
/// HTTP carry). Lengths and all in the one buffer, an `Outbound` is the size of one buffer
/// handle: every socket handler's future holds one while it sends. The wire form last, so
/// that a stream takes it out of a shared buffer by moving its start alone.
#[derive(Clone, Debug)]
pub(crate) struct EventForms(Bytes);

impl EventForms {
    /// The forms of an event whose data is `data` and whose wire form `write_wire` appends.
    pub(crate) fn make(
        data: &str,
        wire_capacity: usize,
        write_wire: impl FnOnce(&mut BytesMut),
    ) -> Option<Self> {
        let mut out = BytesMut::with_capacity(4 + data.len() + wire_capacity);
        out.put_u32(u32::try_from(data.len()).ok()?);
        out.put_slice(data.as_bytes());
        write_wire(&mut out);
        Some(EventForms(out.freeze()))
    }

    /// The forms of an event from its `wire` form and its `data` as bytes (a room's message
    /// from another instance): `None` unless the data is UTF-8.
    pub(crate) fn from_parts(wire: &[u8], data: &[u8]) -> Option<Self> {
        let data = std::str::from_utf8(data).ok()?;
        Self::make(data, wire.len(), |out| out.put_slice(wire))
    }

    /// Where the wire form starts (after the length and the data).
    fn split(&self) -> usize {
        let len: [u8; 4] = self.0[..4].try_into().expect("made with its length");
        4 + u32::from_be_bytes(len) as usize
    }

    /// The wire form, without copying it.
    pub(crate) fn into_wire(self) -> Bytes {
        let at = self.split();
        let mut bytes = self.0;
        bytes.advance(at);
        bytes
    }

    /// The wire form.
    pub(crate) fn wire(&self) -> &[u8] {
        &self.0[self.split()..]
    }

    /// The data, as a WebSocket text message carries it.
    pub(crate) fn data(&self) -> &[u8] {
        &self.0[4..self.split()]
    }

    /// The data as text (UTF-8 when made).
    pub(crate) fn data_text(&self) -> &str {
        std::str::from_utf8(self.data()).unwrap_or_default()
    }

    /// Both forms' bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.len() - 4
    }
}

/// A text published to a room: every receiver shares it, and the SSE receivers also share its
/// event form (`data: ...`), made once by the first of them that needs it.
#[derive(Debug)]
pub(crate) struct SharedText {
    pub(crate) text: Utf8Bytes,
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) sse: std::sync::OnceLock<Bytes>,
}

impl Outbound {
    /// The payload: the text, the bytes, a `Json` value's JSON, or an `Event`'s data (what a
    /// WebSocket client receives).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Out::Text(t) => t.as_bytes(),
            Out::Shared(s) => s.text.as_bytes(),
            Out::Binary(b) => b,
            Out::Event(e) => e.data(),
            Out::Invalid(_) => &[],
        }
    }

    /// The payload as text, unless it is binary.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            Out::Text(t) => Some(t.as_str()),
            Out::Shared(s) => Some(s.text.as_str()),
            Out::Event(e) => Some(e.data_text()),
            Out::Binary(_) | Out::Invalid(_) => None,
        }
    }

    /// The bytes of the payload as encoded, as a room counts them.
    pub(crate) fn size(&self) -> usize {
        match &self.0 {
            Out::Text(t) => t.len(),
            Out::Shared(s) => s.text.len(),
            Out::Binary(b) => b.len(),
            Out::Event(e) => e.len(),
            Out::Invalid(_) => 0,
        }
    }

    /// Why this value cannot be sent, if it cannot (a `Json` whose `Serialize` failed).
    pub(crate) fn invalid(&self) -> Option<&str> {
        match &self.0 {
            Out::Invalid(why) => Some(why),
            _ => None,
        }
    }

    /// The form a room keeps: a text becomes [`SharedText`], so that its SSE event is made
    /// once for all receivers; anything else is already shared as it is.
    /// A text already shared (a message taken from one room and published to another) gets
    /// a form of its own: its SSE form carries its place in the room it came from.
    pub(crate) fn shared(self) -> Outbound {
        let text = match self.0 {
            Out::Text(text) => text,
            Out::Shared(s) => s.text.clone(),
            other => return Outbound(other),
        };
        Outbound(Out::Shared(std::sync::Arc::new(SharedText { text, sse: std::sync::OnceLock::new() })))
    }

    /// The encoded bytes as an HTTP body chunk or an SSE stream would carry them.
    pub(crate) fn into_chunk(self) -> Result<Bytes> {
        match self.0 {
            Out::Text(t) => Ok(t.into()),
            Out::Shared(s) => Ok(s.text.clone().into()),
            Out::Binary(b) => Ok(b),
            Out::Event(e) => Ok(e.into_wire()),
            Out::Invalid(why) => Err(Error::internal(why.to_string())),
        }
    }
}

impl From<String> for Outbound {
    fn from(s: String) -> Self {
        Outbound(Out::Text(s.into()))
    }
}
impl From<&str> for Outbound {
    fn from(s: &str) -> Self {
        Outbound(Out::Text(s.into()))
    }
}
impl From<&String> for Outbound {
    fn from(s: &String) -> Self {
        Outbound::from(s.as_str())
    }
}
impl From<Bytes> for Outbound {
    fn from(b: Bytes) -> Self {
        Outbound(Out::Binary(b))
    }
}
impl From<Vec<u8>> for Outbound {
    fn from(b: Vec<u8>) -> Self {
        Outbound(Out::Binary(Bytes::from(b)))
    }
}
impl From<&[u8]> for Outbound {
    fn from(b: &[u8]) -> Self {
        Outbound(Out::Binary(Bytes::copy_from_slice(b)))
    }
}
impl From<Message> for Outbound {
    fn from(m: Message) -> Self {
        match m.0 {
            Payload::Text(t) => Outbound(Out::Text(t)),
            Payload::Binary(b) => Outbound(Out::Binary(b)),
        }
    }
}
impl<T: serde::Serialize> From<Json<T>> for Outbound {
    fn from(Json(v): Json<T>) -> Self {
        match serde_json::to_vec(&v) {
            // serde_json writes UTF-8 only.
            Ok(v) => Outbound(Out::Text(String::from_utf8(v).expect("serde_json emits UTF-8").into())),
            Err(e) => {
                Outbound(Out::Invalid(format!("the value could not be serialized as JSON: {e}").into()))
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text() {
        let m = Message::binary(vec![0xff]);
        assert!(m.as_text().is_err());
        assert_eq!(Message::text("é").as_text().unwrap(), "é");
    }
}
