//! A stream's response and task: the `text/event-stream` head and the body that drains the
//! stream's channel, and the task that runs the handler until the client leaves or the server
//! shuts down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue};
use tracing::Instrument;

use super::channel::Queue;
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::response::{Body, BoxError, Response};
use crate::runtime::conn::Conn;

/// How often the sessions' clock must look at a stream with these settings: within the write
/// timeout (a client that stopped reading is given up within twice it), and twice per
/// keep-alive period (a comment then goes out after one to one and a half periods of silence).
pub(crate) fn clock_tick(config: &Config) -> Duration {
    let tick =
        config.sse.keep_alive.map_or(config.write_timeout, |every| config.write_timeout.min(every / 2));
    tick.max(Duration::from_millis(1))
}

/// The response head of a stream (after before-middleware let the request through).
pub(crate) fn response(ctx: &Context) -> Result<Response> {
    let queue = ctx.sse_io().ok_or_else(|| Error::internal("not an SSE route"))?.take_body_end()?;
    let body = SseBody { queue, _conn: ctx.inner.conn.clone() };
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
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        // (Keep-alive comments come from the queue too, when the sessions' clock says one is
        // due: nothing here is looked at per chunk but the queue.)
        self.queue.poll_take(cx).map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
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
