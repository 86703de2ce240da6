//! A stream's channel: the encoded events on their way from the handler to the response
//! body, bounded in bytes, who waits for room, and the room the body reads itself when the
//! handler forwards one. It never names the Context: the Context holds it, the body drains it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::{Mutex, MutexGuard};

use super::encode::{encode, encode_from_room};
use super::relay::{Relay, Wait};
use crate::broadcast::Subscription;
use crate::config::SseConfig;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::message::Outbound;
use crate::runtime::conn::Conn;

/// The Context's half of a stream: the queue of encoded events that the response body takes.
pub(crate) struct SseIo {
    queue: Arc<Queue>,
    /// Server shutdown, for this stream alone (no lock shared with other streams).
    stop: tokio::sync::Notify,
}

/// Encoded events on their way to the response body, shared by the stream's senders and the
/// body.
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    max: usize,
    /// How long senders wait for the client to take something before its connection is closed.
    write_timeout: Duration,
    /// The connection the stream is on (closed when the client stops reading).
    conn: Weak<Conn>,
    /// Ticks of the sessions' clock without anything sent after which a keep-alive comment
    /// goes out (`None`: no comments).
    keep_alive: Option<u32>,
}

/// What a keep-alive comment is on the wire.
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

#[derive(Default)]
struct QueueState {
    out: BytesMut,
    /// The response body has been made (by [`response`]).
    started: bool,
    /// The handler is done: the body ends once `out` is taken.
    finished: bool,
    /// The body is gone (the client left): sends fail.
    gone: bool,
    /// The body, waiting for bytes.
    body: Option<Waker>,
    /// Tasks waiting for room in `out`.
    senders: Vec<Waker>,
    /// Tasks waiting for the client to leave.
    closers: Vec<Waker>,
    /// A room the body reads itself (a forward).
    relay: Relay,
    /// The clock's ticks since the body last handed something out.
    quiet: u32,
    /// A keep-alive comment is to go out when the body has nothing else.
    comment_due: bool,
}

impl QueueState {
    /// The body handed a chunk out.
    fn handed_out(&mut self) {
        self.relay.handed_out();
        self.quiet = 0;
    }

    /// The clock ticked, for a stream whose comments go out after `ticks` whole ticks without
    /// anything sent (the first tick after a chunk ends a part of one): the body's waker, to
    /// wake, when a comment is due now.
    fn keep_alive_tick(&mut self, ticks: u32) -> Option<Waker> {
        self.quiet = self.quiet.saturating_add(1);
        if self.quiet <= ticks || self.finished || self.gone {
            return None;
        }
        self.quiet = 0;
        self.comment_due = true;
        self.body.take()
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock()
    }

    /// Appends what `next` gives while there is room (at least one event), and wakes the body
    /// once. `Some` when something was queued or `next` had nothing more (an error once the
    /// client is gone); `None` when there is no room, after registering `waiting` (if given).
    ///
    /// `next` appends one encoded event to the queue and says whether it did.
    fn try_queue(
        &self,
        waiting: Option<&Waker>,
        next: impl FnMut(&mut BytesMut) -> bool,
    ) -> Option<Result<()>> {
        self.try_queue_as(waiting, false, next)
    }

    /// [`try_queue`](Self::try_queue); with `until_gone`, `waiting` also waits for the client
    /// to leave when `next` had nothing at all.
    fn try_queue_as(
        &self,
        waiting: Option<&Waker>,
        until_gone: bool,
        mut next: impl FnMut(&mut BytesMut) -> bool,
    ) -> Option<Result<()>> {
        let mut st = self.lock();
        if st.gone {
            return Some(Err(Error::peer_gone()));
        }
        let (mut queued, mut exhausted) = (false, false);
        while st.out.len() < self.max || st.out.is_empty() {
            if !next(&mut st.out) {
                exhausted = true;
                break;
            }
            queued = true;
        }
        if queued || exhausted {
            if let (true, Some(w)) = (until_gone, waiting) {
                if !st.closers.iter().any(|c| c.will_wake(w)) {
                    st.closers.push(w.clone());
                }
            }
            let body = if queued { st.body.take() } else { None };
            drop(st);
            if let Some(body) = body {
                body.wake();
            }
            return Some(Ok(()));
        }
        if let Some(w) = waiting {
            if !st.senders.iter().any(|s| s.will_wake(w)) {
                st.senders.push(w.clone());
            }
        }
        None
    }

    /// The client took nothing for the write timeout: its connection is closed (nothing can
    /// reach it), and the stream is over.
    fn stalled(&self) -> Error {
        tracing::debug!(timeout = ?self.write_timeout, "closing the connection of an SSE client that stopped reading");
        {
            let mut st = self.lock();
            st.gone = true;
            st.relay.stop();
        }
        if let Some(conn) = self.conn.upgrade() {
            conn.abort();
        }
        Error::peer_gone()
    }

