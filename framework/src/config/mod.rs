//! Every setting of an app: the server's limits and timeouts ([`Config`]), WebSocket sessions'
//! ([`WsConfig`]), SSE streams' ([`SseConfig`]) and multipart bodies' ([`MultipartConfig`]),
//! each with its default.
//!
#![doc = include_str!("defaults.md")]

use std::time::Duration;

mod multipart;
mod sse;
mod ws;

pub use self::multipart::MultipartConfig;
pub use self::sse::SseConfig;
#[cfg(feature = "ws")]
pub(crate) use self::ws::Origins;
pub use self::ws::WsConfig;

/// Server limits and timeouts. Every field has a builder method on [`App`](crate::App).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest body that `ctx.body()`, `text()` and `json()` accept (413 above).
    /// Streaming with `ctx.recv()` is not limited. Default 2 MiB.
    pub max_body: usize,
    /// Most request headers accepted (HTTP/1.1: 431 above). Default 100.
    pub max_headers: usize,
    /// Largest request head (request line and headers) accepted: 431 above, on HTTP/1.1 and
    /// HTTP/2 alike. Bounds what a connection can make the server hold before its request
    /// starts. Default 64 KiB; at least 8 KiB. (For comparison: nginx takes 8 KiB per header
    /// line by default, Node.js 16 KiB per head, Go 1 MiB.)
    pub max_header_bytes: usize,
    /// Time a connection may go without starting a request while none is in progress: a
    /// client that sends its request head too slowly (slowloris), or leaves a keep-alive
    /// connection idle, is disconnected. Watched per connection (one timer each, not one per
    /// request), so a connection goes between one and two of these after its last request.
    /// A request is in progress while its Context (or a clone of it, in a task the handler
    /// spawned) or a response body it returned is alive. Default 30 s.
    pub header_read_timeout: Duration,
    /// Most simultaneous connections; further clients wait in the listen backlog. A WebSocket
    /// or an SSE stream holds its connection's place until it ends. Default 25,000.
    pub max_connections: usize,
    /// Most simultaneous connections from one peer (an IPv4 address, or an IPv6 /64 network);
    /// a connection over it is closed as soon as it is accepted. `None` (the default): no
    /// limit per peer, since clients behind one NAT or proxy share an address.
    pub max_connections_per_ip: Option<usize>,
    /// Time a request body may go without a chunk arriving, once its handler reads it
    /// (`recv`, `body`, `text`, `json`): past it the read fails with 408. Default 30 s.
    pub body_read_timeout: Duration,
    /// Time `body()`, `text()` and `json()` may take to read a whole body (408 past it), so
    /// that a client trickling a body cannot hold a request open for long. Streaming with
    /// `recv()` is bounded only by [`body_read_timeout`](Self::body_read_timeout) between
    /// chunks. Default 60 s.
    pub body_timeout: Duration,
    /// Time a streamed response (`ctx.send` on an HTTP route, or an SSE stream) may wait for
    /// its client to take anything: a client that stops reading is given up then (the
    /// handler's `send` fails, a room stops forwarding to it) and its connection is closed
    /// within one [`header_read_timeout`](Self::header_read_timeout) more, instead of holding
    /// it and the handler forever. (A stream that a room is forwarded to is looked at on the
    /// tick of a clock that keeps this pace: its client is given up within twice the timeout.)
    /// Default 30 s.
    pub write_timeout: Duration,
    /// Bytes of request headers (names and values) that a WebSocket or SSE session keeps for
    /// its lifetime, for its handler and middleware to read: headers past it, in the order
    /// received, are dropped (each that does not fit; later smaller ones still may). Plain
    /// HTTP requests keep all their headers for their short life. Default 16 KiB.
    pub max_session_header_bytes: usize,
    /// Time graceful shutdown waits for open requests and streams before closing them.
    /// Default 10 s.
    pub shutdown_timeout: Duration,
    /// Settings of SSE streams.
    pub sse: SseConfig,
    /// Limits of multipart bodies.
    pub multipart: MultipartConfig,
}

impl Config {
    /// How many connections the server lets in at once: [`max_connections`](Self::max_connections),
    /// as a count of semaphore permits.
    pub(crate) fn connection_permits(&self) -> u32 {
        u32::try_from(self.max_connections).unwrap_or(u32::MAX)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body: 2 * 1024 * 1024,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            max_connections: 25_000,
            max_connections_per_ip: None,
            body_read_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_session_header_bytes: 16 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            sse: SseConfig::default(),
            multipart: MultipartConfig::default(),
        }
    }
}
