//! The wire form of a stream's events: what `send` and a room's messages become on the
//! stream (`id:`, `data:` lines), made once per message for every receiver of a room.

use bytes::{BufMut, Bytes, BytesMut};

use crate::broadcast::Subscription;
use crate::error::{Error, Result};
use crate::message::{Out, Outbound};

/// The wire form of one `send`.
pub(crate) fn encode(item: Outbound) -> Result<Bytes> {
    match item.0 {
        Out::Event(e) => Ok(e.into_wire()),
        Out::Text(t) => Ok(data_event(t.as_str())),
        // (Made with the room's `id:` when a room forwarded it; without, when sent by hand.)
        Out::Shared(s) => Ok(s.sse.get().cloned().unwrap_or_else(|| data_event(s.text.as_str()))),
        Out::Binary(_) => {
            Err(Error::internal("an SSE stream carries text: send a string, Json(..) or an Event, not bytes"))
        }
        Out::Invalid(why) => Err(Error::internal(why.to_string())),
    }
}

/// The wire form of a message `sub` has just taken from its room: a text carries the place
/// after it as its `id:` (a [`Cursor`](crate::broadcast::Cursor): a browser sends it back as
/// `Last-Event-ID`), made once for every receiver of the room on this instance, since they
/// all see the message at the same place. An [`Event`](crate::Event) goes as it was made.
pub(crate) fn encode_from_room(item: Outbound, sub: &Subscription) -> Result<Bytes> {
    match &item.0 {
        Out::Shared(s) => {
            Ok(s.sse.get_or_init(|| id_data_event(&sub.cursor().to_string(), s.text.as_str())).clone())
        }
        _ => encode(item),
    }
}

/// An `id:` line, then the `data:` lines of `text`.
fn id_data_event(id: &str, text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(id.len() + 5 + text.len() + 8);
    out.put_slice(b"id: ");
    out.put_slice(id.as_bytes());
    out.put_u8(b'\n');
    put_data_lines(&mut out, text);
    out.freeze()
}

/// `data:` lines for a text payload (CR, LF and CRLF all split lines).
fn data_event(text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 8);
    put_data_lines(&mut out, text);
    out.freeze()
}

/// Appends `text` as `data:` lines and the blank line that ends the event.
fn put_data_lines(out: &mut BytesMut, text: &str) {
    for line in text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use crate::sse::encode::*;

    #[test]
    fn text_becomes_data_lines() {
        assert_eq!(data_event("a\nb\r\nc"), "data: a\ndata: b\ndata: c\n\n");
        assert_eq!(data_event(""), "data: \n\n");
    }
}
