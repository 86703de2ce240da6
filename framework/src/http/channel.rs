//! An HTTP request's channel: its body, read chunk by chunk, and its response when the handler
//! streams it with `send`: the body's queue, and the response head on its way to the request's
//! pipeline. It never names the Context: the Context holds it, the pipeline takes the head.

use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::message::{Message, Out, Outbound};
use crate::response::{Body, Response, ResponseParts};
use crate::runtime::conn::Conn;

/// How many chunks a streamed response may have in flight before `send` waits for the client.
const STREAM_QUEUE: usize = 4;

/// A streamed head was put in the slot.
const HANDED: u8 = 1;
/// Nobody waits for a head any more.
const ABANDONED: u8 = 2;
/// The pipeline left its waker in the slot.
const WAITING: u8 = 4;

/// A request's body: hyper's, or any other (a tower layer's, which may have wrapped it).
pub(crate) enum RequestBody {
    Hyper(Incoming),
    Other(Body),
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        RequestBody::Hyper(body)
    }
}

impl From<Body> for RequestBody {
    fn from(body: Body) -> Self {
        RequestBody::Other(body)
    }
}

impl RequestBody {
    async fn frame(
        &mut self,
    ) -> Option<std::result::Result<http_body::Frame<Bytes>, crate::response::BoxError>> {
        match self {
            RequestBody::Hyper(body) => body.frame().await.map(|f| f.map_err(Into::into)),
            RequestBody::Other(body) => body.frame().await,
        }
    }

    /// The body as a [`Body`], to hand to a tower service.
    pub(crate) fn into_body(self) -> Body {
        match self {
            RequestBody::Hyper(body) => Body::new(body),
            RequestBody::Other(body) => body,
        }
    }
}

/// The HTTP half of a Context.
pub(crate) struct HttpIo {
    body: tokio::sync::Mutex<Option<RequestBody>>,
    stream: tokio::sync::Mutex<Streaming>,
    head: Mutex<HeadSlot>,
    /// What happened to `head`, readable without its lock ([`HANDED`], [`ABANDONED`],
    /// [`WAITING`]): a request that streams nothing is answered and dropped without taking it.
    head_state: AtomicU8,
}

/// Where a streamed response is.
enum Streaming {
    /// Nothing sent: the handler's return value may still be the response.
    NotStarted,
    /// `send` opened the body: its queue.
    Open(mpsc::Sender<Result<Bytes, Error>>),
    /// The response is over (the stream ended).
    Over,
}

/// A streamed response's head, on its way from the first `send` to the pipeline (which polls
/// the handler and looks here when the handler waits).
#[derive(Default)]
struct HeadSlot {
    // Boxed: most requests never stream, and this sits in every Context.
    head: Option<Box<Response>>,
    pipeline: Option<Waker>,
}

impl HttpIo {
    /// The channel of a request with `body`.
    pub(crate) fn new(body: Option<RequestBody>) -> Self {
        HttpIo {
            body: tokio::sync::Mutex::new(body),
            stream: tokio::sync::Mutex::new(Streaming::NotStarted),
            head: Mutex::new(HeadSlot::default()),
            head_state: AtomicU8::new(0),
        }
    }

    /// This channel, which nobody else holds and which [`clear`](Self::clear) emptied, made
    /// that of the next request of its connection, with `body`: as [`new`](Self::new) makes
    /// one, in place.
    pub(crate) fn renew(&mut self, body: RequestBody) {
        *self.body.get_mut() = Some(body);
    }

    /// Empties this channel, which nobody else holds, once its request is over: the body
    /// (dropped, as hyper waits for), a streamed response's queue, a head nobody took.
    pub(crate) fn clear(&mut self) {
        *self.body.get_mut() = None;
        *self.stream.get_mut() = Streaming::NotStarted;
        *self.head.get_mut() = HeadSlot::default();
        *self.head_state.get_mut() = 0;
    }

    /// The body, unread, taken out (for a tower service to read instead).
    pub(crate) async fn take_body(&self) -> Option<RequestBody> {
        self.body.lock().await.take()
    }

