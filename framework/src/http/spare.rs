//! A connection's spare Context: the last request's, emptied, which the next request of the
//! connection takes instead of allocating one (see `Context::renew`). A keep-alive connection
//! answers request after request with one Context, made once.

use parking_lot::{Mutex, MutexGuard};

use crate::context::Context;

/// Where a connection keeps the Context its last request left: shared by the connection's
/// service and each request's pipeline (which gives the Context back when it is dropped).
///
/// A Context holds its connection: while one is kept here, the connection's `Arc` counts one
/// more, which the connection's watch knows ([`is_kept`](Self::is_kept)) to tell a
/// connection at rest from one with a request in progress.
#[derive(Default)]
pub(crate) struct Spare(Mutex<Option<Context>>);

impl Spare {
    fn slot(&self) -> MutexGuard<'_, Option<Context>> {
        self.0.lock()
    }

    /// The kept Context, for the next request.
    pub(crate) fn take(&self) -> Option<Context> {
        self.slot().take()
    }

    /// Keeps `ctx`, emptied by `Context::retire`, for the next request.
    pub(crate) fn keep(&self, ctx: Context) {
        *self.slot() = Some(ctx);
    }

    /// Whether a Context is kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.slot().is_some()
    }
}
