//! [`TestClient`]: runs an [`App`] on an ephemeral loopback port and talks to it over real
//! sockets, with a real HTTP client (hyper), so tests exercise exactly what a user gets.
//!
//! ```no_run
//! use fratello::prelude::*;
//! use fratello::test::TestClient;
//!
//! #[get("/hello/{name}")]
//! async fn hello(ctx: Context) -> String {
//!     format!("Hello, {}!", ctx.param("name").unwrap_or("world"))
//! }
//!
//! # async fn run() {
//! let client = TestClient::start(App::only(module_path!())).await;
//! let res = client.get("/hello/ada").send().await;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.text(), "Hello, ada!");
//! client.shutdown().await;
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{App, Body};

/// A running app and an HTTP client pointed at it.
pub struct TestClient {
    addr: SocketAddr,
    h1: Client<HttpConnector, Body>,
    h2: Client<HttpConnector, Body>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
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
    pub async fn try_start(app: App) -> io::Result<TestClient> {
        let listener = crate::server::bind("127.0.0.1:0").await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, server) = app.bind_with(listener, async move {
            let _ = stopped.await;
        })?;
        let server = tokio::spawn(server);
        let h1 = Client::builder(TokioExecutor::new()).build_http();
        let h2 = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
        Ok(TestClient { addr, h1, h2, stop: Some(stop), server: Some(server) })
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
        TestRequest {
            client: self,
            builder: http::Request::builder().method(method).uri(self.url(path)),
            body: Body::empty(),
            http2: false,
        }
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

/// A request being built; [`send`](Self::send) it.
pub struct TestRequest<'a> {
    client: &'a TestClient,
    builder: http::request::Builder,
    body: Body,
    http2: bool,
}

impl TestRequest<'_> {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("the test value serializes as JSON");
        self.header(http::header::CONTENT_TYPE, "application/json").body(body)
    }

    /// Sends over HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Sends the request and reads the whole response. Panics if the request cannot be sent
    /// (the server is down): in a test that is the failure to report.
    pub async fn send(self) -> TestResponse {
        match self.try_send().await {
            Ok(r) => r,
            Err(e) => panic!("request failed: {e}"),
        }
    }

    /// Sends the request and reads the whole response, returning transport errors.
    pub async fn try_send(self) -> Result<TestResponse, Box<dyn std::error::Error + Send + Sync>> {
        let req = self.builder.body(self.body)?;
        let client = if self.http2 { &self.client.h2 } else { &self.client.h1 };
        let res = client.request(req).await?;
        let (head, body) = res.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(TestResponse { status: head.status, version: head.version, headers: head.headers, body })
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.version
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON; panics with the body when it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the response is not the expected JSON ({e}): {}", self.text()))
    }
}