    fn slot(&self) -> MutexGuard<'_, HeadSlot> {
        self.head.lock()
    }

    /// The next chunk of the body, waiting at most `timeout` for it (408 past it: the body is
    /// dropped, and hyper closes the connection after the response).
    pub(crate) async fn recv(&self, timeout: Duration) -> Result<Option<Message>> {
        let mut body = self.body.lock().await;
        let Some(incoming) = body.as_mut() else { return Ok(None) };
        loop {
            let Ok(frame) = tokio::time::timeout(timeout, incoming.frame()).await else {
                *body = None;
                return Err(Error::request_timeout(format!(
                    "the request body stalled: nothing arrived for {} s",
                    timeout.as_secs_f64()
                )));
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(Message::binary(data)));
                        }
                    }
                }
                Some(Err(e)) => {
                    *body = None;
                    // (A tower layer's body limit, `RequestBodyLimitLayer`'s, says so.)
                    if e.is::<http_body_util::LengthLimitError>() {
                        return Err(Error::payload_too_large("the request body is over the limit"));
                    }
                    return Err(Error::bad_request("the request body could not be read").with_source(e));
                }
                None => {
                    *body = None;
                    return Ok(None);
                }
            }
        }
    }

    /// Sends `item` as a chunk of the streamed response. The first call makes the response:
    /// its head takes what `parts` gives (the status and headers the handler set) and goes to
    /// the pipeline. A client that takes nothing for `write_timeout` has stopped reading: its
    /// connection (`conn`) is closed, and the handler hears that the peer is gone.
    pub(crate) async fn send(
        &self,
        item: Outbound,
        parts: impl FnOnce() -> Option<Box<ResponseParts>>,
        write_timeout: Duration,
        conn: &Conn,
    ) -> Result<()> {
        let content_type = match &item.0 {
            Out::Text(_) | Out::Shared(_) => "text/plain; charset=utf-8",
            Out::Event(_) => "text/event-stream",
            Out::Binary(_) | Out::Invalid(_) => "application/octet-stream",
        };
        let chunk = item.into_chunk()?;
        let mut stream = self.stream.lock().await;
        match &*stream {
            Streaming::Over => {
                return Err(Error::internal(
                    "the response was already sent: `send` must be called before the handler returns",
                ))
            }
            Streaming::NotStarted => {
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                let mut head = http::Response::new(Body::channel(rx));
                if let Some(mut parts) = parts() {
                    parts.apply(&mut head);
                }
                head.headers_mut().entry(CONTENT_TYPE).or_insert(HeaderValue::from_static(content_type));
                self.hand_head(head)?;
                *stream = Streaming::Open(tx);
            }
            Streaming::Open(_) => {}
        }
        let Streaming::Open(tx) = &*stream else { unreachable!("opened above") };
        if chunk.is_empty() {
            return Ok(()); // an empty chunk would read as the end of a chunked body
        }
        match tokio::time::timeout(write_timeout, tx.send(Ok(chunk))).await {
            Ok(sent) => sent.map_err(|_| Error::peer_gone()),
            Err(_) => {
                tracing::debug!(timeout = ?write_timeout, "closing the connection of a client that stopped reading");
                conn.abort();
                Err(Error::peer_gone())
            }
        }
    }

    /// Hands a streamed response's head to the pipeline.
    fn hand_head(&self, head: Response) -> Result<()> {
        let mut slot = self.slot();
        slot.head = Some(Box::new(head));
        // After the head is in: `abandon_head` either comes later (and sees HANDED, and waits
        // for this lock to drop the head), or came before (and this sees ABANDONED).
        if self.head_state.fetch_or(HANDED, Ordering::AcqRel) & ABANDONED != 0 {
            slot.head = None;
            return Err(Error::peer_gone());
        }
        let pipeline = slot.pipeline.take();
        drop(slot);
        if let Some(w) = pipeline {
            w.wake();
        }
        Ok(())
    }

    /// A streamed response's head, once the handler's first `send` made it.
    pub(crate) fn poll_head(&self, cx: &mut std::task::Context<'_>) -> Poll<Response> {
        let mut slot = self.slot();
        match slot.head.take() {
            Some(head) => Poll::Ready(*head),
            None => {
                if !slot.pipeline.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    slot.pipeline = Some(cx.waker().clone());
                    self.head_state.fetch_or(WAITING, Ordering::AcqRel);
                }
                Poll::Pending
            }
        }
    }

    /// The head, if a `send` made one.
    pub(crate) fn take_head(&self) -> Option<Response> {
        if self.head_state.load(Ordering::Acquire) & HANDED == 0 {
            return None;
        }
        self.slot().head.take().map(|h| *h)
    }

    /// Nobody waits for a head any more: a later first `send` fails.
    pub(crate) fn abandon_head(&self) {
        if self.head_state.fetch_or(ABANDONED, Ordering::AcqRel) & (HANDED | WAITING) != 0 {
            let mut slot = self.slot();
            slot.head = None;
            slot.pipeline = None;
        }
    }

    /// The streamed response's queue, if the handler streamed.
    pub(crate) async fn streamed(&self) -> Option<mpsc::Sender<Result<Bytes, Error>>> {
        match &*self.stream.lock().await {
            Streaming::Open(tx) => Some(tx.clone()),
            Streaming::NotStarted | Streaming::Over => None,
        }
    }

    /// Ends a streamed response: drops the queue's sender so that the body ends.
    pub(crate) async fn end_stream(&self) {
        let mut s = self.stream.lock().await;
        if let Streaming::Open(_) = &*s {
            *s = Streaming::Over;
        }
    }

    /// Completes once the client of a streamed response has gone (never for a response that
    /// did not stream: a plain HTTP handler cannot tell).
    pub(crate) async fn closed(&self) {
        let tx = match &*self.stream.lock().await {
            Streaming::Open(tx) => Some(tx.clone()),
            Streaming::NotStarted | Streaming::Over => None,
        };
        match tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::http::channel::*;

    /// The head slot's hand-over, from two threads at once: whatever the interleaving of the
    /// handler's first `send` and the pipeline giving up, the head is either taken by the
    /// pipeline or refused to `send`, and never left in the slot once the pipeline gave up.
    #[test]
    fn a_head_is_taken_or_refused_never_lost() {
        for _ in 0..2_000 {
            let io = std::sync::Arc::new(HttpIo::new(None));
            let sender = {
                let io = io.clone();
                std::thread::spawn(move || io.hand_head(http::Response::new(Body::empty())).is_ok())
            };
            let abandoner = {
                let io = io.clone();
                std::thread::spawn(move || {
                    let taken = io.take_head().is_some();
                    io.abandon_head();
                    taken
                })
            };
            let handed = sender.join().unwrap();
            let taken = abandoner.join().unwrap();
            assert!(!taken || handed, "a head was taken that send says it refused");
            assert!(io.slot().head.is_none(), "a head stayed in the slot after the pipeline gave up");
        }
    }
}
