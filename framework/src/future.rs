//! The boxed, sendable futures that handlers, middleware and waits for room are erased to:
//! [`BoxFuture`], and [`ReusableFuture`], whose box a connection's next request fills again.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::ReusableBoxFuture;

/// A boxed, sendable future: the shape WebSocket and SSE handlers are erased to, and the rest
/// of a request's work after its handler.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The largest box of a future that is over that a connection keeps for its next request.
const KEPT_BYTES: usize = 1024;

/// A boxed, sendable future whose box can take the next future of the same size and
/// alignment instead of a new allocation: an HTTP handler's or a middleware's, which the next
/// request of its connection refills (tokio-util's `ReusableBoxFuture` does the type-erased
/// reuse).
pub struct ReusableFuture<T>(ReusableBoxFuture<'static, T>);

/// A middleware's erased future, in a box that the next request's middleware at its step of the
/// chain can take.
pub type MiddlewareFuture = ReusableFuture<crate::Result<()>>;

impl<T> ReusableFuture<T> {
    /// `future`, in the box of `spent` (a future that is over) when its layout fits, in a new
    /// box otherwise.
    pub(crate) fn refill<F>(spent: Option<Self>, future: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        match spent {
            Some(mut spent) => {
                spent.0.set(future);
                spent
            }
            None => ReusableFuture(ReusableBoxFuture::new(future)),
        }
    }

    /// Whether the box is small enough for a connection to keep between requests: an idle
    /// connection holds it, and one future with large locals must not make every idle
    /// connection that large.
    pub(crate) fn worth_keeping(&mut self) -> bool {
        std::mem::size_of_val(&*self.0.get_pin()) <= KEPT_BYTES
    }
}

impl<T> Future for ReusableFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.0.poll(cx)
    }
}

impl<T> std::fmt::Debug for ReusableFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReusableFuture")
    }
}
