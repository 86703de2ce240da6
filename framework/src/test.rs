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

/// The WebSocket library under [`WsClient`], for raw messages and frames in tests.
pub use tungstenite;

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
        Self::start_on(app, crate::server::bind("127.0.0.1:0").await?).await
    }

    /// Starts `app` on a listener bound beforehand (when the app must know its address, e.g.
    /// for an origin allowlist).
    pub async fn start_on(app: App, listener: tokio::net::TcpListener) -> io::Result<TestClient> {
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

    /// A WebSocket handshake to `path`; add headers, then [`connect`](WsRequest::connect).
    pub fn ws(&self, path: &str) -> WsRequest {
        WsRequest { url: format!("ws://{}{}", self.addr, path), headers: Vec::new() }
    }

    /// Opens an SSE stream at `path` (a GET with `accept: text/event-stream`); add headers
    /// (e.g. `last-event-id`) with [`SseRequest::header`], then [`connect`](SseRequest::connect).
    pub fn sse(&self, path: &str) -> SseRequest<'_> {
        SseRequest { req: self.get(path).header(http::header::ACCEPT, "text/event-stream") }
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

    async fn start(
        self,
    ) -> Result<http::Response<hyper::body::Incoming>, Box<dyn std::error::Error + Send + Sync>> {
        let req = self.builder.body(self.body)?;
        let client = if self.http2 { &self.client.h2 } else { &self.client.h1 };
        Ok(client.request(req).await?)
    }

    /// Sends the request and reads the whole response, returning transport errors.
    pub async fn try_send(self) -> Result<TestResponse, Box<dyn std::error::Error + Send + Sync>> {
        let res = self.start().await?;
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

/// A WebSocket handshake being built.
pub struct WsRequest {
    url: String,
    headers: Vec<(String, Vec<u8>)>,
}

/// The server refused a WebSocket handshake: its HTTP answer.
#[derive(Debug)]
pub struct WsRefused {
    /// The status (401 from an auth middleware, 403 for an origin, 400/426 for a bad handshake).
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body as text.
    pub body: String,
}

impl WsRequest {
    /// Adds a handshake header (e.g. `authorization`, `origin`, `sec-websocket-protocol`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    /// Adds a handshake header whose value is not text (bytes above ASCII are valid in HTTP).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// Connects; panics unless the server accepts the upgrade.
    pub async fn connect(self) -> WsClient {
        match self.try_connect().await {
            Ok(c) => c,
            Err(r) => panic!("the WebSocket handshake was refused: {} {}", r.status, r.body),
        }
    }

    /// Connects, returning the server's HTTP answer when it refuses the upgrade.
    pub async fn try_connect(self) -> Result<WsClient, WsRefused> {
        use tungstenite::client::IntoClientRequest;
        let mut req = self.url.as_str().into_client_request().expect("a valid ws:// URL");
        for (k, v) in &self.headers {
            req.headers_mut().append(
                HeaderName::from_bytes(k.as_bytes()).expect("a valid header name"),
                HeaderValue::from_bytes(v).expect("a valid header value"),
            );
        }
        let host = req.uri().authority().expect("the URL has a host").to_string();
        let tcp = tokio::net::TcpStream::connect(&host).await.expect("the test server accepts connections");
        let config =
            tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None);
        match tokio_tungstenite::client_async_with_config(req, tcp, Some(config)).await {
            Ok((stream, res)) => Ok(WsClient { stream, headers: res.headers().clone(), close: None }),
            Err(tungstenite::Error::Http(res)) => Err(WsRefused {
                status: res.status(),
                headers: res.headers().clone(),
                body: res
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => panic!("the WebSocket handshake failed: {e}"),
        }
    }
}

/// The client side of a WebSocket to the test server (tokio-tungstenite underneath).
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    headers: HeaderMap,
    close: Option<(u16, String)>,
}

impl WsClient {
    /// The 101 response's headers (e.g. `sec-websocket-protocol`).
    pub fn handshake_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(tungstenite::Message::text(text)).await;
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: impl Into<Bytes>) {
        self.send_raw(tungstenite::Message::binary(bytes)).await;
    }

    /// Sends any tungstenite message or raw frame (e.g. a deliberately invalid one); panics if
    /// the socket is closed.
    pub async fn send_raw(&mut self, msg: tungstenite::Message) {
        use futures_util::SinkExt;
        self.stream.send(msg).await.expect("the socket accepts the message");
    }

    /// Sends, returning the error instead of panicking (the server may have closed already).
    pub async fn try_send(&mut self, msg: tungstenite::Message) -> Result<(), tungstenite::Error> {
        use futures_util::SinkExt;
        self.stream.send(msg).await
    }

    /// The next text or binary message; `None` once the socket is closed (see
    /// [`close_frame`](Self::close_frame)). Pings and pongs are skipped (pings are answered).
    pub async fn recv(&mut self) -> Option<crate::Message> {
        use futures_util::StreamExt;
        loop {
            match self.stream.next().await? {
                Ok(tungstenite::Message::Text(t)) => return Some(crate::Message::from_ws_text(t)),
                Ok(tungstenite::Message::Binary(b)) => return Some(crate::Message::binary(b)),
                Ok(tungstenite::Message::Close(frame)) => {
                    self.close =
                        Some(frame.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string())));
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next message as text; panics on anything else.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Some(m) if m.is_text() => m.as_text().expect("text").to_owned(),
            other => panic!("expected a text message, got {other:?} (close: {:?})", self.close),
        }
    }

    /// Reads until the server closes, and returns its close code and reason (1005 when the
    /// close frame had no code; 1006 when the connection ended without a close frame).
    pub async fn closed(&mut self) -> (u16, String) {
        while self.recv().await.is_some() {}
        self.close.clone().unwrap_or((1006, String::new()))
    }

    /// The server's close code and reason, once it has closed.
    pub fn close_frame(&self) -> Option<(u16, String)> {
        self.close.clone()
    }

    /// Starts the closing handshake with `code`.
    pub async fn close(&mut self, code: u16) {
        use tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        let _ = self.stream.close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() })).await;
    }

    /// The underlying tokio-tungstenite stream.
    pub fn stream_mut(&mut self) -> &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
        &mut self.stream
    }
}

