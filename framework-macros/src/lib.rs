//! The attribute macros of [fratello](https://docs.rs/fratello): `#[get]`, `#[post]`,
//! `#[put]`, `#[patch]`, `#[delete]`, `#[head]`, `#[options]`, `#[route]`, `#[ws]`,
//! `#[sse]` and `#[middleware]`.
//!
//! Use them through `fratello` (`use fratello::prelude::*;`), never from this crate:
//! the code they generate names the runtime as `::fratello::__private`.
//!
//! Every macro keeps the annotated fn exactly as written and registers a static descriptor
//! of it through `inventory`, so `App::new()` finds every route and middleware of the
//! binary without a list to maintain. Mistakes (a fn that is not `async`, a parameter other
//! than `ctx: Context`, a malformed path, an unknown or repeated argument) are compile
//! errors at the offending token, all reported in one build.
//!
//! Set `FRATELLO_MACROS_DEBUG=1` while compiling to print every expansion to stderr.

mod args;
mod debug;
mod errors;
mod item;
mod middleware;
mod param_names;
mod path;
mod route;
mod signature;
mod state;

use proc_macro::TokenStream;

/// One attribute per fixed HTTP method, all delegating to [`route::expand`].
macro_rules! method_attributes {
    ($($name:ident => $method:literal, $example_path:literal, $example_fn:literal;)*) => {$(
        #[doc = concat!("Registers an `async fn(ctx: Context)` as the handler of `", $method, "` requests to a path.")]
        ///
        /// The fn's return value is the response: anything that implements
        /// `fratello::IntoResponse` (`String`, `&'static str`, `Json<T>`, `StatusCode`,
        /// `(StatusCode, T)`, `Result<T>`, ...). A handler may also stream the body with
        /// `ctx.send(..)`.
        ///
        /// # Arguments
        ///
        /// - the path, a string literal: `{name}` is a parameter read with
        ///   `ctx.param("name")`, `{*rest}` a catch-all that must be the last segment, and
        ///   `{id: u32}` a parameter with a type (any `FromStr` type): a request whose segment
        ///   does not parse gets 404, as if the route did not match, and
        ///   `ctx.param_as::<u32>("id")` cannot fail in the handler;
        /// - `with(mw, ...)`, optional: `#[middleware(route)]` fns that run for this route
        ///   only, after the global and path-scoped ones, left to right as written (naming a
        ///   global or path-scoped middleware here is a compile error: it runs already);
        /// - `state(T, ...)`, optional: the app state types the handler reads with
        ///   `ctx.state::<T>()`; the app refuses to start, naming this route and `T`, when
        ///   `App::state(..)` gave it none.
        ///
        /// # Example
        ///
        /// ```rust,ignore
        /// use fratello::prelude::*;
        ///
        #[doc = concat!("#[", stringify!($name), "(\"", $example_path, "\")]")]
        #[doc = concat!("async fn ", $example_fn, "(ctx: Context) -> Result<String> {")]
        ///     let id: u64 = ctx.param_as("id")?;
        ///     Ok(format!("item {id}"))
        /// }
        /// ```
        ///
        /// A compile error points at the mistake: the fn is not `async`, takes anything but
        /// one `Context`, the path is malformed, or an argument is unknown or repeated. In the
        /// handler's body, `ctx.param("..")` and `ctx.param_as::<T>("..")` with a literal
        /// name that is not in the path are an error at the name (``no parameter `idd` in
        /// `/users/{id}`; did you mean `id`?``). Checked are calls on the handler's `Context`
        /// parameter and on names bound to `ctx.clone()` or `&ctx`, in the body, its closures
        /// and the arguments of macros such as `format!`; not checked are names that are not
        /// literals and calls in other fns (a helper that takes `&Context`).
        #[proc_macro_attribute]
        pub fn $name(args: TokenStream, item: TokenStream) -> TokenStream {
            let kind = route::Kind::Method { name: stringify!($name), method: $method };
            route::expand(kind, args.into(), item.into()).into()
        }
    )*};
}

method_attributes! {
    get => "GET", "/items/{id}", "show";
    post => "POST", "/items/{id}/likes", "like";
    put => "PUT", "/items/{id}", "replace";
    patch => "PATCH", "/items/{id}", "update";
    delete => "DELETE", "/items/{id}", "remove";
    head => "HEAD", "/items/{id}", "exists";
    options => "OPTIONS", "/items/{id}", "describe";
}

