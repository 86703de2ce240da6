//! Hooks for the criterion micro-benchmarks in `bench/` (routing, the middleware chain,
//! Context creation), which the public API only reaches through a whole loopback round trip.
//! Not public API: no stability, no docs beyond this.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Method;

use crate::context::Context;
use crate::error::Result;
use crate::http::channel::HttpIo;
use crate::matcher::Lookup;
use crate::routing::{catalog, Endpoint};
use crate::runtime::conn::Conn;
use crate::runtime::shared::Shared;
use crate::App;

/// An app's route table and shared state, built as `serve` would build them, and one
/// connection's share of them (as the server makes once per connection).
pub struct Built(Arc<Shared>, Arc<Conn>);

/// Builds `app` (panics on a startup error).
pub fn build(app: App) -> Built {
    let shared = app.into_shared().expect("the bench app starts");
    let conn = Conn::new(shared.clone(), SocketAddr::from(([127, 0, 0, 1], 9)));
    Built(shared, conn)
}

impl Built {
    /// Looks `path` up; true when a route answers `method` there.
    pub fn lookup(&self, method: &Method, path: &str) -> bool {
        matches!(self.0.matcher.lookup(method, path), Lookup::Found { .. })
    }

    /// A Context for `GET path` (no body), as the server creates one per request.
    pub fn context(&self, path: &str) -> Context {
        let (head, ()) = http::Request::get(path).body(()).expect("a valid path").into_parts();
        let (route, params) = match self.0.matcher.lookup(&head.method, head.uri.path()) {
            Lookup::Found { id, params } => (Some(&catalog().endpoint(id).def.path), params),
            _ => (None, Vec::new()),
        };
        let io = crate::context::Io::Http(HttpIo::new(None));
        Context::new(head, None, params, self.1.clone(), route, io)
    }
}

/// Runs the before-middleware chain of the route `ctx` matched.
pub async fn run_middleware(ctx: &Context) -> Result<()> {
    let Some(endpoint) = endpoint_of(ctx) else { return Ok(()) };
    crate::middleware::run_before(ctx, &endpoint.chain.before).await
}

fn endpoint_of(ctx: &Context) -> Option<&'static Endpoint> {
    let route = ctx.route()?;
    catalog()
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.def.path == route && e.def.methods.contains(&ctx.method().as_str()))
}
