//! The route table: what the macros registered, matched by path and method.
//!
//! Paths are matched exactly, segment by segment: `{name}` matches one segment, `{*name}`
//! the rest of the path (at least one character). Static segments win over parameters.
//!
//! - **Typed parameters:** `{id: u32}` matches a segment that parses as `u32` (any `FromStr`
//!   type), percent-decoded. One that does not parse is answered 404, not 400: the path does
//!   not name anything this route serves (`/users/abc` under `/users/{id: u32}` is as absent
//!   as `/nothing`), and a 400 would tell clients that a route exists they could fix their
//!   request for. Two routes whose paths differ only in a parameter's type clash at startup:
//!   the router picks a route by its path's shape, then checks the types. A wrong method on a
//!   typed path gets 405 before the types are checked.
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
    Handler, MiddlewareDef, MiddlewareRegistration, ParamType, RouteDef, RouteKind, Scope, StateNeed,
};
pub(crate) use self::{catalog::catalog, catalog::Endpoint, chain::Step, table::build};
