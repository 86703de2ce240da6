//! [`App`]: the registered routes and middleware, the app state and the server limits.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};

use crate::broadcast::Hub;
use crate::routing::{MiddlewareDef, MiddlewareRegistration, RouteDef, RouteInfo, RouteKind, Router};
use crate::sse::SseConfig;
use crate::ws::WsConfig;

/// Server limits and timeouts. Every field has a builder method on [`App`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest body that `ctx.body()`, `text()` and `json()` accept (413 above).
    /// Streaming with `ctx.recv()` is not limited. Default 2 MiB.
    pub max_body: usize,
    /// Most request headers accepted (HTTP/1.1: 431 above). Default 100.
    pub max_headers: usize,
    /// Time a connection may go without starting a request while none is in progress: a
    /// client that sends its request head too slowly (slowloris), or leaves a keep-alive
    /// connection idle, is disconnected. Watched per connection (one timer each, not one per
    /// request), so a connection goes between one and two of these after its last request.
    /// A request is in progress while its Context (or a clone of it, in a task the handler
    /// spawned) or a response body it returned is alive. Default 30 s.
    pub header_read_timeout: Duration,
    /// Most simultaneous connections; further clients wait in the listen backlog. A WebSocket
    /// or an SSE stream holds its connection's place until it ends. Default 25,000.
    pub max_connections: usize,
    /// Most simultaneous connections from one peer (an IPv4 address, or an IPv6 /64 network);
    /// a connection over it is closed as soon as it is accepted. `None` (the default): no
    /// limit per peer, since clients behind one NAT or proxy share an address.
    pub max_connections_per_ip: Option<usize>,
    /// Time a request body may go without a chunk arriving, once its handler reads it
    /// (`recv`, `body`, `text`, `json`): past it the read fails with 408. Default 30 s.
    pub body_read_timeout: Duration,
    /// Time `body()`, `text()` and `json()` may take to read a whole body (408 past it), so
    /// that a client trickling a body cannot hold a request open for long. Streaming with
    /// `recv()` is bounded only by [`body_read_timeout`](Self::body_read_timeout) between
    /// chunks. Default 60 s.
    pub body_timeout: Duration,
    /// Time a streamed response (`ctx.send` on an HTTP route, or an SSE stream) may wait for
    /// its client to take anything: a client that stops reading is given up then (the
    /// handler's `send` fails, a room stops forwarding to it) and its connection is closed
    /// within one [`header_read_timeout`](Self::header_read_timeout) more, instead of holding
    /// it and the handler forever. Default 30 s.
    pub write_timeout: Duration,
    /// Bytes of request headers (names and values) that a WebSocket or SSE session keeps for
    /// its lifetime, for its handler and middleware to read: headers past it, in the order
    /// received, are dropped (each that does not fit; later smaller ones still may). Plain
    /// HTTP requests keep all their headers for their short life. Default 16 KiB.
    pub max_session_header_bytes: usize,
    /// Time graceful shutdown waits for open requests and streams before closing them.
    /// Default 10 s.
    pub shutdown_timeout: Duration,
    /// Settings of SSE streams.
    pub sse: SseConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body: 2 * 1024 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
            max_connections: 25_000,
            max_connections_per_ip: None,
            body_read_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_session_header_bytes: 16 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            sse: SseConfig::default(),
        }
    }
}

/// What every connection and Context shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) states: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    pub(crate) config: Config,
    ws_default: Arc<WsConfig>,
    ws_routes: HashMap<String, Arc<WsConfig>>,
    /// Open WebSocket sessions and SSE streams, which shutdown waits for.
    pub(crate) sessions: crate::ws::Sessions,
    pub(crate) hub: Hub,
}

impl Shared {
    pub(crate) fn ws_config(&self, route: &str) -> Arc<WsConfig> {
        self.ws_routes.get(route).unwrap_or(&self.ws_default).clone()
    }

