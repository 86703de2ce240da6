//! A stream's response and task: the `text/event-stream` head and the body that drains the
//! stream's channel, and the task that runs the handler until the client leaves or the server
//! shuts down.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue};
use tracing::Instrument;

use super::channel::Queue;
use crate::config::SseConfig;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::response::{Body, BoxError, Response};
use crate::runtime::conn::Conn;

/// The response head of a stream (after before-middleware let the request through).
pub(crate) fn response(ctx: &Context, config: &SseConfig) -> Result<Response> {
    let queue = ctx.sse_io().ok_or_else(|| Error::internal("not an SSE route"))?.take_body_end()?;
    let body = SseBody {
        queue,
        _conn: ctx.inner.conn.clone(),
        keep_alive: config.keep_alive.map(|every| KeepAlive {
            every,
            sleep: Box::pin(tokio::time::sleep(every)),
            armed_for: None,
        }),
    };
    let mut res = http::Response::new(Body::busy_itself(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// The response body of a stream: whatever the queue holds, one chunk per poll.
struct SseBody {
    queue: Arc<Queue>,
    /// The stream's connection, kept in progress until the stream ends (its watch does not
    /// close it as idle).
    _conn: Arc<Conn>,
    keep_alive: Option<KeepAlive>,
}

/// The timer of a stream's keep-alive comments.
struct KeepAlive {
    every: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The waker the timer wakes when it fires, once it has been polled with it: while the
    /// body is polled with that waker and the timer has not fired, polling the timer again
    /// would only register the same waker again (the body is polled after every delivery).
    armed_for: Option<Waker>,
}

impl KeepAlive {
    /// Whether a tick is due; if not, the timer wakes `cx` when one is.
    fn poll_tick(&mut self, cx: &mut TaskCx<'_>) -> bool {
        let armed = self.armed_for.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if armed && !self.sleep.is_elapsed() {
            return false;
        }
        let due = self.sleep.as_mut().poll(cx).is_ready();
        if due {
            let next = tokio::time::Instant::now() + self.every;
            self.sleep.as_mut().reset(next);
            let _ = self.sleep.as_mut().poll(cx); // register the waker for the next tick
        }
        if !armed {
            self.armed_for = Some(cx.waker().clone());
        }
        due
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.queue.gone();
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.queue.poll_take(cx) {
            Poll::Ready(Some(chunk)) => return Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        // Idle: a comment on every keep-alive tick (also while busy; it costs one line).
        if self.keep_alive.as_mut().is_some_and(|k| k.poll_tick(cx)) {
            self.queue.handed_comment();
            return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b": keep-alive\n\n")))));
        }
        Poll::Pending
    }
}

/// Starts the task of one stream, with a span of its own when something records spans (a
/// child of the request's: its method, route and request id are the stream's).
pub(crate) fn spawn(ctx: Context, handler: fn(Context) -> BoxFuture<Result<()>>, name: &'static str) {
    let span = tracing::info_span!("sse", peer = %ctx.peer_addr(), duration_ms = tracing::field::Empty);
    if span.is_disabled() {
        tokio::spawn(session(ctx, handler, name));
        return;
    }
    let start = std::time::Instant::now();
    tokio::spawn(
        async move {
            session(ctx, handler, name).await;
            tracing::Span::current().record("duration_ms", start.elapsed().as_millis() as u64);
            tracing::info!(target: "fratello::request", "SSE stream ended");
        }
        .instrument(span),
    );
}

/// Runs the handler of one stream until it returns, the client leaves, or the server shuts
/// down.
async fn session(ctx: Context, handler: fn(Context) -> BoxFuture<Result<()>>, name: &'static str) {
    let _session = ctx.enter_session();
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
        () = io.stopped() => {
            let retry = ctx.app().config.sse.shutdown_retry;
            let hint = format!(": server shutting down\nretry: {}\n\n", retry.as_millis());
            io.end_stream_with(hint.as_bytes());
            return;
        }
    }
    io.end_stream();
}
