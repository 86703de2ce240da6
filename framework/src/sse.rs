//! Server-Sent-Events routes: `#[sse(PATH)]`, answered with the same `ctx.send(..)`.
//!
//! ```ignore
//! #[sse("/prices")]
//! async fn prices(ctx: Context) -> Result<()> {
//!     let mut n: u64 = ctx.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(0);
//!     loop {
//!         n += 1;
//!         ctx.send(Event::new().event("tick").id(n).data(price(n))).await?;
//!         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!     }
//! }
//! ```
//!
//! - The response is `200`, `content-type: text/event-stream`, `cache-control: no-cache`, and
//!   `x-accel-buffering: no` (so proxies such as nginx pass events through at once). Before-
//!   middleware may refuse the request with its error, as for any route; after-middleware sees
//!   the response head.
//! - `ctx.send(x)`: a string becomes one event's data (a multi-line string becomes several
//!   `data:` lines), `Json(v)` becomes data, and an [`Event`](crate::Event) sets every field
//!   (`event`, `id`, `data`, `retry`, comment). Bytes are refused: SSE carries text.
//! - Keep-alive comments (`: keep-alive`) go out on [`SseConfig::keep_alive`] (15 s by default),
//!   so proxies and browsers keep an idle stream open.
//! - **The client leaving ends the handler:** when the connection closes, the handler's future
//!   is dropped at its next `.await`, even when it is waiting for something else than `send`
//!   (a sleep, a broadcast). Put clean-up in a `Drop` guard. `ctx.closed()` also resolves then.
//! - **Shutdown:** every open stream gets a final `retry:` hint ([`SseConfig::shutdown_retry`])
//!   and ends, so browsers reconnect (to the next instance) instead of holding this one open.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue};

use crate::__private::BoxFuture;
use crate::message::{Out, Outbound};
use crate::server::Conn;
use crate::{Body, Context, Error, Response, Result};

/// Settings of SSE streams, for the whole app ([`App::sse_config`](crate::App::sse_config)).
#[derive(Debug, Clone)]
pub struct SseConfig {
    keep_alive: Option<Duration>,
    shutdown_retry: Duration,
    max_send_queue: usize,
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
    /// Interval of keep-alive comments on an idle stream (`None`: none). Default 15 s.
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
    /// bounds what a client that does not read costs: a room's events wait in the room while
    /// the queue is full (see [`broadcast`](crate::broadcast)), and past
    /// [`Config::write_timeout`](crate::app::Config::write_timeout) without the client taking
    /// anything, its connection is closed. An event larger than this is still sent, alone.
    /// Default 256 KiB.
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.max_send_queue = bytes.max(1);
        self
    }
}

/// The Context's half of a stream: the queue of encoded events that the response body takes.
pub(crate) struct SseIo {
    queue: Arc<Queue>,
    /// Server shutdown, for this stream alone (no lock shared with other streams).
    stop: tokio::sync::Notify,
}

/// Encoded events on their way to the response body, shared by the stream's senders and the
/// body.
struct Queue {
    state: Mutex<QueueState>,
    max: usize,
    /// How long senders wait for the client to take something before its connection is closed.
    write_timeout: Duration,
    /// The connection the stream is on (closed when the client stops reading).
    conn: Weak<Conn>,
}

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
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Every critical section is a few field updates that cannot panic half-way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends what `next` gives while there is room (at least one event), and wakes the body
    /// once. `Some` when something was queued or `next` had nothing more (an error once the
    /// client is gone); `None` when there is no room, after registering `waiting` (if given).
    ///
    /// `next` appends one encoded event to the queue and says whether it did.
    fn try_queue(
        &self,
        waiting: Option<&Waker>,
        mut next: impl FnMut(&mut BytesMut) -> bool,
    ) -> Option<Result<()>> {
        let mut st = self.lock();
        if st.gone {
            return Some(Err(crate::context::peer_gone()));
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
        self.lock().gone = true;
        if let Some(conn) = self.conn.upgrade() {
            conn.abort();
        }
        crate::context::peer_gone()
    }

    /// The client left: sends fail, whoever waits hears it.
    fn gone(&self) {
        let (senders, closers) = {
            let mut st = self.lock();
            st.gone = true;
            (std::mem::take(&mut st.senders), std::mem::take(&mut st.closers))
        };
        senders.into_iter().chain(closers).for_each(Waker::wake);
    }
}

impl SseIo {
    pub(crate) fn new(config: &SseConfig, write_timeout: Duration, conn: &Arc<Conn>) -> SseIo {
        SseIo {
            queue: Arc::new(Queue {
                state: Mutex::new(QueueState::default()),
                max: config.max_send_queue,
                write_timeout,
                conn: Arc::downgrade(conn),
            }),
            stop: tokio::sync::Notify::new(),
        }
    }

