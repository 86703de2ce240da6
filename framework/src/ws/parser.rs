//! tungstenite's protocol state for one socket, which a resting socket gives back.
//!
//! tungstenite keeps a parse buffer for the socket's life ([`WsConfig::read_buffer_size`]),
//! and after the first message it keeps the allocation of the last one read. A socket that
//! is quiet (no message since the sessions' clock last ticked) and holds no part of a frame drops that
//! state altogether, and makes a fresh one when the peer sends again: a fresh one is all it
//! lost, since tungstenite held nothing of the peer's and owed the peer nothing.

use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{CloseFrame, Role, WebSocketContext};

use super::wire::TaskIo;
use crate::config::WsConfig;

/// A socket's tungstenite state: made when there is something to read or to close, and
/// dropped while the socket rests. Boxed, so that a resting socket's task is a pointer's size
/// smaller rather than the state's.
pub(crate) struct Parser(Option<Box<WebSocketContext>>);

impl Parser {
    /// No state yet: a new socket rests until the peer sends something.
    pub(crate) fn resting() -> Parser {
        Parser(None)
    }

    pub(crate) fn is_resting(&self) -> bool {
        self.0.is_none()
    }

    /// The state, made if the socket was resting.
    pub(crate) fn get(&mut self, config: &WsConfig) -> &mut WebSocketContext {
        self.0.get_or_insert_with(|| make(config))
    }

    /// Writes what waits: a pong tungstenite owes, then the socket's bytes.
    pub(crate) fn flush(&mut self, s: &mut TaskIo<'_, '_>) -> tungstenite::Result<()> {
        match &mut self.0 {
            Some(ws) => ws.flush(s),
            None => Ok(std::io::Write::flush(s)?),
        }
    }

    /// Queues a ping (no state needed: the peer's pong is read like any frame).
    pub(crate) fn ping(&mut self, s: &mut TaskIo<'_, '_>) -> tungstenite::Result<()> {
        // Two bytes, formatted on the stack: the send path's header formatting stays its own.
        let mut frame = [0u8; 2];
        Frame::ping(Vec::new()).format(&mut &mut frame[..])?;
        s.out.buf().bytes.extend_from_slice(&frame);
        self.flush(s)
    }

    /// Sends our close frame: from then on tungstenite waits for the peer's.
    pub(crate) fn close(
        &mut self,
        config: &WsConfig,
        s: &mut TaskIo<'_, '_>,
        frame: CloseFrame,
    ) -> tungstenite::Result<()> {
        self.get(config).close(s, Some(frame))
    }

    /// Drops the state and the socket's write buffer, once what tungstenite owes the peer is
    /// written; whether the socket rests now. Only for a socket whose readiness can be awaited
    /// without reading ([`Stream::can_rest`]), and only when tungstenite holds no byte of the
    /// peer's (the caller's count, see [`frame_len`]).
    pub(crate) fn rest(&mut self, s: &mut TaskIo<'_, '_>) -> bool {
        let rests = s.io.can_rest() && self.flush(s).is_ok() && s.out.is_empty();
        if rests {
            self.0 = None;
            s.out.release();
        }
        rests
    }
}

/// A fresh state: once per socket, and once per tick at most after that (kept out of the
/// read loop's code).
#[cold]
#[inline(never)]
fn make(config: &WsConfig) -> Box<WebSocketContext> {
    Box::new(WebSocketContext::new(Role::Server, Some(config.tungstenite())))
}

/// What tungstenite may still hold of the peer's bytes: every byte handed to it, less the
/// frames it gave back, each counted as one frame with the shortest header ([`frame_len`]).
/// A message in several frames, or a length written longer than needed, took more than
/// that: so the count is never below what tungstenite holds, and is 0 only when it holds
/// nothing. Past `u32::MAX` it stays there (unknown: the socket no longer rests).
#[derive(Default)]
pub(crate) struct Held(u32);

impl Held {
    /// Bytes handed to tungstenite.
    pub(crate) fn take(&mut self, bytes: usize) {
        self.0 = u32::try_from(bytes).ok().and_then(|b| self.0.checked_add(b)).unwrap_or(u32::MAX);
    }

    /// A frame (or a message) with `payload` bytes came out.
    pub(crate) fn parsed(&mut self, payload: usize) {
        if self.0 != u32::MAX {
            self.0 = self.0.saturating_sub(frame_len(payload));
        }
    }

    /// Whether tungstenite holds nothing of the peer's.
    pub(crate) fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// The bytes of a client's frame that carries `payload` bytes, with the shortest header (2
/// bytes, the length's extension, the 4-byte mask).
fn frame_len(payload: usize) -> u32 {
    let extension = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    u32::try_from(2 + extension + 4 + payload).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::{frame_len, Held, Parser};
    use crate::config::WsConfig;
    use crate::ws::stream::Stream;
    use crate::ws::wire::{Outgoing, TaskIo};

    /// The server's side of a loopback TCP connection, as a socket's [`Stream`].
    async fn tcp_stream() -> (Stream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        (Stream::Tcp(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn a_socket_rests_once_what_it_owes_is_written_and_frees_its_buffers() {
        let (mut stream, _client) = tcp_stream().await;
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let (mut leftover, mut out, config) = (None, Outgoing::default(), WsConfig::default());
        let mut parser = Parser::resting();
        parser.get(&config);
        assert!(!parser.is_resting());
        let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
        parser.ping(&mut io).unwrap();
        parser.rest(&mut io);
        assert!(parser.is_resting(), "the ping was written: nothing is owed");
        assert!(!out.is_allocated(), "the write buffer is freed too");
    }

    #[tokio::test]
    async fn a_socket_that_cannot_write_what_it_owes_keeps_its_state() {
        let (mut stream, _client) = tcp_stream().await; // the client never reads
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let (mut leftover, mut out, config) = (None, Outgoing::default(), WsConfig::default());
        let mut parser = Parser::resting();
        parser.get(&config);
        // More than the loopback socket's buffers take.
        out.buf().bytes.resize(64 << 20, b'x');
        let mut io = TaskIo::new(&mut stream, &mut cx, &mut leftover, &mut out, 4096);
        parser.rest(&mut io);
        assert!(!parser.is_resting(), "bytes are still owed to the peer");
        assert!(out.unwritten() > 0);
    }

    #[test]
    fn a_frame_is_its_payload_behind_the_shortest_masked_header() {
        assert_eq!(frame_len(0), 6);
        assert_eq!(frame_len(125), 131);
        assert_eq!(frame_len(126), 134);
        assert_eq!(frame_len(65_535), 65_543);
        assert_eq!(frame_len(65_536), 65_550);
    }

    #[test]
    fn held_bytes_are_counted_down_by_frames_and_stick_past_the_top() {
        let mut held = Held::default();
        held.take(100);
        held.parsed(10); // 16 bytes
        assert!(!held.is_empty());
        held.take(20);
        held.parsed(98); // 104 bytes
        assert!(held.is_empty());
        held.take(u32::MAX as usize);
        held.take(1);
        held.parsed(1000);
        assert!(!held.is_empty(), "unknown stays unknown");
    }
}
