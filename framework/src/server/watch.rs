//! A connection's watch: what its task looks at besides the connection itself. It closes a
//! connection on which no request starts in time, and tells it when the server stops.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use crate::http::spare::Spare;
use crate::runtime::conn::{Conn, ABORTED};

/// What a connection's task keeps an eye on besides the connection.
pub(super) struct Watch {
    pub(super) conn: Arc<Conn>,
    pub(super) stop: Arc<Draining>,
    /// How long a connection may go without starting a request while none is in progress.
    pub(super) timeout: std::time::Duration,
}

/// The server's "stop accepting, finish what is open", as each connection hears it.
#[derive(Default)]
pub(super) struct Draining {
    pub(super) stopping: AtomicBool,
    /// Wakes every connection once `stopping` is set.
    pub(super) notify: tokio::sync::Notify,
}

/// Drives a connection, and closes it when no request starts for the watch's timeout while
/// none is in progress: a client that sends its request head too slowly (slowloris), or a
/// keep-alive connection left idle. One timer per connection, looked at once per timeout, so
/// a connection goes between one and two timeouts after its last request. When the server
/// stops, the connection finishes the request in progress and closes (`shutdown`). `None`
/// when the watch closed it.
///
/// Hand-written rather than a `select!` over the connection, the timer and a shutdown signal:
/// that polls all three on every wake-up (and draws a random number to pick the order) for
/// every request, and the shutdown signal's poll takes a lock that every
/// connection shares. Here each wake-up polls the connection and reads two flags; the timer
/// and the signal are registered once and hold this task's waker until they fire.
///
/// `spare`: where the connection keeps a Context between requests, which holds the `Conn`
/// once more while it is kept there.
pub(super) fn drive<'a, 'n, C>(
    served: Pin<&'a mut C>,
    shutdown: fn(Pin<&mut C>),
    watch: &'a Watch,
    spare: Option<&'a Spare>,
    timer: Pin<&'a mut tokio::time::Sleep>,
    stopped: Pin<&'a mut tokio::sync::futures::Notified<'n>>,
) -> impl Future<Output = Option<Result<(), hyper::Error>>> + use<'a, 'n, C>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    // What the connection holds of its `Conn` itself (the watch, the service): no request has
    // started yet. Anything above this, but a Context kept in `spare`, is a request in
    // progress.
    let held = Arc::strong_count(&watch.conn);
    let seen = watch.conn.started.load(Ordering::Relaxed);
    let mut state = Drive {
        served,
        shutdown,
        watch,
        spare,
        timer,
        stopped,
        held,
        seen,
        registered: false,
        graceful: false,
    };
    // (A plain future, not an `async fn`: the connection's task polls it with one level of
    // state machine less on each wake-up.)
    std::future::poll_fn(move |cx| state.poll(cx))
}

/// What [`drive`] polls with, in one place (each wake-up reaches it through one pointer).
struct Drive<'a, 'n, C> {
    served: Pin<&'a mut C>,
    shutdown: fn(Pin<&mut C>),
    watch: &'a Watch,
    spare: Option<&'a Spare>,
    timer: Pin<&'a mut tokio::time::Sleep>,
    stopped: Pin<&'a mut tokio::sync::futures::Notified<'n>>,
    /// What the connection holds of its `Conn` itself.
    held: usize,
    /// The count of requests started, as last read.
    seen: usize,
    /// The timer and the shutdown signal hold this task's waker.
    registered: bool,
    /// The connection was told to finish its request and close.
    graceful: bool,
}

impl<C: Future<Output = Result<(), hyper::Error>>> Drive<'_, '_, C> {
    #[inline]
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<(), hyper::Error>>> {
        if !self.registered {
            self.registered = true;
            // Polled once each, to leave this task's waker with them; later wake-ups read
            // their state instead.
            let _ = self.stopped.as_mut().poll(cx);
            let _ = self.timer.as_mut().poll(cx);
        }
        loop {
            if !self.graceful && self.watch.stop.stopping.load(Ordering::SeqCst) {
                self.graceful = true;
                (self.shutdown)(self.served.as_mut());
            }
            if let Poll::Ready(done) = self.served.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            if !self.timer.is_elapsed() {
                return Poll::Pending;
            }
            let conn = &self.watch.conn;
            let started = conn.started.load(Ordering::Relaxed);
            if started & ABORTED != 0 {
                return Poll::Ready(Some(Ok(())));
            }
            // (The count is read before whether a Context is kept: a request that takes the
            // kept one in between is seen in progress.)
            let count = Arc::strong_count(conn);
            if started == self.seen
                && count <= self.held + usize::from(self.spare.is_some_and(Spare::is_kept))
            {
                return Poll::Ready(None);
            }
            self.seen = started;
            self.timer.as_mut().reset(tokio::time::Instant::now() + self.watch.timeout);
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}
