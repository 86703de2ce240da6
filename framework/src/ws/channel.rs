//! A socket's channel: what the handler (and every clone of its Context) shares with the
//! socket's task. Messages in, encoded frames out, who waits for which, and how the socket
//! ended. It never names the Context or the task: the task drives it, the Context holds it.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::{Mutex, MutexGuard};
use tokio::time::Instant;
use tungstenite::protocol::CloseFrame;

use crate::broadcast::Subscription;
use crate::config::WsConfig;
use crate::error::{Error, Result};
use crate::message::{Message, Out, Outbound};

use super::waiters::{Running, Waiters};

/// The Context's view of a socket: queues between the handler (and its clones) and the
/// socket's task, and who waits on them.
pub(crate) struct WsIo {
    pub(crate) config: Arc<WsConfig>,
    pub(crate) state: Mutex<WsState>,
    /// The handler was woken (through the waker it is polled with, see `Socket`): the
    /// socket's task polls it on its next round, and only then.
    pub(crate) handler_woken: AtomicBool,
    /// The socket's task is polling: whoever hands it work leaves it be, since it looks for
    /// work under the lock before it parks (and says it parked, under the lock). A flag
    /// rather than taking `task` out under the lock at the start of every poll.
    pub(crate) polling: AtomicBool,
    /// The sessions' clock ticked: the socket's task looks at its deadlines on its next round.
    pub(crate) ticked: AtomicBool,
}

#[derive(Default)]
pub(crate) struct WsState {
    /// Frames queued by `send` and `forward`, encoded (header and payload, as tungstenite
    /// frames them), in the order they go out. The socket's task swaps it for its own empty
    /// buffer and writes that: the two allocations take turns, and a burst is one write.
    pub(crate) out: Vec<u8>,
    pub(crate) inbound: VecDeque<Message>,
    pub(crate) in_bytes: usize,
    /// Set once the socket is over; what `recv` reports then (one of a few constants: a
    /// reference is all a socket keeps).
    pub(crate) end: Option<&'static Ended>,
    /// The close frame the session asked for when the handler finished (boxed: it is rare,
    /// and this state is part of every socket).
    pub(crate) close: Option<Box<CloseFrame>>,
    /// The peer broke a rule after the queued messages: they are still delivered (and may be
    /// answered) before the socket closes with this code.
    /// (Boxed: it is rare, and this state is part of every socket.)
    pub(crate) failure: Option<Box<Failure>>,
    /// The server is shutting down: close with 1001.
    pub(crate) stopping: bool,
    /// The subprotocol chosen: its place among those the client offered (the Context's
    /// `protocols`, which do not change), so that no socket keeps a copy of it.
    pub(crate) protocol: Option<u16>,
    /// The socket's task's waker; whoever hands it work while it is parked (not
    /// [`WsIo::polling`]) takes it and wakes it.
    pub(crate) task: Option<Waker>,
    /// Tasks waiting in `recv`/`closed` (usually the handler: the socket's own task).
    pub(crate) receivers: Waiters,
    /// Tasks waiting in `send` for room in the queue.
    pub(crate) senders: Waiters,
}

/// A rule the peer broke, and when.
pub(crate) struct Failure {
    /// The rule: an [`Ended::Failed`].
    pub(crate) rule: &'static Ended,
    /// When it was seen (the handler has `close_timeout` to drain what came before).
    pub(crate) at: Instant,
}

pub(crate) enum Ended {
    /// The peer closed, went away, or the server shut down: `recv` returns `None`.
    Closed,
    /// The peer broke a rule (too big, bad UTF-8, protocol): `recv` returns this error.
    Failed(u16, &'static str),
}

const MAX_INBOUND: usize = 16;

/// The most room a send queue reserves at once for a burst it is told about.
const MAX_RESERVE: usize = 64 * 1024;

/// What `recv` reports once the peer broke a rule.
fn closed_with(code: u16, why: &str) -> Error {
    Error::bad_request(format!("the WebSocket was closed with {code}: {why}"))
}

impl WsState {
    /// Whether the socket's task should read more from the peer.
    pub(crate) fn wants_read(&self, config: &WsConfig) -> bool {
        self.failure.is_none()
            && self.inbound.len() < MAX_INBOUND
            && self.in_bytes < config.max_message_size.max(1 << 20)
    }
}

impl WsIo {
    pub(crate) fn new(config: Arc<WsConfig>) -> Self {
        WsIo {
            config,
            state: Mutex::new(WsState::default()),
            handler_woken: AtomicBool::new(true),
            polling: AtomicBool::new(false),
            ticked: AtomicBool::new(false),
        }
    }

