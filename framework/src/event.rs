//! [`Event`]: a Server-Sent Event, and its wire form.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{EventForms, Out, Outbound};
use crate::Result;

impl From<Event> for Outbound {
    fn from(e: Event) -> Self {
        let data = e.data.as_deref().unwrap_or("");
        match EventForms::make(data, e.wire_capacity(), |out| e.write(out)) {
            Some(forms) => Outbound(Out::Event(forms)),
            None => Outbound(Out::Invalid("an event over 4 GiB".into())),
        }
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

    /// The wire form (see [`write`](Self::write)).
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.wire_capacity());
        self.write(&mut out);
        out.freeze()
    }

    /// About as many bytes as the wire form takes.
    fn wire_capacity(&self) -> usize {
        16 + self.data.as_ref().map_or(0, String::len)
    }

    /// Appends the wire form to `out`. Line breaks inside `event` and `id` would break the
    /// framing, so they are replaced by spaces; `data` and comments are split into one line
    /// each.
    fn write(&self, out: &mut BytesMut) {
        fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
            if s.contains(['\r', '\n']) {
                s.replace(['\r', '\n'], " ").into()
            } else {
                s.into()
            }
        }
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
}
