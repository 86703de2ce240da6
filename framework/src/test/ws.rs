//! [`WsRequest`] and [`WsClient`]: a WebSocket to the app under test (tokio-tungstenite).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

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
    pub(crate) fn new(url: String) -> Self {
        WsRequest { url, headers: Vec::new() }
    }

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
