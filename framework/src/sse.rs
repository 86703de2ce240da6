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

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue};
use tokio::sync::mpsc;

use crate::__private::BoxFuture;
use crate::message::{Out, Outbound};
use crate::{Body, Context, Error, Response, Result};

/// Settings of SSE streams, for the whole app ([`App::sse_config`](crate::App::sse_config)).
#[derive(Debug, Clone)]
pub struct SseConfig {
    keep_alive: Option<Duration>,
    shutdown_retry: Duration,
    queue: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            keep_alive: Some(Duration::from_secs(15)),
            shutdown_retry: Duration::from_secs(2),
            queue: 16,
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

    /// Events that `send` may queue before it waits for the client. Default 16.
    pub fn queue(mut self, events: usize) -> Self {
        self.queue = events.max(1);
        self
    }
}

/// The Context's half of a stream: the sending end of the body.
pub(crate) struct SseIo {
    tx: std::sync::Mutex<Option<mpsc::Sender<Bytes>>>,
    /// The body's end, until the response takes it.
    rx: std::sync::Mutex<Option<mpsc::Receiver<Bytes>>>,
    /// Server shutdown, for this stream alone (no lock shared with other streams).
    stop: tokio::sync::Notify,
}

impl SseIo {
    pub(crate) fn new(config: &SseConfig) -> SseIo {
        let (tx, rx) = mpsc::channel(config.queue);
        SseIo {
            tx: std::sync::Mutex::new(Some(tx)),
            rx: std::sync::Mutex::new(Some(rx)),
            stop: tokio::sync::Notify::new(),
        }
    }

    /// Server shutdown: the session sends the retry hint and ends the stream.
    pub(crate) fn stop(&self) {
        self.stop.notify_one(); // stored if the session is not waiting yet
    }

    fn sender(&self) -> Option<mpsc::Sender<Bytes>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues `item` on the stream. While the queue has room that is done at once (`Ok`):
    /// the caller has nothing to wait for and nothing is allocated. Otherwise `Err` is the wait
    /// for room.
    pub(crate) fn send(&self, item: Outbound) -> std::result::Result<Result<()>, BoxFuture<Result<()>>> {
        match encode(item) {
            Ok(chunk) => self.queue(chunk),
            Err(e) => Ok(Err(e)),
        }
    }

    /// [`send`](Self::send) for an encoded event.
    fn queue(&self, chunk: Bytes) -> std::result::Result<Result<()>, BoxFuture<Result<()>>> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = tx.as_ref() else { return Ok(Err(crate::context::peer_gone())) };
        match tx.try_send(chunk) {
            Ok(()) => Ok(Ok(())),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(Err(crate::context::peer_gone())),
            Err(mpsc::error::TrySendError::Full(chunk)) => {
                let tx = tx.clone();
                Err(Box::pin(async move { tx.send(chunk).await.map_err(|_| crate::context::peer_gone()) }))
            }
        }
    }

    /// [`Subscription::forward`](crate::broadcast::Subscription::forward) to this stream: a
    /// message, and then whatever else the room already holds, goes straight into the stream's
    /// queue while that has room. While it is full (the client reads more slowly than the room
    /// talks), the room's messages are still taken and held
    /// ([`Subscription::hold`](crate::broadcast::Subscription::hold)), so that losses are
    /// counted and a receiver too far behind is dropped (`Err`). A value a stream cannot carry
    /// (bytes) is skipped. `Ok` once the client is gone.
    pub(crate) async fn forward(&self, sub: &mut crate::broadcast::Subscription) -> Result<()> {
        let closed = self.closed();
        let mut closed = std::pin::pin!(closed);
        // Messages taken from the room while the queue was full: older than the room's.
        let mut held: VecDeque<Outbound> = VecDeque::new();
        loop {
            let item = match held.pop_front() {
                Some(m) => m,
                None => match sub.try_recv() {
                    Ok(Some(m)) => m,
                    Ok(None) => tokio::select! {
                        biased;
                        m = sub.recv() => m?,
                        () = &mut closed => return Ok(()),
                    },
                    Err(n) => {
                        sub.lost(n)?;
                        continue;
                    }
                },
            };
            let Ok(chunk) = encode(item) else { continue };
            let queued = match self.queue(chunk) {
                Ok(done) => done,
                Err(mut wait) => loop {
                    tokio::select! {
                        biased;
                        r = &mut wait => break r,
                        m = sub.recv() => sub.hold(&mut held, m?)?,
                        () = &mut closed => return Ok(()),
                    }
                },
            };
            if queued.is_err() {
                return Ok(()); // the client is gone
            }
        }
    }

    pub(crate) async fn closed(&self) {
        if let Some(tx) = self.sender() {
            tx.closed().await;
        }
    }

    /// Ends the stream (the body finishes once queued events are out).
    fn finish(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
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
    let rx = ctx
        .sse_io()
        .and_then(|io| io.rx.lock().unwrap_or_else(|p| p.into_inner()).take())
        .ok_or_else(|| Error::internal("the SSE stream was already started"))?;
    let body = SseBody {
        rx,
        keep_alive: config.keep_alive.map(|every| (every, Box::pin(tokio::time::sleep(every)))),
    };
    let mut res = http::Response::new(Body::new(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// The most bytes of queued events joined into one chunk of the response.
const MAX_BURST: usize = 64 * 1024;

struct SseBody {
    rx: mpsc::Receiver<Bytes>,
    keep_alive: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                // Events already queued behind it go out in the same chunk: one chunk header
                // and one write for a burst, instead of one per event.
                let Ok(next) = self.rx.try_recv() else {
                    return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
                };
                let mut burst = BytesMut::with_capacity((chunk.len() + next.len()) * 4);
                burst.put_slice(&chunk);
                burst.put_slice(&next);
                while burst.len() < MAX_BURST {
                    let Ok(more) = self.rx.try_recv() else { break };
                    burst.put_slice(&more);
                }
                return Poll::Ready(Some(Ok(http_body::Frame::data(burst.freeze()))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
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

use std::future::Future;

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
            let hint = Bytes::from(format!(": server shutting down\nretry: {}\n\n", retry.as_millis()));
            if let Some(tx) = io.sender() {
                let _ = tokio::time::timeout(Duration::from_millis(500), tx.send(hint)).await;
            }
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
