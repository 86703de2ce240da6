//! Middleware: `async fn(ctx: Context) -> Result<()>` marked `#[middleware]`, with no `next`.
//!
//! - **Before** (the default): runs before the handler. `Ok(())` continues; `Err(e)` answers
//!   with `e` and stops the chain (the handler does not run, and for a WebSocket route no
//!   socket is opened). It hands values to the handler with `ctx.set(..)`.
//! - **After** (`#[middleware(after)]`): runs on the response head just before it is sent:
//!   after the handler returns, at the first `send` of a streamed response, or on the
//!   handshake response of a WebSocket or SSE route. It reads and changes the response with
//!   `ctx.response_status()`, `ctx.response_header(..)`, `ctx.set_status(..)`,
//!   `ctx.set_header(..)` and `ctx.set_body(..)`; `Err(e)` replaces the response with `e`'s.
//!
//! **Scope.** A middleware applies to every route (global), or with `path = "/prefix"` to the
//! requests whose path is under that prefix (segment-wise: `/api` covers `/api/x`, not
//! `/apix`), whatever route answers them: a catch-all `/{*rest}` or a `/{a}/{b}` route that
//! serves `/api/x` runs the `/api` guard too (see [`routing`](crate::routing)). A middleware
//! that some route names in `with(...)` is route-only: it runs exactly for the routes that name
//! it. The same rules hold for HTTP, WebSocket and SSE routes alike.
//!
//! **Order.** All middleware that applies to a route (global, scoped and `with`) runs sorted by
//! `(order, name)`, lower `order` first (default 0), so the order never depends on link order.
//! `App::routes()` lists the resulting chain of every route.
//!
//! ```ignore
//! use fratello::prelude::*;
//!
//! #[derive(Clone)]
//! struct User { name: String }
//!
//! #[middleware(path = "/api", order = 10)]
//! async fn auth(ctx: Context) -> Result<()> {
//!     let token = ctx.header("authorization").ok_or_else(|| Error::unauthorized("missing token"))?;
//!     ctx.set(User { name: token.trim_start_matches("Bearer ").to_owned() });
//!     Ok(())
//! }
//!
//! #[middleware(after)]
//! async fn server_header(ctx: Context) -> Result<()> {
//!     ctx.set_header("server", "fratello");
//!     Ok(())
//! }
//! ```

use crate::context::Context;
use crate::error::Result;
use crate::matcher::path::RequestPath;
use crate::response::{IntoResponse, Response};
use crate::routing::Step;

/// Runs the before-middleware `steps` that apply to the request's path, in order; stops at the
/// first error.
pub(crate) async fn run_before(ctx: &Context, steps: &[Step]) -> Result<()> {
    for step in steps {
        if step.only_under.is_some() && !step.applies(&RequestPath::new(ctx.path())) {
            continue;
        }
        (step.mw.run)(ctx.clone()).await?;
    }
    Ok(())
}

/// Runs the after-middleware `steps` that apply to the request's path on `res`: its head is
/// exposed through the Context's response methods. An error replaces the response with the
/// error's (which keeps the headers set so far).
pub(crate) async fn run_after(ctx: &Context, steps: &[Step], mut res: Response) -> Response {
    let path = RequestPath::new(ctx.path());
    if !steps.iter().any(|s| s.applies(&path)) {
        return res;
    }
    ctx.expose_response(&mut res);
    for step in steps {
        if !step.applies(&path) {
            continue;
        }
        let mw = step.mw;
        let r =
            crate::panic::catch((mw.run)(ctx.clone()), || format!("after-middleware `{}`", mw.name)).await;
        if let Err(e) = r {
            let headers = ctx.take_response_headers();
            let mut err = e.into_response();
            err.headers_mut().extend(headers);
            return err;
        }
    }
    ctx.restore_response(&mut res);
    res
}