/// An SSE request being built.
pub struct SseRequest<'a> {
    req: TestRequest<'a>,
}

impl SseRequest<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.req = self.req.header(name, value);
        self
    }

    /// Connects and returns the stream once the response head has arrived (whatever its
    /// status: a refused request has its status and an empty stream).
    pub async fn connect(self) -> SseClient {
        let res = self.req.start().await.expect("the SSE request is sent");
        let (head, body) = res.into_parts();
        SseClient { status: head.status, headers: head.headers, body, buf: String::new() }
    }
}

/// One block of an SSE stream (the lines up to a blank line), parsed per the HTML spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`; `None` when the block had none.
    pub data: Option<String>,
    /// `id:`
    pub id: Option<String>,
    /// `retry:` in milliseconds.
    pub retry: Option<u64>,
    /// Comment lines (`: text`), without the colon and the space after it.
    pub comments: Vec<String>,
}

/// The client side of an SSE stream.
pub struct SseClient {
    status: StatusCode,
    headers: HeaderMap,
    body: hyper::body::Incoming,
    buf: String,
}

impl SseClient {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next block, comments included; `None` when the stream ends.
    pub async fn next_block(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse_block(&block));
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
                // Normalise line ends so that only "\n" separates lines.
                if self.buf.contains('\r') {
                    self.buf = self.buf.replace("\r\n", "\n").replace('\r', "\n");
                }
            }
        }
    }

    /// The next event with data (comment-only and retry-only blocks are skipped, as a browser
    /// does); `None` when the stream ends.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let block = self.next_block().await?;
            if block.data.is_some() {
                return Some(block);
            }
        }
    }
}

fn parse_block(block: &str) -> SseEvent {
    let mut ev = SseEvent::default();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            ev.comments.push(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => ev.event = Some(value.to_owned()),
            "id" => ev.id = Some(value.to_owned()),
            "retry" => ev.retry = value.parse().ok(),
            "data" => match &mut ev.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => ev.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    ev
}
