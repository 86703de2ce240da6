//! The route table: what the macros registered, matched by path and method.
//!
//! Paths are matched exactly, segment by segment: `{name}` matches one segment, `{*name}`
//! the rest of the path (at least one character). Static segments win over parameters.
//!
//! - **HEAD** is answered by the GET route when there is no HEAD route (without a body).
//! - A path that matches with a **wrong method** gets 405 with an `Allow` header.
//! - **Trailing slash:** `/a` and `/a/` are different paths. When only the other form is
//!   routed, the answer is a 308 redirect to it (method and body are kept), so links with a
//!   stray slash still work without two routes. A path that a browser would read as another
//!   host (one that starts with `//`, or holds a `\`) is never redirected: it gets 404.
//! - **Path-scoped middleware** (`#[middleware(path = "/api")]`) runs for every request whose
//!   path is under its prefix, whatever route answers it: a `/{section}/{page}` or `/{*rest}`
//!   route serving `/api/x` (or `/%61pi/x`) runs the `/api` guard too. For such a route the
//!   request's path is compared segment by segment, both as received and percent-decoded with
//!   `.`/`..` and empty segments resolved, and the middleware runs when either is under the
//!   prefix. Paths are case-sensitive.

mod catalog;
mod chain;
mod info;
mod registry;
mod table;

pub use self::info::{MiddlewareInfo, RouteInfo};
pub use self::registry::{
    Handler, MiddlewareDef, MiddlewareRegistration, RouteDef, RouteKind, Scope, StateNeed,
};
pub(crate) use self::{catalog::catalog, catalog::Endpoint, chain::Step, table::build};
