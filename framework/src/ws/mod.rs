//! WebSocket routes: `#[ws(PATH)]`, the same `ctx.send`/`ctx.recv` as HTTP, one config type.
//!
//! The upgrade request runs through the route's middleware like any HTTP request, so the
//! auth middleware that guards `/api/notes` guards `/api/chat` unchanged (an `Err` answers the
//! handshake with its status and no socket is opened), and the handler finds what the
//! middleware `set` in its Context.
//!
//! ```ignore
//! #[ws("/api/chat")]
//! async fn chat(ctx: Context) -> Result<()> {
//!     let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
//!     while let Some(msg) = ctx.recv().await? {
//!         ctx.send(format!("{}: {}", user.name, msg.as_text()?)).await?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! **Protocol.** Handshakes follow RFC 6455 over HTTP/1.1 (hyper's upgrade); frames are read
//! and written by tungstenite. A request that is not a valid upgrade gets 400 (426 for a
//! version other than 13); WebSocket over HTTP/2 is not supported (400).
//!
//! **Sessions.** Each socket is one task, a hand-written future that polls the handler and,
//! beside it, the socket's I/O: it reads frames into a small inbound queue (at most 16
//! messages; reading pauses while the handler does not keep up, which pushes back on the
//! client through TCP), answers pings, writes everything queued by `send` in one flush, pings
//! an idle peer and closes a dead one. A message in and the reply out are handed over within
//! one poll of the task. `send` only queues (it waits while more than
//! [`WsConfig::max_send_queue`] bytes are queued), so any clone of the Context can send while
//! another receives, without a lock held across I/O.
//!
//! **Close codes.** 1000 when the handler returns `Ok`, 1011 when it returns `Err` or panics
//! (the error's message is the reason), 1009 for a message or frame over the limit, 1007 for
//! invalid UTF-8 in a text message, 1002 for a protocol violation, 1001 when the server shuts
//! down or the peer stays silent past the idle timeout.
//!
//! **Memory.** An idle socket holds one task (its handler's future and its I/O state; no timer:
//! one clock per app ticks every socket, and a socket has a timer of its own only while it
//! closes), its Context
//! (the upgrade request's head, copied out of hyper's read buffer, its headers packed into one
//! allocation, without those only the handshake reads: `Connection`, `Upgrade`,
//! `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`; middleware does
//! not see them either) and nothing of tungstenite: the frame parser's state and its parse
//! buffer ([`WsConfig::read_buffer_size`]) exist only while the socket has something to read
//! or write. A socket rests, dropping them, once a keep-alive tick finds no message since the
//! last one, no frame or fragmented message half received and nothing waiting to be written;
//! the next byte from the peer brings them back. The socket is read through one 16 KiB buffer
//! per worker thread, so a small per-socket buffer costs no extra system calls: what tungstenite
//! has not taken when the socket stops reading (its handler does not keep up) waits in an
//! allocation that exists only until it is taken. BENCHMARKS.md
//! has what an idle socket costs, measured. A socket that has sent something keeps, until it
//! rests, the two buffers its frames are encoded into and written from, up to
//! [`WsConfig::write_buffer_size`] each (larger ones are freed once written).
//!
//! **Writing.** `send` encodes a message into the socket's queue at once, as one frame (the
//! header from tungstenite, then the payload): the queue is bytes, ready to write. The socket's
//! task takes the whole queue in exchange for its own empty buffer and writes it with one
//! system call. A room's message is copied the same way from the room's one copy, so a
//! delivery costs a header and a copy of the payload, not a frame built per receiver.

#[cfg(feature = "ws")]
pub(crate) mod channel;
#[cfg(feature = "ws")]
pub(crate) mod deadlines;
#[cfg(feature = "ws")]
pub(crate) mod handshake;
#[cfg(feature = "ws")]
pub(crate) mod origin;
#[cfg(feature = "ws")]
mod parser;
#[cfg(feature = "ws")]
mod round;
#[cfg(feature = "ws")]
pub(crate) mod session;
#[cfg(feature = "ws")]
mod socket;
#[cfg(feature = "ws")]
mod stream;
#[cfg(feature = "ws")]
mod waiters;
#[cfg(feature = "ws")]
mod wire;

pub use crate::config::WsConfig;
