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
use super::stream::Target;
#[cfg(feature = "ws")]
use super::ws::WsRequest;
use crate::{App, StartupError};

/// How long a receive waits by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running app and an HTTP client pointed at it.
pub struct TestClient {
    target: Target,
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
        let target = Target {
            addr,
            #[cfg(feature = "tls")]
            tls: None,
        };
        Ok(Self::running(target, tokio::spawn(server), stop))
    }

    /// Starts `app` serving TLS with `tls` on `127.0.0.1:0`, and speaks HTTPS (HTTP/1.1, or
    /// HTTP/2 chosen by ALPN with [`TestRequest::http2`]), `wss://` and SSE over TLS to it,
    /// trusting `trust`: the CA certificate that issued the server's certificate, or that
    /// certificate itself when it is self-signed. The client asks for the server name
    /// `localhost` (SNI), which the certificate must cover; URLs read
    /// `https://localhost:PORT/..`, and connect to the app's address whatever `localhost`
    /// resolves to. Panics with the startup error (a bad certificate, no routes, ...).
    ///
    /// ```no_run
    /// # use fratello::prelude::*;
    /// # use fratello::test::TestClient;
    /// # async fn run(cert_pem: String, key_pem: String, ca_der: Vec<u8>) {
    /// use fratello::tls::{rustls::pki_types::CertificateDer, TlsConfig};
    ///
    /// let tls = TlsConfig::from_pem(cert_pem, key_pem).unwrap();
    /// let client = TestClient::start_tls(App::only(module_path!()), tls, CertificateDer::from(ca_der)).await;
    /// assert_eq!(client.get("/").send().await.status(), StatusCode::OK);
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn start_tls(
        app: App,
        tls: crate::tls::TlsConfig,
        trust: crate::tls::rustls::pki_types::CertificateDer<'static>,
    ) -> TestClient {
        match Self::try_start_tls(app, tls, trust).await {
            Ok(c) => c,
            Err(e) => panic!("the app did not start: {e}"),
        }
    }

    /// As [`start_tls`](Self::start_tls), returning the startup error instead of panicking.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn try_start_tls(
        app: App,
        tls: crate::tls::TlsConfig,
        trust: crate::tls::rustls::pki_types::CertificateDer<'static>,
    ) -> Result<TestClient, StartupError> {
        Self::start_tls_on(app, crate::server::bind("127.0.0.1:0").await?, tls, trust).await
    }

    /// As [`try_start_tls`](Self::try_start_tls), on a listener bound beforehand.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn start_tls_on(
        app: App,
        listener: tokio::net::TcpListener,
        tls: crate::tls::TlsConfig,
        trust: crate::tls::rustls::pki_types::CertificateDer<'static>,
    ) -> Result<TestClient, StartupError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, server) = app.bind_tls_with(listener, tls, async move {
            let _ = stopped.await;
        })?;
        let target = Target { addr, tls: Some(std::sync::Arc::new(super::tls::ClientTls::new(trust))) };
        Ok(Self::running(target, tokio::spawn(server), stop))
    }

    fn running(
        target: Target,
        server: JoinHandle<Result<(), StartupError>>,
        stop: oneshot::Sender<()>,
    ) -> TestClient {
        let h1 = Client::builder(TokioExecutor::new()).build_http();
        #[cfg(feature = "http2")]
        let h2 = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
        let clients = Clients {
            h1,
            #[cfg(feature = "http2")]
            h2,
            #[cfg(feature = "tls")]
            tls: target.tls.clone().map(|tls| super::tls::TlsClients::new(tls, target.addr)),
        };
        TestClient { target, clients, timeout: DEFAULT_TIMEOUT, stop: Some(stop), server: Some(server) }
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
        self.target.addr
    }

    /// `http://127.0.0.1:PORT{path}`, or `https://localhost:PORT{path}` for an app started
    /// with TLS.
    pub fn url(&self, path: &str) -> String {
        self.url_of("http", path)
    }

    /// The URL of `path` with `scheme` (`http` or `ws`; the TLS form of it for a TLS app).
    fn url_of(&self, scheme: &str, path: &str) -> String {
        #[cfg(feature = "tls")]
        if self.target.tls.is_some() {
            let port = self.target.addr.port();
            return format!("{scheme}s://{}:{port}{path}", super::tls::SERVER_NAME);
        }
        format!("{scheme}://{}{}", self.target.addr, path)
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

    /// A WebSocket handshake to `path` (`ws://`, or `wss://` for a TLS app); add headers, then
    /// [`connect`](WsRequest::connect).
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    pub fn ws(&self, path: &str) -> WsRequest {
        WsRequest::new(self.url_of("ws", path), path, self.timeout, self.target.clone())
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