    /// What the response body sends next: everything queued, as one chunk (one chunk header
    /// and one write for a burst; there is room in the queue again), else the next message of
    /// a room the body reads, else a keep-alive comment if one is due; `None` once the stream
    /// has ended, or `Pending` (the body's waker left) while there is nothing.
    pub(crate) fn poll_take(&self, cx: &mut std::task::Context<'_>) -> Poll<Option<Bytes>> {
        let mut st = self.lock();
        st.relay.polled();
        if !st.out.is_empty() {
            let chunk = st.out.split().freeze();
            st.handed_out();
            let senders = std::mem::take(&mut st.senders);
            drop(st);
            senders.into_iter().for_each(Waker::wake);
            return Poll::Ready(Some(chunk));
        }
        if st.finished {
            return Poll::Ready(None);
        }
        if let Some(chunk) = st.relay.poll_next(cx) {
            st.handed_out();
            return Poll::Ready(Some(chunk));
        }
        if std::mem::take(&mut st.comment_due) {
            st.handed_out();
            return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE_COMMENT)));
        }
        if !st.body.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.body = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The sessions' clock ticked: a `forward` whose body has been waiting since its last
    /// chunk is woken to look at it (see [`Relay::tick`]), and a body that has sent nothing
    /// for the keep-alive period is woken to send a comment. (One clock for every stream,
    /// rather than a timer in each: the body then has nothing to look at per chunk.)
    fn tick(&self) {
        let (waiter, body) = {
            let mut st = self.lock();
            let body = self.keep_alive.and_then(|ticks| st.keep_alive_tick(ticks));
            (st.relay.tick(), body)
        };
        waiter.into_iter().chain(body).for_each(Waker::wake);
    }

    /// The client left: sends fail, whoever waits hears it.
    pub(crate) fn gone(&self) {
        let (senders, closers) = {
            let mut st = self.lock();
            st.gone = true;
            st.relay.stop();
            (std::mem::take(&mut st.senders), std::mem::take(&mut st.closers))
        };
        senders.into_iter().chain(closers).for_each(Waker::wake);
    }
}

impl SseIo {
    /// The channel of a stream on `conn`, whose sessions' clock ticks every `clock` (the
    /// keep-alive comments are counted in its ticks).
    pub(crate) fn new(
        config: &SseConfig,
        write_timeout: Duration,
        clock: Option<Duration>,
        conn: &Arc<Conn>,
    ) -> SseIo {
        let keep_alive = match (config.keep_alive, clock) {
            (Some(every), Some(tick)) => Some(
                u32::try_from(every.as_nanos().div_ceil(tick.as_nanos().max(1))).unwrap_or(u32::MAX).max(1),
            ),
            _ => None,
        };
        SseIo {
            queue: Arc::new(Queue {
                state: Mutex::new(QueueState::default()),
                max: config.max_send_queue,
                write_timeout,
                conn: Arc::downgrade(conn),
                keep_alive,
            }),
            stop: tokio::sync::Notify::new(),
        }
    }

    /// The queue, for the stream's response body (which there is one of).
    pub(crate) fn take_body_end(&self) -> Result<Arc<Queue>> {
        if std::mem::replace(&mut self.queue.lock().started, true) {
            return Err(Error::internal("the SSE stream was already started"));
        }
        Ok(self.queue.clone())
    }

    /// Completes when the server shuts down.
    pub(crate) async fn stopped(&self) {
        self.stop.notified().await;
    }

    /// Server shutdown: the session sends the retry hint and ends the stream.
    pub(crate) fn stop(&self) {
        self.stop.notify_one(); // stored if the session is not waiting yet
    }

    /// The sessions' clock ticked (see [`Queue::tick`]).
    pub(crate) fn tick(&self) {
        self.queue.tick();
    }

