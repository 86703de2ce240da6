//! [`Io`]: the one seam between a Context and its protocol, the channel of an HTTP request, a
//! socket or a stream. Everything of the Context that goes through it (`send`, `recv`,
//! `closed`, forwarding a room) is in `exchange`; a session's end at shutdown and its clock in
//! the Context's `OpenSession`.

use crate::http::channel::HttpIo;
#[cfg(feature = "sse")]
use crate::sse::channel::SseIo;
#[cfg(feature = "ws")]
use crate::ws::channel::WsIo;

/// The protocol-specific half of a Context.
pub(crate) enum Io {
    Http(HttpIo),
    #[cfg(feature = "ws")]
    Ws(WsIo),
    #[cfg(feature = "sse")]
    Sse(SseIo),
}
