//! [`TestClient`]: an app started on a loopback port, and the clients that speak to it.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::request::{Clients, TestRequest};
#[cfg(feature = "sse")]
use super::sse::SseRequest;
#[cfg(feature = "ws")]
use super::ws::WsRequest;
use crate::{App, StartupError};

/// How long a receive waits by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running app and an HTTP client pointed at it.
pub struct TestClient {
    addr: SocketAddr,
    clients: Clients,
    timeout: Duration,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), StartupError>>>,
}

impl TestClient {
    /// Starts `app` on `127.0.0.1:0`. Panics with the startup error (no routes, a route
    /// clash, ...) so a test fails with the reason.
    pub async fn start(app: App) -> TestClient {
        match Self::try_start(app).await {
            Ok(c) => c,
            Err(e) => panic!("the app did not start: {e}"),
        }
    }

    /// Starts `app` on `127.0.0.1:0`, returning the startup error instead of panicking.
    pub async fn try_start(app: App) -> Result<TestClient, StartupError> {
        Self::start_on(app, crate::server::bind("127.0.0.1:0").await?).await
    }

    /// Starts `app` on a listener bound beforehand (when the app must know its address, e.g.
    /// for an origin allowlist).
    pub async fn start_on(app: App, listener: tokio::net::TcpListener) -> Result<TestClient, StartupError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, server) = app.bind_with(listener, async move {
            let _ = stopped.await;
        })?;
        let server = tokio::spawn(server);
        let h1 = Client::builder(TokioExecutor::new()).build_http();
        #[cfg(feature = "http2")]
        let h2 = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
        let clients = Clients {
            h1,
            #[cfg(feature = "http2")]
            h2,
        };
        Ok(TestClient { addr, clients, timeout: DEFAULT_TIMEOUT, stop: Some(stop), server: Some(server) })
    }

    /// How long a receive waits before the test fails with a message that names the route and
    /// what was awaited: a whole HTTP response, a WebSocket message or close, an SSE event.
    /// Default 5 s. (Each has a `_timeout` variant, or a `timeout` of its own, that returns
    /// instead of failing.)
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address the app listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest::new(&self.clients, &method, path, self.url(path), self.timeout)
    }

    /// A GET request.
    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }
    /// A POST request.
    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }
    /// A PUT request.
    pub fn put(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PUT, path)
    }
    /// A PATCH request.
    pub fn patch(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, path)
    }
    /// A DELETE request.
    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }
    /// A HEAD request.
    pub fn head(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::HEAD, path)
    }
    /// An OPTIONS request.
    pub fn options(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::OPTIONS, path)
    }

    /// A WebSocket handshake to `path`; add headers, then [`connect`](WsRequest::connect).
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    pub fn ws(&self, path: &str) -> WsRequest {
        WsRequest::new(format!("ws://{}{}", self.addr, path), path, self.timeout)
    }

    /// Opens an SSE stream at `path` (a GET with `accept: text/event-stream`); add headers
    /// (e.g. `last-event-id`) with [`SseRequest::header`], then [`connect`](SseRequest::connect).
    #[cfg(feature = "sse")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sse")))]
    pub fn sse(&self, path: &str) -> SseRequest<'_> {
        SseRequest::new(self.get(path).header(http::header::ACCEPT, "text/event-stream"))
    }

    /// Stops the server gracefully and waits for it (bounded by the app's shutdown timeout).
    pub async fn shutdown(mut self) {
        self.stop_server().await;
    }

    async fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the server failed: {e}"),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