    /// Wakes the socket's task if it is parked (it was handed work), after the lock is
    /// released. A task that is polling is left be: it looks for work before it parks.
    pub(crate) fn hand_over(&self, mut st: MutexGuard<'_, WsState>) {
        let task = if self.polling.load(Ordering::SeqCst) { None } else { st.task.take() };
        drop(st);
        if let Some(task) = task {
            task.wake();
        }
    }

    /// The socket's task as it polls (see [`Running`]).
    pub(crate) fn running<'a>(&'a self, task: &'a Waker, handler: &'a Waker) -> Running<'a> {
        Running::new(task, handler, &self.handler_woken)
    }

    /// The handler was woken (through its waker, see the Context's `Wake`): it is due, and the
    /// socket's task, if parked, is woken to poll it.
    pub(crate) fn wake_handler(&self) {
        self.handler_woken.store(true, Ordering::SeqCst);
        self.hand_over(self.lock());
    }

    /// Server shutdown: the socket's task closes it with 1001.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        self.hand_over(st);
    }

    /// The sessions' clock ticked (see [`OpenSession`](crate::runtime::sessions::OpenSession)):
    /// the socket's task looks at its deadlines.
    pub(crate) fn tick(&self) {
        self.ticked.store(true, Ordering::SeqCst);
        self.hand_over(self.lock());
    }

    /// Whether the clock ticked since this was last asked.
    pub(crate) fn take_tick(&self) -> bool {
        self.ticked.load(Ordering::Relaxed) && self.ticked.swap(false, Ordering::SeqCst)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WsState> {
        self.state.lock()
    }

    /// Queues what `next` gives while the queue has room (at least one message), under one
    /// lock and with one wake-up of the socket's task. `Some` once something was queued or
    /// `next` has nothing more (an error once the socket is over); `None` when there is no
    /// room, after registering `waiting` (if given) for the moment there is.
    ///
    /// `next` encodes one message at the end of the queue and says whether it did (`false`:
    /// it has nothing more). `expect` is how many bytes it is likely to add: the queue grows
    /// once for them.
    fn try_queue(
        &self,
        waiting: Option<&Waker>,
        expect: usize,
        mut next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Option<Result<()>> {
        let mut st = self.lock();
        if st.end.is_some() || st.close.is_some() {
            return Some(Err(Error::peer_gone()));
        }
        st.out.reserve(expect.min(MAX_RESERVE));
        let (mut queued, mut exhausted) = (false, false);
        while st.out.len() < self.config.max_send_queue || st.out.is_empty() {
            if !next(&mut st.out) {
                exhausted = true;
                break;
            }
            queued = true;
        }
        if queued || exhausted {
            self.hand_over(st);
            return Some(Ok(()));
        }
        if let Some(w) = waiting {
            st.senders.register(w);
        }
        None
    }

    /// [`try_queue`](Self::try_queue), waiting for room.
    fn poll_queue(
        &self,
        cx: &mut std::task::Context<'_>,
        next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Poll<Result<()>> {
        match self.try_queue(Some(cx.waker()), 0, next) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    /// Queues one message. The future holds only the message (no waiter node): it lives
    /// inside every socket handler's future.
    pub(crate) fn send(&self, item: Outbound) -> impl Future<Output = Result<()>> + Send + '_ {
        let mut msg = match item.0 {
            Out::Invalid(why) => Err(Error::internal(why.to_string())),
            _ => Ok(Some(item)),
        };
        std::future::poll_fn(move |cx| match &mut msg {
            Ok(slot) => self.poll_queue(cx, |out| slot.take().is_some_and(|m| encode(&m, out))),
            Err(e) => Poll::Ready(Err(std::mem::replace(e, Error::internal(String::new())))),
        })
    }

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this socket.
    ///
    /// While the send queue has room, a room's messages go from the room's ring straight into
    /// it, as many at once as it takes: nothing is held twice. While it is full (the client
    /// reads more slowly than the room talks), they stay in the room, and messages the room
    /// drops before this client had room for them are counted as lost, so that a receiver too
    /// far behind is dropped (`Err`). `Ok` once the socket is over.
    pub(crate) async fn forward(&self, sub: &mut Subscription) -> Result<()> {
        // A message taken from the room and not queued yet (the queue was full).
        let mut first: Option<Outbound> = None;
        loop {
            if first.is_none() {
                first = Some(tokio::select! {
                    biased;
                    m = sub.recv() => m?,
                    () = self.closed() => return Ok(()),
                });
            }
            // Losses are counted after the lock: counting may leave the room, which takes the
            // hub's lock.
            let mut lost = 0;
            let queued = std::future::poll_fn(|cx| {
                let expect = first.as_ref().map_or(0, |m| (1 + sub.pending()) * (m.as_bytes().len() + 4));
                let queued = self.try_queue(Some(cx.waker()), expect, |out| loop {
                    let m = match first.take().map(|m| Ok(Some(m))).unwrap_or_else(|| sub.try_recv()) {
                        Ok(Some(m)) => m,
                        Ok(None) => return false,
                        Err(n) => {
                            lost += n;
                            return false;
                        }
                    };
                    if encode(&m, out) {
                        return true; // (a value a socket cannot carry is dropped)
                    }
                });
                match queued {
                    Some(done) => Poll::Ready(done),
                    // Full: wait for room, and meanwhile notice what the room drops.
                    None => sub.poll_fell_behind(cx).map(|n| {
                        lost += n;
                        Ok(())
                    }),
                }
            })
            .await;
            if lost > 0 {
                sub.lost(lost)?;
            }
            if queued.is_err() {
                return Ok(()); // the socket is over
            }
        }
    }

    fn poll_recv(&self, cx: &mut std::task::Context<'_>) -> Poll<Result<Option<Message>>> {
        let mut st = self.lock();
        let paused = !st.wants_read(&self.config);
        if let Some(m) = st.inbound.pop_front() {
            st.in_bytes -= m.len();
            // Reading paused while the queue was full: there is room again.
            if paused {
                self.hand_over(st);
            }
            return Poll::Ready(Ok(Some(m)));
        }
        if let (None, Some(&Failure { rule, .. })) = (st.end, st.failure.as_deref()) {
            st.end = Some(rule);
            self.hand_over(st);
            return Poll::Ready(match rule {
                Ended::Closed => Ok(None),
                &Ended::Failed(code, why) => Err(closed_with(code, why)),
            });
        }
        match st.end {
            Some(Ended::Closed) => Poll::Ready(Ok(None)),
            Some(&Ended::Failed(code, why)) => Poll::Ready(Err(closed_with(code, why))),
            None => {
                st.receivers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    pub(crate) fn recv(&self) -> impl Future<Output = Result<Option<Message>>> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            if st.end.is_some() {
                return Poll::Ready(());
            }
            st.receivers.register(cx.waker());
            Poll::Pending
        })
    }

    /// Asks the socket's task to close with `frame` once everything queued is written.
    pub(crate) fn request_close(&self, frame: CloseFrame) {
        let mut st = self.lock();
        if st.close.is_none() {
            st.close = Some(Box::new(frame));
        }
        self.hand_over(st);
    }

    /// The socket is over: `recv` ends, `send` fails. Wakes whoever waits (see
    /// [`Waiters::wake`] for `running`).
    pub(crate) fn end(&self, how: &'static Ended, running: Option<Running<'_>>) {
        let mut st = self.lock();
        if st.end.is_none() {
            st.end = Some(how);
        }
        st.out = Vec::new();
        let (receivers, senders) = (std::mem::take(&mut st.receivers), std::mem::take(&mut st.senders));
        drop(st);
        receivers.wake(running);
        senders.wake(running);
    }

    /// A message from the peer for `recv`.
    /// Returns whether the handler takes more (so that the reader need not lock again to ask).
    pub(crate) fn push(&self, m: Message, running: Running<'_>) -> bool {
        let mut st = self.lock();
        if st.end.is_some() {
            return true; // closing: late messages are dropped
        }
        st.in_bytes += m.len();
        st.inbound.push_back(m);
        let more = st.wants_read(&self.config);
        let receivers = std::mem::take(&mut st.receivers);
        drop(st);
        receivers.wake(Some(running));
        more
    }
}

/// Appends `item` to `out` as one WebSocket frame (`false`, and nothing appended, for a value
/// that cannot be sent). The header is tungstenite's: a server's frames are not masked, so a
/// frame is the header and the payload as it is.
fn encode(item: &Outbound, out: &mut Vec<u8>) -> bool {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let (opcode, payload): (Data, &[u8]) = match &item.0 {
        Out::Text(t) => (Data::Text, t.as_bytes()),
        Out::Shared(s) => (Data::Text, s.text.as_bytes()),
        Out::Binary(b) => (Data::Binary, b),
        Out::Event(e) => (Data::Text, e.data()),
        Out::Invalid(_) => return false,
    };
    let header =
        tungstenite::protocol::frame::FrameHeader { opcode: OpCode::Data(opcode), ..Default::default() };
    // (Writing to a `Vec` cannot fail.)
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
    true
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use tungstenite::protocol::frame::FrameHeader;

    use crate::config::WsConfig;
    use crate::ws::channel::WsIo;

    /// Many senders at once into a queue far smaller than what they send, drained by a thread
    /// that takes the queue the way the socket's task does: every message arrives once, each
    /// sender's in order, and the queue never holds more than its bound and one message.
    #[test]
    fn the_send_queue_loses_nothing_and_stays_bounded_under_many_senders() {
        const SENDERS: usize = 4;
        const MESSAGES: usize = 2_000;
        const BOUND: usize = 64;
        let io = Arc::new(WsIo::new(Arc::new(WsConfig::default().max_send_queue(BOUND))));
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let io = io.clone();
                std::thread::spawn(move || {
                    for i in 0..MESSAGES {
                        let send = io.send(format!("{s}:{i}").into());
                        block_on(send).expect("the socket stays open");
                    }
                })
            })
            .collect();
        let mut seen = [0usize; SENDERS];
        let mut bytes = Vec::new();
        let mut largest = 0;
        while seen.iter().sum::<usize>() < SENDERS * MESSAGES {
            let (taken, waiting) = {
                let mut st = io.lock();
                largest = largest.max(st.out.len());
                (std::mem::take(&mut st.out), std::mem::take(&mut st.senders))
            };
            waiting.wake(None);
            bytes.extend_from_slice(&taken);
            // Every whole frame so far: a header (tungstenite's parser), then its payload.
            loop {
                let mut cursor = std::io::Cursor::new(&bytes[..]);
                let Some((_, len)) = FrameHeader::parse(&mut cursor).expect("a valid frame") else { break };
                let start = cursor.position() as usize;
                let end = start + len as usize;
                if bytes.len() < end {
                    break;
                }
                let text = std::str::from_utf8(&bytes[start..end]).unwrap().to_owned();
                bytes.drain(..end);
                let (s, i) = text.split_once(':').unwrap();
                let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
                assert_eq!(i, seen[s], "sender {s}'s messages in order, none lost or twice");
                seen[s] += 1;
            }
            std::thread::yield_now();
        }
        senders.into_iter().for_each(|t| t.join().unwrap());
        assert!(largest <= BOUND + 16, "the queue held {largest} bytes over a bound of {BOUND}");
    }

    /// Runs a future to its end on this thread, parking while it waits; a wait that no
    /// wake-up ends (within 5 s) is a lost wake-up, and fails the test.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread, std::sync::atomic::AtomicBool);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.1.store(true, Ordering::SeqCst);
                self.0.unpark();
            }
        }
        let unpark = Arc::new(Unpark(std::thread::current(), std::sync::atomic::AtomicBool::new(false)));
        let waker = Waker::from(unpark.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            let start = std::time::Instant::now();
            while !unpark.1.swap(false, Ordering::SeqCst) {
                assert!(start.elapsed() < std::time::Duration::from_secs(5), "a wake-up was lost");
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
        }
    }
}