    pub(crate) fn state<T: 'static>(&self) -> Option<&T> {
        self.states.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref())
    }
}

/// A fratello application: every route and middleware registered with the attribute macros,
/// plus state and limits.
///
/// ```no_run
/// use fratello::prelude::*;
///
/// #[get("/")]
/// async fn index(_ctx: Context) -> &'static str {
///     "hello"
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     App::new().max_body(8 << 20).serve("127.0.0.1:8080").await
/// }
/// ```
pub struct App {
    only: Option<String>,
    states: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    config: Config,
    ws_default: WsConfig,
    ws_routes: Vec<(String, WsConfig)>,
    hub: Hub,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("only", &self.only).field("config", &self.config).finish_non_exhaustive()
    }
}

impl App {
    /// An app with every route registered anywhere in the program.
    ///
    /// Routes in a library crate are found as long as the crate is linked into the binary,
    /// which it is once the binary uses any item of it (a `use` alone is not enough: call a
    /// function, or write `use mylib as _;` *and* reference one item, e.g. `mylib::init()`).
    pub fn new() -> Self {
        App {
            only: None,
            states: HashMap::new(),
            config: Config::default(),
            ws_default: WsConfig::default(),
            ws_routes: Vec::new(),
            hub: Hub::new(),
        }
    }

    /// An app with only the routes declared in modules whose path starts with `module_prefix`
    /// (e.g. `"my_crate::admin"`, or `module_path!()`): several apps in one binary, or one
    /// isolated app per test. Middleware is not filtered: a global middleware applies to every
    /// app, so that a guard can never be left out by accident.
    pub fn only(module_prefix: impl Into<String>) -> Self {
        App { only: Some(module_prefix.into()), ..App::new() }
    }