    /// Server shutdown: the session sends the retry hint and ends the stream.
    pub(crate) fn stop(&self) {
        self.stop.notify_one(); // stored if the session is not waiting yet
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

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this stream: a
    /// message, and then whatever else the room already holds, goes straight into the stream's
    /// queue while that has room. While it is full (the client reads more slowly than the room
    /// talks), the messages stay in the room; those it drops before this client had room for
    /// them are counted as lost, so that a receiver too far behind is dropped (`Err`). A value
    /// a stream cannot carry (bytes) is skipped. `Ok` once the client is gone.
    pub(crate) async fn forward(&self, sub: &mut crate::broadcast::Subscription) -> Result<()> {
        let queue = &self.queue;
        let mut first: Option<Outbound> = None;
        loop {
            if first.is_none() {
                first = Some(tokio::select! {
                    biased;
                    m = sub.recv() => m?,
                    () = self.closed() => return Ok(()),
                });
            }
            let mut lost = 0;
            let wait = std::future::poll_fn(|cx| {
                let queued = queue.try_queue(Some(cx.waker()), |out| loop {
                    let m = match first.take().map(|m| Ok(Some(m))).unwrap_or_else(|| sub.try_recv()) {
                        Ok(Some(m)) => m,
                        Ok(None) => return false,
                        Err(n) => {
                            lost += n;
                            return false;
                        }
                    };
                    if let Ok(chunk) = encode(m) {
                        return append(out, &chunk);
                    }
                });
                match queued {
                    Some(done) => Poll::Ready(done),
                    None => sub.poll_fell_behind(cx).map(|n| {
                        lost += n;
                        Ok(())
                    }),
                }
            });
            let queued = match tokio::time::timeout(queue.write_timeout, wait).await {
                Ok(done) => done,
                Err(_) => Err(queue.stalled()),
            };
            if lost > 0 {
                sub.lost(lost)?;
            }
            if queued.is_err() {
                return Ok(()); // the client is gone
            }
        }
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
    fn finish(&self) {
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
    fn finish_with(&self, chunk: &[u8]) {
        self.queue.lock().out.put_slice(chunk);
        self.finish();
    }
}

/// Appends one encoded event (`true`).
fn append(out: &mut BytesMut, chunk: &[u8]) -> bool {
    out.put_slice(chunk);
    true
}

/// The wire form of one `send`.
fn encode(item: Outbound) -> Result<Bytes> {
    match item.0 {
        Out::Event { wire, .. } => Ok(wire),
        Out::Text(t) => Ok(data_event(t.as_str())),
        Out::Shared(s) => Ok(s.sse.get_or_init(|| data_event(s.text.as_str())).clone()),
        Out::Binary(_) => {
            Err(Error::internal("an SSE stream carries text: send a string, Json(..) or an Event, not bytes"))
        }
        Out::Invalid(why) => Err(Error::internal(why.to_string())),
    }
}

/// `data:` lines for a text payload (CR, LF and CRLF all split lines).
fn data_event(text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 8);
    for line in text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// The response head of a stream (after before-middleware let the request through).
pub(crate) fn response(ctx: &Context, config: &SseConfig) -> Result<Response> {
    let queue = ctx.sse_io().map(|io| io.queue.clone()).ok_or_else(|| Error::internal("not an SSE route"))?;
    if std::mem::replace(&mut queue.lock().started, true) {
        return Err(Error::internal("the SSE stream was already started"));
    }
    let body = SseBody {
        queue,
        keep_alive: config.keep_alive.map(|every| (every, Box::pin(tokio::time::sleep(every)))),
    };
    let mut res = http::Response::new(Body::new(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// The response body of a stream: whatever the queue holds, one chunk per poll.
struct SseBody {
    queue: Arc<Queue>,
    keep_alive: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.queue.gone();
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        {
            let mut st = self.queue.lock();
            if !st.out.is_empty() {
                // Everything queued goes out as one chunk: one chunk header and one write for a
                // burst. There is room in the queue again.
                let chunk = st.out.split().freeze();
                let senders = std::mem::take(&mut st.senders);
                drop(st);
                senders.into_iter().for_each(Waker::wake);
                return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
            }
            if st.finished {
                return Poll::Ready(None);
            }
            if !st.body.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.body = Some(cx.waker().clone());
            }
        }
        // Idle: a comment on every keep-alive tick (also while busy; it costs one line).
        if let Some((every, sleep)) = &mut self.keep_alive {
            if sleep.as_mut().poll(cx).is_ready() {
                let next = tokio::time::Instant::now() + *every;
                sleep.as_mut().reset(next);
                let _ = sleep.as_mut().poll(cx); // register the waker for the next tick
                return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                    b": keep-alive\n\n",
                )))));
            }
        }
        Poll::Pending
    }
}

/// Runs the handler of one stream until it returns, the client leaves, or the server shuts
/// down.
pub(crate) async fn session(ctx: Context, handler: fn(Context) -> BoxFuture<Result<()>>, name: &'static str) {
    let _session = crate::ws::Sessions::enter_registered(&ctx);
    let Some(io) = ctx.sse_io() else { return };
    let run = crate::panic::catch(handler(ctx.clone()), || format!("SSE handler `{name}`"));
    tokio::select! {
        outcome = run => {
            if let Err(e) = outcome {
                if e.status().is_server_error() {
                    tracing::error!(error = %e, "SSE handler failed");
                } else {
                    tracing::debug!(error = %e, "SSE handler ended with an error");
                }
            }
        }
        () = io.closed() => tracing::debug!("SSE client left; handler dropped"),
        () = io.stop.notified() => {
            let retry = ctx.app().config.sse.shutdown_retry;
            let hint = format!(": server shutting down\nretry: {}\n\n", retry.as_millis());
            io.finish_with(hint.as_bytes());
            return;
        }
    }
    io.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_data_lines() {
        assert_eq!(data_event("a\nb\r\nc"), "data: a\ndata: b\ndata: c\n\n");
        assert_eq!(data_event(""), "data: \n\n");
    }
}
