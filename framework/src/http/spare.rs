//! A connection's spare Context: the last request's, emptied, which the next request of the
//! connection takes instead of allocating one (see `Context::renew`). A keep-alive connection
//! answers request after request with one Context, made once.

use parking_lot::{Mutex, MutexGuard};

use crate::context::Context;
use crate::future::ReusableFuture;
use crate::response::Answered;

/// Where a connection keeps the Context its last request left: shared by the connection's
/// service and each request's pipeline (which gives the Context back when it is dropped).
///
/// A Context holds its connection: while one is kept here, the connection's `Arc` counts one
/// more, which the connection's watch knows ([`is_kept`](Self::is_kept)) to tell a
/// connection at rest from one with a request in progress.
#[derive(Default)]
pub(crate) struct Spare(Mutex<Option<Kept>>);

/// What a request leaves to the next one of its connection.
pub(crate) struct Kept {
    /// Its Context, emptied.
    pub(crate) ctx: Context,
    /// Its handler's box, the future in it over, for the next handler's future if that has
    /// the same layout (a connection's requests often go to one route).
    pub(crate) handler: Option<ReusableFuture<Answered>>,
}

impl Spare {
    fn slot(&self) -> MutexGuard<'_, Option<Kept>> {
        self.0.lock()
    }

    /// What the last request left, for the next request.
    pub(crate) fn take(&self) -> Option<Kept> {
        self.slot().take()
    }

    /// Keeps what a request left: its Context, emptied by `Context::retire`, and its handler's
    /// box.
    pub(crate) fn keep(&self, kept: Kept) {
        // (Nothing is kept while a request runs: the slot is empty, and nothing is dropped.)
        if let Some(earlier) = self.slot().replace(kept) {
            drop(earlier);
        }
    }

    /// Whether a Context is kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.slot().is_some()
    }
}
