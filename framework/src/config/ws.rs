//! [`WsConfig`]: the limits and timeouts of WebSocket sessions.

use std::time::Duration;

#[cfg(feature = "ws")]
use tungstenite::protocol::WebSocketConfig;

/// Limits and timeouts of WebSocket sessions, for the whole app
/// ([`App::ws_config`](crate::App::ws_config)) or one route
/// ([`App::ws_route_config`](crate::App::ws_route_config)).
///
/// ```
/// use std::time::Duration;
/// use fratello::ws::WsConfig;
///
/// let config = WsConfig::default()
///     .max_message_size(256 * 1024)
///     .ping_interval(Some(Duration::from_secs(20)))
///     .allowed_origins(["https://app.example.com"]);
/// assert_eq!(config.message_size_limit(), 256 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct WsConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) max_send_queue: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) message_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) origins: Origins,
    pub(crate) protocols: Vec<String>,
    /// How often the app's sessions clock ticks, which is at least as often as these settings
    /// need (set when the app starts: the shortest need of all the app's settings).
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) clock: Duration,
}

/// Which pages may open a socket: those of the server's own origin (the default), those of
/// listed origins, or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origins {
    /// An `Origin` whose host and port are the request's `Host`.
    Same,
    /// These origins (`scheme://host[:port]`, lower-case, no trailing slash).
    Listed(Vec<String>),
    Any,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 256,
            write_buffer_size: 4 * 1024,
            max_send_queue: 256 * 1024,
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
            message_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(3),
            origins: Origins::Same,
            protocols: Vec::new(),
            clock: Duration::from_secs(30),
        }
    }
}

impl WsConfig {
    /// Largest message accepted (reassembled from its frames); larger ones close the socket
    /// with 1009. Default 1 MiB.
    ///
    /// A message being received is held whole in memory until it is complete, so this is what
    /// each socket may cost while a client sends one (twice that for a single large frame,
    /// which is read in one piece): raise it for the routes that need large messages
    /// ([`App::ws_route_config`](crate::App::ws_route_config)), or stream large uploads over
    /// HTTP with `ctx.recv()`, where nothing is held.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest single frame accepted; larger ones close the socket with 1009. Default 1 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Size of the buffer that tungstenite parses frames from, which a socket holds while the
    /// peer is sending (a resting socket holds none, see [`crate::ws`](mod@crate::ws)). The
    /// socket itself is read through a 16 KiB buffer per worker thread, so this size does not
    /// change how many system calls a burst takes. Larger messages are still accepted: the
    /// buffer grows to hold one (tungstenite may keep that capacity until the socket rests).
    /// Default 256 bytes.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(64);
        self
    }

    /// Capacity a socket keeps for its outgoing frames between bursts. Everything queued is
    /// encoded into one buffer and written in one piece, however large; once written, a
    /// buffer up to this size is kept for the next burst, and a larger one is freed. A socket
    /// has two (the handler encodes into one while the other is written), and frees both when
    /// it rests (see [`crate::ws`](mod@crate::ws)). Default 4 KiB.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Bytes that `send` may queue before it waits for the socket. Default 256 KiB.
    ///
    /// It also bounds what a client that does not read can cost: a room's messages stay in the
    /// room while this queue is full (the client loses the oldest ones if it stays behind, see
    /// [`broadcast`](crate::broadcast)), and the socket stops reading from a client whose
    /// unwritten bytes (pongs included) are over it, so that pinging without reading cannot
    /// grow the server's memory either. A message larger than this is still sent, alone.
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.max_send_queue = bytes.max(1);
        self
    }

    /// How often a silent peer is pinged (`None`: never). Default 30 s. Looked at on the ticks
    /// of the app's sessions clock, which ticks at least this often: a peer is pinged within
    /// about twice this after it was last heard from.
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// How long a peer may stay silent (no message, no pong) before the socket is closed with
    /// 1001 and the handler's `recv` ends (`None`: forever). Pings from the peer do not count:
    /// a client that only pings is silent. Default 75 s. Looked at on the clock's ticks, as
    /// pings are: the socket is closed within one or two ticks after the timeout.
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// How long a message may take to arrive once its first bytes have: a message (or a
    /// fragmented one's frames) still incomplete after that closes the socket with 1008, so
    /// that a client cannot hold a partly sent message in the server's memory by trickling
    /// it or by sending pings in between. Default 30 s.
    pub fn message_timeout(mut self, after: Duration) -> Self {
        self.message_timeout = after.max(Duration::from_millis(1));
        self
    }

    /// How long a socket may go without the client taking any of the bytes waiting for it: a
    /// client that stopped reading is disconnected then. Default 30 s.
    pub fn write_timeout(mut self, after: Duration) -> Self {
        self.write_timeout = after.max(Duration::from_millis(1));
        self
    }

    /// How long a closing socket waits for the peer's close frame. Default 3 s.
    pub fn close_timeout(mut self, after: Duration) -> Self {
        self.close_timeout = after;
        self
    }

    /// Only pages of these origins (`scheme://host[:port]`, compared case-insensitively) may
    /// open a socket; others get 403.
    ///
    /// By default only the server's own origin may: a handshake whose `Origin` names another
    /// host or port than its `Host` header is refused, because browsers send cookies with
    /// cross-site handshakes (cross-site WebSocket hijacking). Handshakes without an `Origin`
    /// header (clients other than browsers) are let in either way. Behind a proxy that
    /// rewrites `Host`, either have it keep the client's `Host` or list the public origins
    /// here.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Origins::Listed(
            origins.into_iter().map(|o| o.into().trim_end_matches('/').to_ascii_lowercase()).collect(),
        );
        self
    }

    /// Lets pages of any origin open a socket: for a public API whose sockets carry no
    /// cookie-based credentials (see [`allowed_origins`](Self::allowed_origins)).
    pub fn any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// Subprotocols the server speaks, preferred first; the first one the client offers is
    /// chosen (a middleware may choose instead with [`Context::set_protocol`](crate::Context::set_protocol)).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The largest message accepted, as set by [`max_message_size`](Self::max_message_size).
    pub fn message_size_limit(&self) -> usize {
        self.max_message_size
    }

    /// tungstenite's settings for a socket with this config.
    #[cfg(feature = "ws")]
    pub(crate) fn tungstenite(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            // Every frame tungstenite writes goes straight to the socket's own bytes (`Blocking`).
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}
