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
//! **Scope**, said where the middleware is declared, never changed from a distance:
//!
//! - `#[middleware]` is global: it runs for every route.
//! - `#[middleware(path = "/api")]` runs for the requests whose path is under that prefix
//!   (segment-wise: `/api` covers `/api/x`, not `/apix`), whatever route answers them: a
//!   catch-all `/{*rest}` or a `/{a}/{b}` route that serves `/api/x` runs the `/api` guard too
//!   (see [`routing`](crate::routing)). The path may be a pattern with whole-segment
//!   parameters, `path = "/polls/{id}/vote"`, to cover exactly the requests that match it.
//! - `#[middleware(route)]` runs only for the routes that name it in `with(..)`. Naming a
//!   global or path-scoped middleware in `with(..)` is a compile error (it runs already), so
//!   removing the last `with` never turns a guard global.
//!
//! The same rules hold for HTTP, WebSocket and SSE routes alike.
//!
//! **Order.** Global and path-scoped middleware run sorted by `(order, name)`, lower `order`
//! first (default 0), so the order never depends on link order; then the route's `with(..)`
//! list, left to right as written. [`App::routes`](crate::App::routes) lists every route's
//! chain with each middleware's scope, and the app logs it at `debug` when it starts.
//!
//! **State.** `state(T, ..)` on a middleware (as on a route) names the app state it reads
//! with `ctx.state::<T>()`; the app refuses to start, naming the middleware and `T`, when no
//! [`App::state`](crate::App::state) gave it.
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
//! #[middleware(route)]
//! async fn admin_only(ctx: Context) -> Result<()> {
//!     match ctx.get::<User>() {
//!         Some(u) if u.name == "root" => Ok(()),
//!         _ => Err(Error::forbidden("admins only")),
//!     }
//! }
//!
//! #[get("/api/admin/stats", with(admin_only))]
//! async fn stats(_ctx: Context) -> &'static str {
//!     "all good"
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
