//! A socket's task, as spawned: it waits for hyper's upgrade, then runs the [`Socket`] (the
//! handler beside the socket's I/O) until both are over.

use std::future::Future;
use std::task::Poll;

use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;

use super::channel::Ended;
use super::socket::Socket;
use super::stream::Stream;
use super::wire::Leftover;
use crate::context::Context;
use crate::error::Result;
use crate::future::BoxFuture;

/// One socket's task: waits for hyper's upgrade, then runs the handler beside the socket's
/// I/O. A hand-written future rather than an `async fn`, so that nothing is stored twice: it
/// is most of what an idle socket costs.
pub(crate) struct Session {
    state: SessionState,
    // Boxed, and only when something records spans: most servers record none.
    span: Option<Box<(tracing::Span, Instant)>>,
    /// The socket's slot in the app's sessions, left when the task ends (the Context, which
    /// knows the app, is at hand then: the slot alone is kept).
    slot: u32,
}

// Boxing the socket would cost an allocation per socket to save bytes only while upgrading.
#[allow(clippy::large_enum_variant)]
enum SessionState {
    Upgrading { ctx: Context, on_upgrade: OnUpgrade, handler: fn(Context) -> BoxFuture<Result<()>> },
    Running(Socket),
}

/// The socket's task, for `tokio::spawn`.
pub(crate) fn session(
    ctx: Context,
    on_upgrade: OnUpgrade,
    handler: fn(Context) -> BoxFuture<Result<()>>,
) -> Session {
    // (A child of the request's span: its method, route and request id are the socket's.)
    let span = tracing::info_span!(
        "ws",
        peer = %ctx.peer_addr(),
        close_code = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    Session {
        slot: ctx.enter_session_slot(),
        state: SessionState::Upgrading { ctx, on_upgrade, handler },
        span: (!span.is_disabled()).then(|| Box::new((span, Instant::now()))),
    }
}

impl Future for Session {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let _span = this.span.as_ref().map(|s| s.0.enter());
        loop {
            match &mut this.state {
                SessionState::Upgrading { ctx, on_upgrade, handler } => {
                    let upgraded = std::task::ready!(std::pin::Pin::new(on_upgrade).poll(cx));
                    let Some(io) = ctx.ws_io() else { return Poll::Ready(()) };
                    // The server hands hyper the TCP (or TLS) stream itself, and gets it back
                    // here with the bytes the client sent after its handshake that hyper
                    // already read (the first frames, from a client that did not wait for the
                    // answer). Read directly, the socket saves every read two buffering layers
                    // and a call through a trait object.
                    let (stream, early) = match upgraded.map(Stream::from_upgraded) {
                        Ok(Ok(parts)) => parts,
                        Ok(Err(_)) => {
                            tracing::error!(
                                "WebSocket upgrade on a connection that is not a TCP or TLS stream"
                            );
                            io.end(&Ended::Closed, None);
                            return Poll::Ready(());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "WebSocket upgrade failed");
                            io.end(&Ended::Closed, None);
                            return Poll::Ready(());
                        }
                    };
                    let leftover =
                        (!early.is_empty()).then(|| Box::new(Leftover { bytes: early.into(), at: 0 }));
                    this.state = SessionState::Running(Socket::new(ctx.clone(), *handler, stream, leftover));
                }
                SessionState::Running(socket) => {
                    std::task::ready!(socket.poll(cx));
                    if let Some(span) = this.span.as_ref() {
                        span.0.record("duration_ms", span.1.elapsed().as_millis() as u64);
                    }
                    tracing::info!(target: "fratello::request", "WebSocket closed");
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// Leaves the app's sessions: the task is over (or the runtime is dropping it).
impl Drop for Session {
    fn drop(&mut self) {
        let ctx = match &self.state {
            SessionState::Upgrading { ctx, .. } => ctx,
            SessionState::Running(socket) => socket.ctx(),
        };
        ctx.leave_session(self.slot);
    }
}
