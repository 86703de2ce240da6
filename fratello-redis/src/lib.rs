//! The hub of [fratello](https://docs.rs/fratello) on Redis: several instances of an app,
//! behind a load balancer, share one audience. A message published on one instance reaches
//! the WebSocket, SSE and in-process receivers of every instance; handlers do not change.
//!
//! ```no_run
//! use fratello::prelude::*;
//! use fratello::broadcast::{Hub, HubConfig};
//! use fratello_redis::{RedisBackend, RedisConfig};
//!
//! # async fn run() -> Result<(), fratello::StartupError> {
//! let redis = RedisBackend::connect_with(RedisConfig::new("redis://127.0.0.1:6379/").prefix("chat:")).await?;
//! App::new().with_hub(Hub::with_backend(HubConfig::default(), redis)).serve("127.0.0.1:8080").await
//! # }
//! ```
//!
//! **How.** Each room is a Redis pub/sub channel (the [prefix](RedisConfig::prefix) and the
//! room's name); an instance subscribes to it while the room has local subscribers and
//! unsubscribes when the last one leaves. Messages cross in the hub's public, versioned
//! [wire format](fratello::broadcast::wire): text, binary and SSE events (`id`, `event`,
//! `retry`) arrive as they were published. Each carries its instance's random origin tag and
//! its number among that instance's messages to the room.
//!
//! **Once, in order.** By default ([`Delivery::Local`]) a publish reaches local receivers at
//! once and the other instances through Redis; an instance skips its own messages when Redis
//! echoes them, so nobody receives one twice, and every publisher's messages arrive in the
//! order it published them. [`Delivery::Global`] delivers local publishes only on Redis's
//! echo, so that every instance sees one order per room.
//!
//! **Faults.** Handlers never wait for Redis: a publish goes into a bounded buffer
//! ([`RedisConfig::publish_buffer`]) that a task empties in pipelines; past the buffer it is
//! dropped and counted ([`RedisStats::dropped`], [`Hub::backend_errors`](fratello::Hub::backend_errors)).
//! When Redis goes away, local delivery goes on; the backend reconnects with backoff and
//! subscribes again to every open room. Messages lost meanwhile show as gaps in their
//! publisher's numbering: each receiver of the room counts them in its
//! [`lagged`](fratello::Subscription::lagged) (without being dropped for it: it was not slow),
//! and [`RedisStats::lost`] counts them. A gap shows at the publisher's next message to the
//! room, or sooner: a publisher whose messages did not go out sends a mark (the wire format's
//! kind 3, its last number in the room) as soon as Redis takes publishes again, so that what
//! a publisher lost just before it fell quiet is counted too. A Redis that is down at startup is an error
//! naming the URL, unless [`RedisConfig::start_without_redis`] says to start alone.
//!
//! **Resuming on any instance.** Pub/sub keeps nothing. With
//! [`RedisConfig::resumable`], each room also has a log in Redis (a stream, trimmed and
//! expiring), written in the same step as the publish; every message carries its place in
//! the log as its receivers' [`Cursor`](fratello::broadcast::Cursor) (an SSE stream's `id:`),
//! and [`Hub::subscribe_from`](fratello::Hub::subscribe_from) on any instance replays what a
//! client missed from the log, or tells it to reload when the log no longer holds it all.

//!
//! **Presence.** [`Hub::join`](fratello::Hub::join) on any instance puts a member in the room
//! for all of them: each instance keeps its members in a hash per room (under
//! [`RedisConfig::presence_prefix`]), tagged with its origin, and publishes each change; a
//! member with connections on several instances is there once, and leaves with its last
//! connection. Each instance refreshes a key of its own every third of
//! [`RedisConfig::presence_timeout`]; the members of an instance whose key expired (it crashed
//! or lost Redis) are removed by the instances that follow the room, within 4/3 of the
//! timeout, and their leaving is heard everywhere. After Redis restarts, each instance puts
//! its members back at its next heartbeat.

mod backend;
mod config;
mod error;
mod listener;
mod log;
mod presence;
mod publisher;
mod roster;
mod sequences;
mod stats;

pub use backend::RedisBackend;
pub use config::{Delivery, RedisConfig};
pub use error::RedisError;
pub use stats::RedisStats;