/// Registers an `async fn(ctx: Context)` as the handler of one or more HTTP methods.
///
/// Like [`get`](macro@get) and its siblings, with the methods given by `method`: one
/// upper-case name or a list of them (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`,
/// `OPTIONS`, `TRACE`, `CONNECT`). `with(mw, ...)` and `state(T, ...)` are optional.
///
/// # Example
///
/// ```rust,ignore
/// use fratello::prelude::*;
///
/// #[route("/search", method = ["GET", "POST"], with(rate_limit))]
/// async fn search(ctx: Context) -> Result<Json<Vec<Hit>>> {
///     let query: Query = if ctx.method() == "POST" { ctx.json().await? } else { ctx.query()? };
///     Ok(Json(run(query).await?))
/// }
/// ```
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    route::expand(route::Kind::Route, args.into(), item.into()).into()
}

/// Registers an `async fn(ctx: Context)` as a WebSocket endpoint.
///
/// The upgrade request (a `GET`) runs through the middleware like any request; the fn then
/// talks to the peer with `ctx.recv()` (the next text or binary message, `None` once the
/// peer closed) and `ctx.send(..)` (one message). It returns `()` or `Result<()>`: an
/// error closes the socket with code 1011. `with(mw, ...)` and `state(T, ...)` are optional.
///
/// # Example
///
/// ```rust,ignore
/// use fratello::prelude::*;
///
/// #[ws("/echo")]
/// async fn echo(ctx: Context) -> Result<()> {
///     while let Some(msg) = ctx.recv().await? {
///         ctx.send(msg.as_text()?.to_uppercase()).await?;
///     }
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn ws(args: TokenStream, item: TokenStream) -> TokenStream {
    route::expand(route::Kind::Ws, args.into(), item.into()).into()
}

/// Registers an `async fn(ctx: Context)` as a Server-Sent-Events stream.
///
/// The request (a `GET`) runs through the middleware like any request; the fn then sends
/// events with `ctx.send(..)` (an `Event`, or text for a plain `data:` event), which
/// returns `Err` once the client is gone. It returns `()` or `Result<()>`; returning ends
/// the stream. `with(mw, ...)` and `state(T, ...)` are optional.
///
/// # Example
///
/// ```rust,ignore
/// use fratello::prelude::*;
///
/// #[sse("/clock")]
/// async fn clock(ctx: Context) -> Result<()> {
///     loop {
///         ctx.send(Event::new().event("tick").data(now())).await?;
///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn sse(args: TokenStream, item: TokenStream) -> TokenStream {
    route::expand(route::Kind::Sse, args.into(), item.into()).into()
}

/// Registers an `async fn(ctx: Context)` as middleware.
///
/// There is no `next` callback: returning `Ok(())` (or `()`) lets the request go on,
/// returning `Err(e)` answers with `e` and stops. Data for later middleware and handlers
/// goes into the request with `ctx.set(value)`.
///
/// # Scope: where it runs, said where it is declared
///
/// - `#[middleware]`: global, for every route;
/// - `#[middleware(path = "/api")]`: for the requests whose path is under a prefix
///   (segment-wise), or matches a pattern with whole-segment parameters
///   (`path = "/polls/{id}/vote"`), whatever route answers them;
/// - `#[middleware(route)]`: only for the routes that name it in `with(...)`, and nowhere
///   else; it takes neither `path` nor `order` (the `with` list gives its order).
///
/// # Arguments, all optional
///
/// - `order = N` (an `i32`, default 0), for global and path-scoped middleware: lower runs
///   first; ties are broken by name, so the order never depends on link order. A route's
///   `with(...)` list runs after all of them, as written;
/// - `after`: runs after the handler, on the response (for `#[ws]` and `#[sse]` routes,
///   on the handshake response);
/// - `state(T, ...)`: the app state types it reads, checked when the app starts, as for
///   routes.
///
/// The fn's name becomes a value that stands for the middleware (the fn itself is renamed
/// away), so a `use` of it brings it to `with(...)`; `App::routes()` lists each route's
/// chain with every middleware's scope.
///
/// # Example
///
/// ```rust,ignore
/// use fratello::prelude::*;
///
/// #[middleware(path = "/api", order = 10)]
/// async fn auth(ctx: Context) -> Result<()> {
///     let token = ctx.header("authorization").ok_or_else(|| Error::unauthorized("missing token"))?;
///     ctx.set(User::from_token(token)?);
///     Ok(())
/// }
///
/// #[middleware(route)]
/// async fn audit(ctx: Context) {
///     tracing::info!(path = ctx.path(), "audited");
/// }
///
/// #[get("/admin", with(audit))]
/// async fn admin(_ctx: Context) -> &'static str {
///     "welcome"
/// }
/// ```
#[proc_macro_attribute]
pub fn middleware(args: TokenStream, item: TokenStream) -> TokenStream {
    middleware::expand(args.into(), item.into()).into()
}
