//! The boxed, sendable futures that handlers, middleware and waits for room are erased to:
//! [`BoxFuture`], and [`ReusableFuture`], whose box a connection's next request fills again.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::ReusableBoxFuture;

/// A boxed, sendable future: the shape every registered handler is erased to.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A boxed, sendable future whose box can take the next future of the same size and
/// alignment instead of a new allocation: an HTTP handler's, which the next request of its
/// connection refills (tokio-util's `ReusableBoxFuture` does the type-erased reuse).
pub struct ReusableFuture<T>(ReusableBoxFuture<'static, T>);

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

    /// The size of the future in the box: what keeping the box costs.
    pub(crate) fn size(&mut self) -> usize {
        std::mem::size_of_val(&*self.0.get_pin())
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
