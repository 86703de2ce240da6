//! What flows through `ctx.recv()` ([`Message`]) and `ctx.send(..)` ([`Outbound`]).

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
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

/// Anything `ctx.send(..)` accepts: text, bytes, [`Json`], [`Event`] or a [`Message`].
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
    Event {
        wire: Bytes,
        data: Utf8Bytes,
    },
    /// A text a hub publishes (see [`SharedText`]): text everywhere, as `Text` is.
    Shared(std::sync::Arc<SharedText>),
    /// A value that could not be encoded (a `Json` whose `Serialize` failed); sending it fails.
    Invalid(std::sync::Arc<str>),
}

/// A text published to a room: every receiver shares it, and the SSE receivers also share its
/// event form (`data: ...`), made once by the first of them that needs it.
#[derive(Debug)]
pub(crate) struct SharedText {
    pub(crate) text: Utf8Bytes,
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
            Out::Event { data, .. } => data.as_bytes(),
            Out::Invalid(_) => &[],
        }
    }

    /// The payload as text, unless it is binary.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            Out::Text(t) => Some(t.as_str()),
            Out::Shared(s) => Some(s.text.as_str()),
            Out::Event { data, .. } => Some(data.as_str()),
            Out::Binary(_) | Out::Invalid(_) => None,
        }
    }

    /// The bytes of the payload as encoded, as a room counts them.
    pub(crate) fn size(&self) -> usize {
        match &self.0 {
            Out::Text(t) => t.len(),
            Out::Shared(s) => s.text.len(),
            Out::Binary(b) => b.len(),
            Out::Event { wire, data } => wire.len() + data.len(),
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
    pub(crate) fn shared(self) -> Outbound {
        match self.0 {
            Out::Text(text) => Outbound(Out::Shared(std::sync::Arc::new(SharedText {
                text,
                sse: std::sync::OnceLock::new(),
            }))),
            other => Outbound(other),
        }
    }

    /// The encoded bytes as an HTTP body chunk or an SSE stream would carry them.
    pub(crate) fn into_chunk(self) -> Result<Bytes> {
        match self.0 {
            Out::Text(t) => Ok(t.into()),
            Out::Shared(s) => Ok(s.text.clone().into()),
            Out::Binary(b) | Out::Event { wire: b, .. } => Ok(b),
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
impl From<Event> for Outbound {
    fn from(e: Event) -> Self {
        let data = e.data.as_deref().unwrap_or("").into();
        Outbound(Out::Event { wire: e.encode(), data })
    }
}

/// A Server-Sent Event: `data`, and optionally `event`, `id`, `retry` and a comment.
///
/// ```
/// use fratello::Event;
/// let e = Event::new().event("tick").id(42).data("line one\nline two");
/// assert_eq!(e.to_string(), "event: tick\nid: 42\ndata: line one\ndata: line two\n\n");
/// assert_eq!(Event::new().data(101.5).to_string(), "data: 101.5\n\n");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Event {
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    retry: Option<Duration>,
    comment: Option<String>,
}

impl Event {
    /// An empty event; set at least `data` or a comment.
    pub fn new() -> Self {
        Self::default()
    }

    /// A comment line (`: text`), ignored by browsers; useful as a keep-alive.
    pub fn comment(mut self, text: impl fmt::Display) -> Self {
        self.comment = Some(text.to_string());
        self
    }

    /// The event type (`event:`); browsers dispatch it to `addEventListener(type, ..)`.
    pub fn event(mut self, name: impl fmt::Display) -> Self {
        self.event = Some(name.to_string());
        self
    }

    /// The event id (`id:`), which the browser sends back as `Last-Event-ID` on reconnect.
    pub fn id(mut self, id: impl fmt::Display) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// The payload (`data:`): anything printable, so `.data(price)` works for a number; a
    /// multi-line text becomes several `data:` lines.
    pub fn data(mut self, data: impl fmt::Display) -> Self {
        self.data = Some(data.to_string());
        self
    }

    /// The payload as JSON.
    pub fn json_data<T: serde::Serialize>(self, value: &T) -> Result<Self> {
        Ok(self.data(serde_json::to_string(value)?))
    }

    /// The reconnection delay the browser should use (`retry:` in milliseconds).
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }

    /// The wire form. Line breaks inside `event` and `id` would break the framing, so they
    /// are replaced by spaces; `data` and comments are split into one line each.
    pub(crate) fn encode(&self) -> Bytes {
        fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
            if s.contains(['\r', '\n']) {
                s.replace(['\r', '\n'], " ").into()
            } else {
                s.into()
            }
        }
        let mut out = BytesMut::with_capacity(16 + self.data.as_ref().map_or(0, String::len));
        let mut field = |name: &str, value: &str| {
            out.put_slice(name.as_bytes());
            if !value.is_empty() {
                out.put_u8(b' ');
            }
            out.put_slice(value.as_bytes());
            out.put_u8(b'\n');
        };
        // A comment or data line ends at CR, LF or CRLF, as an SSE parser splits them: each
        // piece gets its own prefix, so no text can start a field of its own.
        if let Some(c) = &self.comment {
            for line in lines(c) {
                field(":", line);
            }
        }
        if let Some(e) = &self.event {
            field("event:", &one_line(e));
        }
        if let Some(id) = &self.id {
            field("id:", &one_line(id));
        }
        if let Some(r) = self.retry {
            field("retry:", &r.as_millis().to_string());
        }
        if let Some(d) = &self.data {
            for line in lines(d) {
                field("data:", line);
            }
        }
        out.put_u8(b'\n');
        out.freeze()
    }
}

/// The lines of `text` as an SSE parser reads them: split at CRLF, CR and LF alike.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split("\r\n").flat_map(|l| l.split(['\r', '\n']))
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.encode()))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event").field(&self.to_string()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_cannot_start_a_field() {
        let e = Event::new().comment("hi\rdata: injected\r\nevent: x\nid: 9").data("ok");
        assert_eq!(e.to_string(), ": hi\n: data: injected\n: event: x\n: id: 9\ndata: ok\n\n");
    }

    #[test]
    fn event_framing() {
        let e = Event::new().comment("hi").event("a\nb").retry(Duration::from_secs(3)).data("x\r\ny\n");
        assert_eq!(e.to_string(), ": hi\nevent: a b\nretry: 3000\ndata: x\ndata: y\ndata:\n\n");
    }

    #[test]
    fn message_text() {
        let m = Message::binary(vec![0xff]);
        assert!(m.as_text().is_err());
        assert_eq!(Message::text("é").as_text().unwrap(), "é");
    }
}
