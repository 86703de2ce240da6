//! A connection's spare Context: the last request's, emptied, which the next request of the
//! connection takes instead of allocating one (see `Context::renew`); and the boxes of its
//! handler's and middleware's futures, which the next request's futures fill again. A
//! keep-alive connection answers request after request with one Context, made once.

use parking_lot::{Mutex, MutexGuard};

use crate::context::Context;
use crate::future::ReusableFuture;
use crate::middleware::SpentChain;
use crate::response::Response;

/// Where a connection keeps the Context and the boxes its last request left: shared by the
/// connection's service and each request's pipeline (which gives them back when it is
/// dropped).
///
/// A Context holds its connection: while one is kept here, the connection's `Arc` counts one
/// more, which the connection's watch knows ([`is_kept`](Self::is_kept)) to tell a
/// connection at rest from one with a request in progress.
#[derive(Default)]
pub(crate) struct Spare {
    kept: Mutex<Option<Kept>>,
    /// The boxes of the last before-middleware chain (kept apart: a request to a route
    /// without middleware neither takes nor moves them).
    before: Mutex<Option<Box<SpentChain>>>,
}

/// What a request leaves to the next one of its connection.
pub(crate) struct Kept {
    /// Its Context, emptied.
    pub(crate) ctx: Context,
    /// Its handler's box, the future in it over, for the next handler's future if that has
    /// the same layout (a connection's requests often go to one route).
    pub(crate) handler: Option<ReusableFuture<Response>>,
}

impl Spare {
    fn slot(&self) -> MutexGuard<'_, Option<Kept>> {
        self.kept.lock()
    }

    /// What the last request left, for the next request.
    pub(crate) fn take(&self) -> Option<Kept> {
        self.slot().take()
    }

    /// Keeps what a request left: its Context, emptied by `Context::retire`, and its handler's
    /// box.
    pub(crate) fn keep(&self, kept: Kept) {
        *self.slot() = Some(kept);
    }

    /// The boxes the last before-middleware chain left, for the next chain's futures (empty
    /// ones for the connection's first chain).
    pub(crate) fn take_before(&self) -> Box<SpentChain> {
        self.before.lock().take().unwrap_or_default()
    }

    /// Keeps the boxes a before-middleware chain left.
    pub(crate) fn keep_before(&self, spent: Box<SpentChain>) {
        *self.before.lock() = Some(spent);
    }

    /// Whether a Context is kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.slot().is_some()
    }
}
