//! [`BoxFuture`]: the boxed, sendable future that handlers, middleware and waits for room are
//! erased to.

use std::future::Future;

/// A boxed, sendable future: the shape every registered handler is erased to.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
