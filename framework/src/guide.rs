//! The guide's chapters (`docs/guide/` at the repository's root), compiled as doc tests so
//! that their code cannot drift from the API.

/// Chapter 1.
#[doc = include_str!("../../docs/guide/01-getting-started.md")]
pub struct GettingStarted;

/// Chapter 2.
#[doc = include_str!("../../docs/guide/02-routes-and-context.md")]
pub struct RoutesAndContext;

/// Chapter 3.
#[doc = include_str!("../../docs/guide/03-middleware.md")]
pub struct Middleware;

/// Chapter 4.
#[cfg(feature = "ws")]
#[doc = include_str!("../../docs/guide/04-websocket.md")]
pub struct WebSocket;

/// Chapter 5.
#[cfg(feature = "sse")]
#[doc = include_str!("../../docs/guide/05-sse.md")]
pub struct ServerSentEvents;

/// Chapter 6.
#[cfg(all(feature = "ws", feature = "sse"))]
#[doc = include_str!("../../docs/guide/06-rooms.md")]
pub struct Rooms;

/// Chapter 7.
#[doc = include_str!("../../docs/guide/07-streaming.md")]
pub struct Streaming;

/// Chapter 8.
#[cfg(all(feature = "test-util", feature = "ws", feature = "sse"))]
#[doc = include_str!("../../docs/guide/08-testing.md")]
pub struct Testing;

/// Chapter 9.
#[doc = include_str!("../../docs/guide/09-deployment.md")]
pub struct Deployment;

/// Chapter 10.
#[cfg(feature = "ws")]
#[doc = include_str!("../../docs/guide/10-pitfalls.md")]
pub struct Pitfalls;