    /// Queues `item` on the stream. While the queue has room that is done at once (`Ok`):
    /// the caller has nothing to wait for and nothing is allocated. Otherwise `Err` is the wait
    /// for room (at most the write timeout, after which the client's connection is closed).
    pub(crate) fn send(&self, item: Outbound) -> std::result::Result<Result<()>, BoxFuture<Result<()>>> {
        let chunk = match encode(item) {
            Ok(chunk) => chunk,
            Err(e) => return Ok(Err(e)),
        };
        let mut chunk = Some(chunk);
        let mut put = move |out: &mut BytesMut| chunk.take().is_some_and(|c| append(out, &c));
        if let Some(done) = self.queue.try_queue(None, &mut put) {
            return Ok(done);
        }
        let queue = self.queue.clone();
        Err(Box::pin(async move {
            let wait = std::future::poll_fn(|cx| match queue.try_queue(Some(cx.waker()), &mut put) {
                Some(done) => Poll::Ready(done),
                None => Poll::Pending,
            });
            match tokio::time::timeout(queue.write_timeout, wait).await {
                Ok(done) => done,
                Err(_) => Err(queue.stalled()),
            }
        }))
    }

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this stream:
    /// the body reads the room itself (see [`Relay`]); this waits until the client leaves
    /// (`Ok`) or the receiver is dropped for falling too far behind (`Err`), and closes the
    /// connection of a client that took nothing for the write timeout. A second forward at
    /// the same time goes through the queue ([`forward_queued`](Self::forward_queued)).
    pub(crate) async fn forward(&self, sub: Subscription) -> Result<()> {
        let queue = &self.queue;
        let busy = {
            let mut st = queue.lock();
            if st.gone {
                return Ok(());
            }
            if st.relay.active() {
                Some(sub)
            } else {
                st.relay.start(sub);
                if let Some(body) = st.body.take() {
                    body.wake();
                }
                None
            }
        };
        if let Some(mut sub) = busy {
            return self.forward_queued(&mut sub).await;
        }
        // Dropped (the handler stopped waiting): the body stops reading the room.
        let _relaying = Relaying(queue);
        let mut stall: Option<Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| {
            let wait = {
                let mut st = queue.lock();
                let gone = st.gone;
                st.relay.poll_wait(cx, gone)
            };
            match wait {
                Wait::Done(end) => Poll::Ready(end),
                Wait::Idle => {
                    stall = None;
                    Poll::Pending
                }
                Wait::Stuck(since) => {
                    // (From when the body was last seen stuck: it may have moved on since.)
                    let deadline = since + queue.write_timeout;
                    let timer = stall.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                    match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            queue.stalled();
                            Poll::Ready(Ok(()))
                        }
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        })
        .await
    }

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this stream: the
    /// room's messages go straight into the stream's queue while that has room, as many at
    /// once as it takes. While it is full (the client reads more slowly than the room talks),
    /// the messages stay in the room; those it drops before this client had room for them
    /// are counted as lost, so that a receiver too far behind is dropped (`Err`). A value a
    /// stream cannot carry (bytes) is skipped. `Ok` once the client is gone.
    ///
    /// One wait for all of it: a message, the client leaving, room in the queue, and (while
    /// the queue is full) the write timeout, each looked at once per wake-up.
    pub(crate) async fn forward_queued(&self, sub: &mut Subscription) -> Result<()> {
        let queue = &self.queue;
        // The write timeout, while the queue is full.
        let mut stall: Option<Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| loop {
            // Losses are counted after the lock: counting may leave the room, which takes the
            // hub's lock.
            let (mut lost, mut left, mut waiting) = (0, None, false);
            // When the room has nothing, the same lock also waits for the client to leave.
            let queued = queue.try_queue_as(Some(cx.waker()), true, |out| loop {
                // (Taken only while the queue has room: a message waits in the room, not here.)
                let m = match sub.try_recv_or_wait(cx.waker()) {
                    Ok(Ok(Some(m))) => m,
                    Ok(Ok(None)) => {
                        waiting = true;
                        return false;
                    }
                    Ok(Err(n)) => {
                        lost += n;
                        return false;
                    }
                    Err(e) => {
                        left = Some(e);
                        return false;
                    }
                };
                if let Ok(chunk) = encode_from_room(m, sub) {
                    return append(out, &chunk);
                }
            });
            match queued {
                Some(Err(_)) => return Poll::Ready(Ok(())), // the client is gone
                Some(Ok(())) => stall = None,
                // Full: wait for room, and meanwhile notice what the room drops.
                None => {
                    if let Poll::Ready(n) = sub.poll_fell_behind(cx) {
                        lost += n;
                    }
                    let timer =
                        stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(queue.write_timeout)));
                    if timer.as_mut().poll(cx).is_ready() {
                        queue.stalled();
                        return Poll::Ready(Ok(()));
                    }
                    waiting = lost == 0;
                }
            }
            if let Some(e) = left {
                return Poll::Ready(Err(e));
            }
            if lost > 0 {
                if let Err(e) = sub.lost(lost) {
                    return Poll::Ready(Err(e));
                }
                continue;
            }
            if waiting {
                return Poll::Pending;
            }
        })
        .await
    }

    /// Completes once the client has left.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(|cx| {
            let mut st = self.queue.lock();
            if st.gone {
                return Poll::Ready(());
            }
            if !st.closers.iter().any(|w| w.will_wake(cx.waker())) {
                st.closers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    /// Ends the stream (the body finishes once queued events are out).
    pub(crate) fn end_stream(&self) {
        let body = {
            let mut st = self.queue.lock();
            st.finished = true;
            st.body.take()
        };
        if let Some(body) = body {
            body.wake();
        }
    }

    /// Queues `chunk` whatever the queue holds (the shutdown hint), and ends the stream.
    pub(crate) fn end_stream_with(&self, chunk: &[u8]) {
        self.queue.lock().out.put_slice(chunk);
        self.end_stream();
    }
}

/// Appends one encoded event (`true`).
fn append(out: &mut BytesMut, chunk: &[u8]) -> bool {
    out.put_slice(chunk);
    true
}

/// A forward through the body ([`SseIo::forward`]) while it runs: dropped, the body stops
/// reading the room (and the receiver leaves it).
struct Relaying<'a>(&'a Queue);

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        self.0.lock().relay.detach();
    }
}
