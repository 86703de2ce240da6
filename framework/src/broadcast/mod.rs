//! Broadcasting: a [`Hub`] of named rooms that any handler can publish to and subscribe to,
//! whatever protocol its client came in on (WebSocket, SSE, HTTP long-poll, or plain code).
//!
//! ```ignore
//! #[ws("/rooms/{room}")]
//! async fn room(ctx: Context) -> Result<()> {
//!     let room = ctx.param("room").unwrap_or("lobby").to_owned();
//!     let sub = ctx.hub().subscribe(&room);
//!     tokio::spawn(sub.forward(ctx.clone())); // every message of the room to this client
//!     while let Some(msg) = ctx.recv().await? {
//!         ctx.hub().publish(&room, msg)?;       // this client's messages to the room
//!     }
//!     Ok(())
//! }
//! ```
//!
//! **Encode once.** A published value is encoded when it becomes an
//! [`Outbound`](crate::Outbound) (JSON serialized, SSE event framed) and the room keeps one copy; every
//! receiver reads that same copy. A WebSocket receiver copies it behind a frame header
//! straight into its socket's write queue, with whatever else has been published since it
//! last looked, and writes them all with one system call. An SSE stream's body hands that
//! same copy to hyper as the next chunk when hyper asks for one.
//!
//! **Bounded in bytes, shared by all.** Each room keeps its recent messages in one ring, at
//! most [`HubConfig::capacity`] of them (256 by default) and at most
//! [`HubConfig::max_bytes`] bytes (256 KiB by default); publishing a single message larger
//! than `max_bytes` is refused with a 413 error. Receivers read from the ring at their own
//! pace: nothing is copied per receiver until it goes into that client's own queue (a
//! socket's [`max_send_queue`](crate::ws::WsConfig::max_send_queue)), which is bounded in
//! bytes too; an SSE stream takes a room's messages only as fast as its connection writes
//! them (hyper's write buffer bounds what waits there). So a client that never reads costs
//! its own queue and nothing more, whatever the room publishes and however many such clients
//! there are.
//!
//! **Slow receivers.** Publishing never waits for a receiver. A receiver that falls so far
//! behind that the ring has dropped messages it had not read yet loses them: every loss is
//! counted ([`Subscription::lagged`]), and a receiver that has lost more than
//! [`HubConfig::max_lag`] messages (1024 by default) is dropped: `recv`/`forward` return an
//! error (429, "fell too far behind"), and the handler's usual `?` closes its socket (1011)
//! or ends its stream. One slow client therefore neither grows the server's memory nor slows
//! the others down.
//!
//! **Rooms** are created by their first subscriber and freed when the last one leaves;
//! publishing to a room without subscribers drops the message and returns `Ok(0)`.
//!
//! **Resuming.** Every receiver knows its place in the room ([`Subscription::cursor`]); an SSE
//! stream forwarded from a room sends it as each text message's `id:`, which a browser's
//! `EventSource` sends back as `Last-Event-ID` when it reconnects.
//! [`Hub::subscribe_from`] takes it back: the messages missed since, while they are kept, or
//! [`Resumed::Reset`] to say the client must reload its state. On a hub of its own a cursor
//! belongs to one life of a room on one instance (once the last receiver has left, the room
//! and what it held are gone); with a backend that keeps a log of each room
//! ([`Backend::history`]), it is a place in that log, good on every instance.
//!
//! **Presence.** [`Hub::join`] puts a member (a key, such as a user id, and what the app says
//! of it) in a room for as long as the [`Presence`] it returns lives; [`Hub::members`] lists
//! the room's members and [`Hub::member_events`] tells who came and went. A member with
//! several connections, on one instance or several, is in the room once: it joins with its
//! first connection and leaves with its last.
//!
//! **Several instances.** A [`Backend`] carries messages between instances (the
//! `fratello-redis` crate: Redis pub/sub, for instances behind a load balancer) in a public,
//! versioned format ([`wire`]); handlers do not change. The default is in-process only.

mod backend;
mod config;
mod cursor;
mod hub;
mod inbox;
mod member;
mod membership;
mod presence;
mod resumed;
mod room;
mod rooms;
mod subscription;
pub mod wire;

pub use self::backend::{Backend, BackendError, History, HistoryFuture, MembersFuture};
pub use self::config::HubConfig;
pub use self::cursor::{BadCursor, Cursor, LogId};
pub use self::hub::Hub;
pub use self::inbox::Inbox;
pub use self::member::{Member, MemberEvent};
pub use self::membership::{MemberEvents, Presence};
pub use self::resumed::Resumed;
pub use self::subscription::Subscription;
