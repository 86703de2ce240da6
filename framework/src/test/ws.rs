//! [`WsRequest`] and [`WsClient`]: a WebSocket to the app under test (tokio-tungstenite).

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::error::Elapsed;
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message as Frame;

use super::stream::{ClientStream, Target};

/// How many frames a [`WsClient`] reads ahead of the test before it stops reading the socket.
const UNREAD_FRAMES: usize = 32;

/// A WebSocket handshake being built.
pub struct WsRequest {
    url: String,
    path: String,
    headers: HeaderMap,
    timeout: Duration,
    target: Target,
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
    pub(crate) fn new(url: String, path: &str, timeout: Duration, target: Target) -> Self {
        WsRequest { url, path: path.to_owned(), headers: HeaderMap::new(), timeout, target }
    }

    /// Adds a handshake header (e.g. `authorization`, `origin`, `sec-websocket-protocol`),
    /// as [`TestRequest::header`](super::TestRequest::header) does; the value may be bytes
    /// that are not text. Panics on a name or value that is not valid in HTTP.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        let name = HeaderName::try_from(name).map_err(Into::into).expect("a valid header name");
        let value = HeaderValue::try_from(value).map_err(Into::into).expect("a valid header value");
        self.headers.append(name, value);
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
    ///
    /// The client reads what the server sends in a task of its own, so that it answers pings
    /// and the server's close (at shutdown, say) even while the test does not read. It holds
    /// at most a few dozen frames the test has not read; beyond that it stops reading, as a
    /// slow client would, so that the server's backpressure can be tested with it.
    pub async fn try_connect(self) -> Result<WsClient, WsRefused> {
        let (path, timeout) = (self.path.clone(), self.timeout);
        let io = self.target.connect().await.expect("the test server accepts connections");
        let (stream, headers) = self.handshake(io).await?;
        let (sink, mut incoming) = stream.split();
        let (tx, rx) = mpsc::channel(UNREAD_FRAMES);
        let reader = tokio::spawn(async move {
            while let Some(frame) = incoming.next().await {
                let end = frame.is_err();
                if tx.send(frame).await.is_err() || end {
                    break;
                }
            }
        });
        Ok(WsClient { sink, rx, reader, headers, close: None, path, timeout })
    }

    /// Connects and hands over the bare tokio-tungstenite stream, which nobody reads but the
    /// test: to play a client that never reads (pings without reading the pongs, say).
    /// Cleartext (`ws://`) only: panics on a client started with `TestClient::start_tls`.
    pub async fn connect_raw(self) -> WebSocketStream<TcpStream> {
        assert!(!self.target.is_tls(), "`connect_raw` speaks ws:// only; use `connect` for wss://");
        let tcp = TcpStream::connect(self.target.addr).await.expect("the test server accepts connections");
        match self.handshake(tcp).await {
            Ok((stream, _)) => stream,
            Err(r) => panic!("the WebSocket handshake was refused: {} {}", r.status, r.body),
        }
    }

    async fn handshake<S>(self, io: S) -> Result<(WebSocketStream<S>, HeaderMap), WsRefused>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        use tungstenite::client::IntoClientRequest;
        let mut req = self.url.as_str().into_client_request().expect("a valid ws:// URL");
        req.headers_mut().extend(self.headers);
        let config =
            tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None);
        let handshake = tokio_tungstenite::client_async_with_config(req, io, Some(config));
        let answer = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(answer) => answer,
            Err(_) => {
                panic!("no answer to the WebSocket handshake of `{}` within {:?}", self.path, self.timeout)
            }
        };
        match answer {
            Ok((stream, res)) => Ok((stream, res.headers().clone())),
            Err(tungstenite::Error::Http(res)) => Err(WsRefused {
                status: res.status(),
                headers: res.headers().clone(),
                body: res
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => panic!("the WebSocket handshake of `{}` failed: {e}", self.path),
        }
    }
}

/// The client side of a WebSocket to the test server (tokio-tungstenite underneath).
pub struct WsClient {
    sink: SplitSink<WebSocketStream<ClientStream>, Frame>,
    /// What the reading task read.
    rx: mpsc::Receiver<Result<Frame, tungstenite::Error>>,
    reader: tokio::task::JoinHandle<()>,
    headers: HeaderMap,
    close: Option<(u16, String)>,
    path: String,
    timeout: Duration,
}

impl Drop for WsClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl WsClient {
    /// The 101 response's headers (e.g. `sec-websocket-protocol`).
    pub fn handshake_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(Frame::text(text)).await;
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: impl Into<Bytes>) {
        self.send_raw(Frame::binary(bytes)).await;
    }

    /// Sends any tungstenite message or raw frame (e.g. a deliberately invalid one); panics if
    /// the socket is closed.
    pub async fn send_raw(&mut self, msg: Frame) {
        self.sink.send(msg).await.expect("the socket accepts the message");
    }

    /// Sends, returning the error instead of panicking (the server may have closed already).
    pub async fn try_send(&mut self, msg: Frame) -> Result<(), tungstenite::Error> {
        self.sink.send(msg).await
    }

    /// The next text or binary message; `None` once the socket is closed (see
    /// [`close_frame`](Self::close_frame)). Pings and pongs are skipped (pings are answered).
    /// Fails the test when nothing comes within the client's timeout.
    pub async fn recv(&mut self) -> Option<crate::Message> {
        let timeout = self.timeout;
        match self.recv_timeout(timeout).await {
            Ok(msg) => msg,
            Err(_) => panic!("no WebSocket message on `{}` within {timeout:?}", self.path),
        }
    }

    /// The next text or binary message within `timeout`, or `Err` when none came (`Ok(None)`
    /// once the socket is closed): to check that nothing arrives.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<crate::Message>, Elapsed> {
        tokio::time::timeout(timeout, self.next_message()).await
    }

    async fn next_message(&mut self) -> Option<crate::Message> {
        loop {
            match self.rx.recv().await? {
                Ok(Frame::Text(t)) => return Some(crate::Message::from_ws_text(t)),
                Ok(Frame::Binary(b)) => return Some(crate::Message::binary(b)),
                Ok(Frame::Close(frame)) => {
                    self.close =
                        Some(frame.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string())));
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next message as text; fails the test on anything else.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Some(m) if m.is_text() => m.as_text().expect("text").to_owned(),
            other => {
                panic!("expected a text message on `{}`, got {other:?} (close: {:?})", self.path, self.close)
            }
        }
    }

    /// Reads until the server closes, and returns its close code and reason (1005 when the
    /// close frame had no code; 1006 when the connection ended without a close frame). Fails
    /// the test when the socket is still open after the client's timeout.
    pub async fn closed(&mut self) -> (u16, String) {
        let timeout = self.timeout;
        let drained = tokio::time::timeout(timeout, async { while self.next_message().await.is_some() {} });
        if drained.await.is_err() {
            panic!("the WebSocket on `{}` did not close within {timeout:?}", self.path);
        }
        self.close.clone().unwrap_or((1006, String::new()))
    }

    /// The server's close code and reason, once it has closed.
    pub fn close_frame(&self) -> Option<(u16, String)> {
        self.close.clone()
    }

    /// Starts the closing handshake with `code`.
    pub async fn close(&mut self, code: u16) {
        use tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        let _ = self
            .sink
            .send(Frame::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() })))
            .await;
    }
}