    /// Adds app-wide state, read in handlers with `ctx.state::<T>()` (one value per type).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(TypeId::of::<T>(), Box::new(value));
        self
    }

    /// Largest body `ctx.body()`/`text()`/`json()` accept; larger ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.config.max_body = bytes;
        self
    }

    /// Most request headers accepted.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.config.max_headers = count;
        self
    }

    /// Time a connection may go without starting a request while none is in progress (see
    /// [`Config::header_read_timeout`]).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// Most simultaneous connections.
    pub fn max_connections(mut self, count: usize) -> Self {
        self.config.max_connections = count.max(1);
        self
    }

    /// Most simultaneous connections from one peer (see [`Config::max_connections_per_ip`]).
    pub fn max_connections_per_ip(mut self, count: usize) -> Self {
        self.config.max_connections_per_ip = Some(count.max(1));
        self
    }

    /// Time a request body may go without a chunk (see [`Config::body_read_timeout`]).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_read_timeout = timeout;
        self
    }

    /// Time `body()`, `text()` and `json()` may take (see [`Config::body_timeout`]).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_timeout = timeout;
        self
    }

    /// Time a streamed response may wait for its client (see [`Config::write_timeout`]).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Request header bytes a socket or stream keeps (see
    /// [`Config::max_session_header_bytes`]).
    pub fn max_session_header_bytes(mut self, bytes: usize) -> Self {
        self.config.max_session_header_bytes = bytes;
        self
    }

    /// Time graceful shutdown waits before closing what is still open.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// WebSocket limits and timeouts for every `#[ws]` route without its own.
    pub fn ws_config(mut self, config: WsConfig) -> Self {
        self.ws_default = config;
        self
    }

    /// WebSocket limits and timeouts for the `#[ws]` route declared with `path` (the pattern as
    /// written, e.g. `"/rooms/{id}"`). Naming a path that is not a `#[ws]` route fails at startup.
    pub fn ws_route_config(mut self, path: impl Into<String>, config: WsConfig) -> Self {
        self.ws_routes.push((path.into(), config));
        self
    }

    /// Settings of SSE streams (keep-alive interval, shutdown retry hint, queue).
    pub fn sse_config(mut self, config: SseConfig) -> Self {
        self.config.sse = config;
        self
    }

    /// Replaces the app's broadcast hub (e.g. one with other sizes or a multi-instance backend).
    pub fn with_hub(mut self, hub: Hub) -> Self {
        self.hub = hub;
        self
    }

    /// The app's broadcast hub, e.g. for a task that publishes to rooms while the app serves.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// The current limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn selected(&self) -> (Vec<&'static RouteDef>, Vec<&'static RouteDef>) {
        let all: Vec<&'static RouteDef> = inventory::iter::<RouteDef>.into_iter().collect();
        let chosen = all
            .iter()
            .copied()
            .filter(|r| self.only.as_deref().is_none_or(|p| module_under(p, r.module_path)))
            .collect();
        (chosen, all)
    }

    fn middleware() -> Vec<&'static MiddlewareDef> {
        inventory::iter::<MiddlewareRegistration>.into_iter().map(|m| m.0).collect()
    }

    fn router(&self) -> Result<Router, String> {
        let (chosen, all) = self.selected();
        if chosen.is_empty() {
            return Err(match &self.only {
                None => "fratello: no routes are registered, so every request would get 404. \
                         Mark handlers with #[get(\"/path\")] (or #[post], #[ws], #[sse], ...); if they \
                         live in a library crate, make sure the binary uses an item of that crate so it \
                         is linked in."
                    .to_owned(),
                Some(p) => {
                    let mut modules: Vec<&str> = all.iter().map(|r| r.module_path).collect();
                    modules.sort_unstable();
                    modules.dedup();
                    format!(
                        "fratello: App::only({p:?}) selects no routes; modules with routes: {}",
                        if modules.is_empty() { "none".to_owned() } else { modules.join(", ") }
                    )
                }
            });
        }
        Router::build(chosen, &all, &Self::middleware())
    }

    /// The route table: every route this app serves, with its middleware chain.
    pub fn routes(&self) -> Vec<RouteInfo> {
        match self.router() {
            Ok(r) => r.infos().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// Checks the route table as serving would: no routes, clashing routes and conflicting
    /// middleware are errors whose message names the declarations (`file:line`).
    pub fn check(&self) -> Result<(), String> {
        self.router().map(drop)
    }

    pub(crate) fn into_shared(self) -> io::Result<Arc<Shared>> {
        let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
        let router = self.router().map_err(invalid)?;
        let mut ws_routes = HashMap::new();
        for (path, config) in self.ws_routes {
            if !router.infos().iter().any(|r| r.kind == RouteKind::Ws && r.path == path) {
                return Err(invalid(format!(
                    "App::ws_route_config({path:?}): this app has no #[ws] route with that path"
                )));
            }
            ws_routes.insert(path, Arc::new(config));
        }
        Ok(Arc::new(Shared {
            router,
            states: self.states,
            config: self.config,
            ws_default: Arc::new(self.ws_default),
            ws_routes,
            sessions: Default::default(),
            hub: self.hub,
        }))
    }

    /// Binds `addr` (listen backlog 1024) and serves until Ctrl-C or SIGTERM, then shuts down
    /// gracefully within [`Config::shutdown_timeout`].
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let listener = crate::server::bind(addr).await?;
        self.serve_with(listener, crate::server::shutdown_signal()).await
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down gracefully.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let shared = self.into_shared()?;
        crate::server::run(shared, listener, shutdown).await
    }

    /// Like [`serve_with`](Self::serve_with), but validates the routes first and returns the
    /// address being served and the server future, e.g. to print the address before serving.
    pub fn bind_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<(SocketAddr, impl Future<Output = io::Result<()>> + Send + 'static)> {
        let addr = listener.local_addr()?;
        let shared = self.into_shared()?;
        Ok((addr, crate::server::run(shared, listener, shutdown)))
    }
}

/// `a::b` is under `a` and `a::b`, not under `a::bc`.
fn module_under(prefix: &str, module: &str) -> bool {
    module.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}
