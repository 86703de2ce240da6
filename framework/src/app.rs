//! [`App`]: the registered routes and middleware, the app state and the server limits.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};

use crate::broadcast::Hub;
pub use crate::config::Config;
use crate::config::{SseConfig, WsConfig};
use crate::layer::{AppService, LayerFn};
use crate::matcher::Matcher;
use crate::mount::{check_prefix, mount_pattern, mount_service, Mount, MountDef};
use crate::routing::{RouteInfo, RouteKind};
use crate::runtime::sessions::SessionRegistry;
use crate::runtime::shared::Shared;
use crate::server::Transport;
use crate::startup::StartupError;
#[cfg(feature = "tls")]
use crate::tls::accept::TlsServer;

/// The smallest head limit: hyper's read buffer starts at 8 KiB.
const MIN_HEADER_BYTES: usize = 8 * 1024;

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
/// async fn main() -> Result<(), fratello::StartupError> {
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
    cookie_key: Option<crate::cookie::Key>,
    layers: Vec<LayerFn>,
    mounts: Vec<MountDef>,
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
            cookie_key: None,
            layers: Vec::new(),
            mounts: Vec::new(),
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

    /// Largest request head accepted, in bytes (see [`Config::max_header_bytes`]; 8 KiB at
    /// least).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.config.max_header_bytes = bytes.max(MIN_HEADER_BYTES);
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

    /// The key that signs and encrypts cookies ([`Context::set_signed_cookie`](crate::Context::set_signed_cookie),
    /// [`Context::set_private_cookie`](crate::Context::set_private_cookie)). Generate it once with
    /// [`Key::generate`](crate::cookie::Key::generate) (the operating system's random
    /// generator) and keep it secret; load the same key on every instance and after restarts
    /// (`Key::from(&bytes)` with 64 bytes), or the cookies already out stop reading.
    pub fn cookie_key(mut self, key: crate::cookie::Key) -> Self {
        self.cookie_key = Some(key);
        self
    }

    /// Limits of `multipart/form-data` bodies (field count, a buffered field's size, the
    /// whole body's).
    pub fn multipart_config(mut self, config: crate::config::MultipartConfig) -> Self {
        self.config.multipart = config;
        self
    }

    /// Wraps the whole app in a tower `layer`: every request goes through it before routing
    /// and fratello's middleware, HTTP routes, WebSocket upgrades, SSE streams and mounted
    /// services alike. tower-http's layers work as they are:
    ///
    /// ```no_run
    /// # use fratello::prelude::*;
    /// # #[get("/")] async fn index(_ctx: Context) -> &'static str { "hi" }
    /// # async fn run() -> Result<(), fratello::StartupError> {
    /// use tower_http::{compression::CompressionLayer, cors::CorsLayer};
    ///
    /// App::new()
    ///     .layer(CompressionLayer::new())
    ///     .layer(CorsLayer::permissive()) // the last one added runs first
    ///     .serve("127.0.0.1:8080")
    ///     .await
    /// # }
    /// ```
    ///
    /// The last layer added is the outermost, as with axum's `Router::layer`. A layer that
    /// answers by itself (a CORS preflight, a refused request) keeps the request from routing,
    /// and a socket from opening. An error a layer's service returns is answered with a logged
    /// 500. An app without layers serves without this machinery.
    pub fn layer<L, B>(mut self, layer: L) -> Self
    where
        L: tower::Layer<AppService> + Send + Sync + 'static,
        L::Service: tower::Service<http::Request<crate::Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<http::Request<crate::Body>>>::Error: Into<crate::response::BoxError>,
        <L::Service as tower::Service<http::Request<crate::Body>>>::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<crate::response::BoxError>,
    {
        self.layers.push(Arc::new(move |inner| AppService::new(layer.layer(inner))));
        self
    }

    /// Serves a tower service under the path `prefix` (`"/static"`, or `"/"` for whatever no
    /// route answers): every method on `prefix` and the paths under it, with `prefix` taken
    /// off the path the service sees. A route at the same path answers its own methods.
    ///
    /// ```no_run
    /// # use fratello::prelude::*;
    /// # async fn run() -> Result<(), fratello::StartupError> {
    /// use tower_http::services::ServeDir;
    ///
    /// App::new().mount("/assets", ServeDir::new("assets")).serve("127.0.0.1:8080").await
    /// # }
    /// ```
    ///
    /// Global middleware, and path-scoped middleware that covers the mount's paths, runs for
    /// its requests as for a route's (a guard on `/admin` guards `/admin/files/..` served by
    /// a mount at `/`). A mount whose paths clash with a route's pattern fails at startup.
    ///
    /// # Panics
    ///
    /// When `prefix` does not start with `/`, ends with `/` (but for `/` itself), or holds
    /// pattern syntax (`{`, `*`).
    #[track_caller]
    pub fn mount<S, B>(mut self, prefix: &str, service: S) -> Self
    where
        S: tower::Service<http::Request<crate::Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<crate::response::BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<crate::response::BoxError>,
    {
        if let Err(problem) = check_prefix(prefix) {
            panic!("{problem}");
        }
        let caller = std::panic::Location::caller();
        let prefix: &'static str = Box::leak(prefix.to_owned().into_boxed_str());
        let pattern: &'static str = Box::leak(mount_pattern(prefix).into_boxed_str());
        let forward = crate::routing::Handler::Http(crate::http::forward::forward);
        self.mounts.push(MountDef {
            prefix,
            pattern: Box::leak(Box::new(pattern)),
            endpoint: crate::routing::catalog().mount_id(
                pattern,
                std::any::type_name::<S>(),
                (caller.file(), caller.line()),
                forward,
            ),
            service: mount_service(service),
            location: format!("{}:{}", caller.file(), caller.line()),
        });
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

    /// The route table, or why the app cannot start.
    fn validate(&self) -> Result<(Matcher, Vec<RouteInfo>), StartupError> {
        let has_state = |t: TypeId| self.states.contains_key(&t);
        let (matcher, infos) = crate::routing::build(self.only.as_deref(), &self.mounts, &has_state)
            .map_err(StartupError::config)?;
        for (path, _) in &self.ws_routes {
            if !infos.iter().any(|r| r.kind == RouteKind::Ws && r.path == path) {
                return Err(StartupError::config(format!(
                    "App::ws_route_config({path:?}): this app has no #[ws] route with that path"
                )));
            }
        }
        Ok((matcher, infos))
    }

    /// The route table: every route this app serves, with its middleware chain (each
    /// middleware with its scope), or why the app cannot start (as
    /// [`check`](Self::check) says).
    pub fn routes(&self) -> Result<Vec<RouteInfo>, StartupError> {
        self.validate().map(|(_, infos)| infos)
    }

    /// Checks the app as serving would, without serving: no routes, clashing routes, a state
    /// that a route or its middleware declares and the app lacks, a setting for a route that
    /// does not exist. The message names the declarations (`file:line`).
    pub fn check(&self) -> Result<(), StartupError> {
        self.validate().map(drop)
    }

    pub(crate) fn into_shared(self) -> Result<Arc<Shared>, StartupError> {
        let (matcher, infos) = self.validate()?;
        for info in &infos {
            tracing::debug!("{info}");
        }
        // The sessions' clock ticks at the pace of the most demanding socket settings, and, when
        // the app has streams, at theirs (a client that stopped reading and keep-alive comments
        // are looked at on a tick).
        #[cfg(feature = "ws")]
        let clock = self
            .ws_routes
            .iter()
            .map(|(_, c)| c)
            .chain([&self.ws_default])
            .map(crate::ws::deadlines::tick)
            .min();
        #[cfg(not(feature = "ws"))]
        let clock: Option<std::time::Duration> = None;
        #[cfg(feature = "sse")]
        let clock = if infos.iter().any(|r| r.kind == RouteKind::Sse) {
            let streams = crate::sse::stream::clock_tick(&self.config);
            Some(clock.map_or(streams, |c| c.min(streams)))
        } else {
            clock
        };
        let with_clock = |#[allow(unused_mut)] mut config: WsConfig| {
            #[cfg(feature = "ws")]
            if let Some(clock) = clock {
                config.clock = clock;
            }
            Arc::new(config)
        };
        let ws_routes = self.ws_routes.into_iter().map(|(path, config)| (path, with_clock(config))).collect();
        let mounts = self
            .mounts
            .into_iter()
            .map(|m| Mount { prefix: m.prefix, pattern: m.pattern, endpoint: m.endpoint, service: m.service })
            .collect();
        let connections = self.config.connection_permits();
        Ok(Arc::new(Shared {
            matcher,
            states: self.states,
            config: self.config,
            ws_default: with_clock(self.ws_default),
            ws_routes,
            sessions: Arc::new(SessionRegistry::new(clock)),
            connections: tokio::sync::Semaphore::new(connections as usize),
            hub: self.hub,
            cookie_key: self.cookie_key,
            layers: self.layers,
            mounts,
        }))
    }

    /// Binds `addr` (listen backlog 1024) and serves until Ctrl-C or SIGTERM, then shuts down
    /// gracefully within [`Config::shutdown_timeout`]; a second signal ends the process at once
    /// (see [`shutdown_signal`](crate::server::shutdown_signal)). Refuses to start, before
    /// binding, when [`check`](Self::check) would fail.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> Result<(), StartupError> {
        let shared = self.into_shared()?;
        let listener = crate::server::bind(addr).await.map_err(StartupError::listen)?;
        crate::server::run(shared, listener, crate::server::shutdown_signal(), Transport::Plain)
            .await
            .map_err(StartupError::from)
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down gracefully.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StartupError> {
        let shared = self.into_shared()?;
        crate::server::run(shared, listener, shutdown, Transport::Plain).await.map_err(StartupError::from)
    }

    /// Like [`serve_with`](Self::serve_with), but validates the app first and returns the
    /// address being served and the server future, e.g. to print the address before serving.
    pub fn bind_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, impl Future<Output = Result<(), StartupError>> + Send + 'static), StartupError>
    {
        let addr = listener.local_addr()?;
        let shared = self.into_shared()?;
        Ok((addr, async move {
            crate::server::run(shared, listener, shutdown, Transport::Plain).await.map_err(StartupError::from)
        }))
    }

    /// Binds `addr` and serves HTTPS until Ctrl-C or SIGTERM, as [`serve`](Self::serve) serves
    /// cleartext HTTP (the same limits, timeouts and graceful shutdown): each connection's TLS
    /// handshake, then HTTP/2 or HTTP/1.1 as the client chose by ALPN (see [`crate::tls`]).
    /// Refuses to start, before binding, when [`check`](Self::check) would fail or `tls`
    /// cannot be set up.
    ///
    /// ```no_run
    /// # use fratello::prelude::*;
    /// # async fn run() -> Result<(), fratello::StartupError> {
    /// use fratello::tls::TlsConfig;
    ///
    /// App::new().serve_tls("0.0.0.0:443", TlsConfig::reloading("cert.pem", "key.pem")?).await
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn serve_tls(
        self,
        addr: impl ToSocketAddrs,
        tls: crate::tls::TlsConfig,
    ) -> Result<(), StartupError> {
        let shared = self.into_shared()?;
        let acceptor = tls.acceptor()?;
        let listener = crate::server::bind(addr).await.map_err(StartupError::listen)?;
        let transport = Transport::Tls(TlsServer::new(acceptor, tls.watch()));
        crate::server::run(shared, listener, crate::server::shutdown_signal(), transport)
            .await
            .map_err(StartupError::from)
    }

    /// Serves HTTPS on `listener` until `shutdown` completes, then shuts down gracefully (as
    /// [`serve_with`](Self::serve_with), with TLS as [`serve_tls`](Self::serve_tls)).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn serve_tls_with(
        self,
        listener: TcpListener,
        tls: crate::tls::TlsConfig,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StartupError> {
        let shared = self.into_shared()?;
        let transport = Transport::Tls(TlsServer::new(tls.acceptor()?, tls.watch()));
        crate::server::run(shared, listener, shutdown, transport).await.map_err(StartupError::from)
    }

    /// Like [`serve_tls_with`](Self::serve_tls_with), but checks the app and `tls` first and
    /// returns the address being served and the server future (as [`bind_with`](Self::bind_with)
    /// does for cleartext). A [reloading](crate::tls::TlsConfig::reloading) configuration's
    /// files are watched while the future runs.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn bind_tls_with(
        self,
        listener: TcpListener,
        tls: crate::tls::TlsConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, impl Future<Output = Result<(), StartupError>> + Send + 'static), StartupError>
    {
        let addr = listener.local_addr()?;
        let shared = self.into_shared()?;
        let acceptor = tls.acceptor()?;
        Ok((addr, async move {
            let transport = Transport::Tls(TlsServer::new(acceptor, tls.watch()));
            crate::server::run(shared, listener, shutdown, transport).await.map_err(StartupError::from)
        }))
    }
}
