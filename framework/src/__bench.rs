//! Hooks for the criterion micro-benchmarks in `bench/` (routing, the middleware chain,
//! Context creation), which the public API only reaches through a whole loopback round trip.
//! Not public API: no stability, no docs beyond this.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Method;

use crate::app::Shared;
use crate::routing::Lookup;
use crate::{App, Context, Result};

/// An app's route table and shared state, built as `serve` would build them, and one
/// connection's share of them (as the server makes once per connection).
pub struct Built(Arc<Shared>, Arc<crate::server::Conn>);

/// Builds `app` (panics on a startup error).
pub fn build(app: App) -> Built {
    let shared = app.into_shared().expect("the bench app starts");
    let conn = crate::server::Conn::new(shared.clone(), SocketAddr::from(([127, 0, 0, 1], 9)));
    Built(shared, conn)
}

impl Built {
    /// Looks `path` up; true when a route answers `method` there.
    pub fn lookup(&self, method: &Method, path: &str) -> bool {
        matches!(self.0.router.lookup(method, path), Lookup::Found { .. })
    }

    /// A Context for `GET path` (no body), as the server creates one per request.
    pub fn context(&self, path: &str) -> Context {
        let (head, ()) = http::Request::get(path).body(()).expect("a valid path").into_parts();
        let (endpoint, params) = match self.0.router.lookup(&head.method, head.uri.path()) {
            Lookup::Found { id, params, .. } => (Some(id), params),
            _ => (None, Vec::new()),
        };
        Context::new(head, None, None, params, self.1.clone(), endpoint)
    }
}

/// Runs the before-middleware chain of the route `ctx` matched.
pub async fn run_middleware(ctx: &Context) -> Result<()> {
    crate::middleware::run_before(ctx).await
}
