//! The static descriptors that the attribute macros submit through `inventory`.

use crate::future::{BoxFuture, ReusableFuture};
use crate::response::Answered;
use crate::Context;

/// The protocol a route speaks after its middleware chain has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// A plain HTTP request and response (`#[get]`, `#[post]`, `#[route]`, ...).
    Http,
    /// A WebSocket session (`#[ws]`), entered through an HTTP/1.1 upgrade.
    Ws,
    /// A Server-Sent-Events stream (`#[sse]`).
    Sse,
    /// A tower service mounted under a path with [`App::mount`](crate::App::mount) (in
    /// [`App::routes`](crate::App::routes) listings; never a declared route's kind).
    Mount,
}

impl RouteKind {
    /// The attribute that declares a route of this kind, for messages and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Http => "http",
            RouteKind::Ws => "ws",
            RouteKind::Sse => "sse",
            RouteKind::Mount => "mount",
        }
    }
}

/// A type-erased route handler.
#[derive(Clone, Copy)]
pub enum Handler {
    /// An HTTP handler: its return value becomes the response. Its future goes in the box of
    /// the one the connection's last request left, when there is one.
    Http(fn(Context, Option<ReusableFuture<Answered>>) -> ReusableFuture<Answered>),
    /// A WebSocket or SSE handler: it talks through `ctx.send`/`ctx.recv` and returns
    /// `Ok(())` or an error (close 1011 for a socket, end of stream for SSE).
    Stream(fn(Context) -> BoxFuture<crate::Result<()>>),
}

/// One route, as declared by a route attribute.
pub struct RouteDef {
    /// HTTP, WebSocket or SSE.
    pub kind: RouteKind,
    /// Upper-case method names (`GET`, `POST`, ...); `GET` for ws and sse routes.
    pub methods: &'static [&'static str],
    /// The path pattern, e.g. `/users/{id}` or `/static/{*rest}` (without the parameters'
    /// types, which are in `param_types`).
    pub path: &'static str,
    /// The parameters declared with a type (`{id: u32}`): the request's segment must parse
    /// for the route to match.
    pub param_types: &'static [ParamType],
    /// The erased handler.
    pub handler: Handler,
    /// Route middleware named in `with(...)`, in the order written.
    pub middleware: &'static [&'static MiddlewareDef],
    /// App state the route declares with `state(T, ..)`, checked when the app starts.
    pub states: &'static [StateNeed],
    /// The handler fn's name.
    pub name: &'static str,
    /// `module_path!()` at the declaration (used by `App::only`).
    pub module_path: &'static str,
    /// `file!()` at the declaration.
    pub file: &'static str,
    /// `line!()` at the declaration.
    pub line: u32,
}

/// One middleware, as declared by `#[middleware]`.
pub struct MiddlewareDef {
    /// The middleware fn's name.
    pub name: &'static str,
    /// Lower runs first among global and path middleware; ties are broken by name, then
    /// module path. (Route middleware runs in the order of `with(..)`.)
    pub order: i32,
    /// Which requests it runs for.
    pub scope: Scope,
    /// Runs after the handler, on the response head, instead of before it.
    pub after: bool,
    /// The erased middleware fn.
    pub run: fn(Context) -> BoxFuture<crate::Result<()>>,
    /// App state the middleware declares with `state(T, ..)`, checked when the app starts
    /// for every route it runs for.
    pub states: &'static [StateNeed],
    /// `module_path!()` at the declaration.
    pub module_path: &'static str,
    /// `file!()` at the declaration.
    pub file: &'static str,
    /// `line!()` at the declaration.
    pub line: u32,
}

impl MiddlewareDef {
    /// Two descriptors are the same middleware when they were declared at the same place.
    /// (A `const` reference may be duplicated by the compiler, so addresses are not used.)
    pub(crate) fn same_as(&self, other: &MiddlewareDef) -> bool {
        self.name == other.name
            && self.module_path == other.module_path
            && self.line == other.line
            && self.file == other.file
    }
}

/// Which requests a middleware runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every request (`#[middleware]`).
    Global,
    /// Requests whose path is under this prefix or pattern, whatever route answers them
    /// (`#[middleware(path = "/polls/{id}/vote")]`).
    Path(&'static str),
    /// The routes that name it in `with(..)`, where they name it (`#[middleware(route)]`).
    Route,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Path(p) => write!(f, "path {p}"),
            Scope::Route => f.write_str("route"),
        }
    }
}

/// App state that a route or middleware declares it reads (`state(T)`): the app refuses to
/// start without a value of that type.
pub struct StateNeed {
    /// The type's id (a fn: `TypeId::of` is not `const`).
    pub type_id: fn() -> std::any::TypeId,
    /// The type as written in `state(..)`, for the startup error.
    pub name: &'static str,
}

/// A path parameter declared with a type, `{id: u32}`.
pub struct ParamType {
    /// The parameter's name.
    pub name: &'static str,
    /// The type as written, for messages.
    pub type_name: &'static str,
    /// Whether a (percent-decoded) segment parses as the type.
    pub parses: fn(&str) -> bool,
}

impl RouteDef {
    /// The first typed parameter whose value in `params` does not parse, if any.
    pub(crate) fn unparsed_param(&self, params: &[(&'static str, Box<str>)]) -> Option<&'static ParamType> {
        self.param_types.iter().find(|ty| {
            params.iter().find(|(name, _)| *name == ty.name).is_some_and(|(_, value)| !(ty.parses)(value))
        })
    }
}

/// The inventory entry for a middleware (the descriptor itself lives in a `const`).
pub struct MiddlewareRegistration(pub &'static MiddlewareDef);

inventory::collect!(RouteDef);
inventory::collect!(MiddlewareRegistration);
