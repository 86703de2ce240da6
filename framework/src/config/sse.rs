//! [`SseConfig`]: the settings of Server-Sent-Events streams.

use std::time::Duration;

/// Settings of SSE streams, for the whole app ([`App::sse_config`](crate::App::sse_config)).
#[derive(Debug, Clone)]
pub struct SseConfig {
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) shutdown_retry: Duration,
    pub(crate) max_send_queue: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            keep_alive: Some(Duration::from_secs(15)),
            shutdown_retry: Duration::from_secs(2),
            max_send_queue: 256 * 1024,
        }
    }
}

impl SseConfig {
    /// Silence after which a stream gets a keep-alive comment (`: keep-alive`), so that proxies
    /// keep it open: one goes out once the stream has sent nothing for this long, within half
    /// as long again (streams are looked at on the tick of one clock, not each by a timer of
    /// its own). A stream that sends gets none. `None`: no comments. Default 15 s.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self
    }

    /// The reconnection delay sent to browsers when the server shuts down. Default 2 s.
    pub fn shutdown_retry(mut self, after: Duration) -> Self {
        self.shutdown_retry = after;
        self
    }

    /// Bytes of encoded events that `send` may queue before it waits for the client. It also
    /// bounds what a client that does not read costs: past
    /// [`Config::write_timeout`](crate::app::Config::write_timeout) without the client taking
    /// anything, its connection is closed. (A room forwarded to the stream is read by the
    /// stream's body as the connection writes, not queued here: its events wait in the room,
    /// see [`broadcast`](crate::broadcast).) An event larger than this is still sent, alone.
    /// Default 256 KiB.
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.max_send_queue = bytes.max(1);
        self
    }
}
