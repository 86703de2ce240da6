//! The raw hyper 1 peer (+ tokio-tungstenite for WebSocket): the ceiling for anything built on
//! hyper. Served by `srv_hyper`; `allocs` runs it in-process.
//!
//! WebSocket sessions use tungstenite with a 1 KiB read buffer and an 8 KiB write buffer, the
//! same as fratello's defaults, so the gap between the two is the framework's own cost.

use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

/// The response body type.
pub type Body = BoxBody<Bytes, Infallible>;

struct Channels {
    room: broadcast::Sender<Utf8Bytes>,
    sse: broadcast::Sender<Bytes>,
}

fn channels() -> &'static Channels {
    static C: OnceLock<Channels> = OnceLock::new();
    C.get_or_init(|| Channels {
        room: broadcast::channel(crate::CHANNEL_CAPACITY).0,
        sse: broadcast::channel(crate::CHANNEL_CAPACITY).0,
    })
}

fn full(ct: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, ct)
        .body(Full::new(body.into()).boxed())
        .expect("response")
}

fn ws_config() -> WebSocketConfig {
    // Investigation knob: HYPER_WS_READ_BUF=N sets tungstenite's read buffer (default 1 KiB).
    let read = std::env::var("HYPER_WS_READ_BUF").ok().and_then(|n| n.parse().ok()).unwrap_or(1024);
    WebSocketConfig::default().read_buffer_size(read).write_buffer_size(8 * 1024)
}

/// Answers one request.
pub async fn handle(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => full("text/plain", crate::PLAINTEXT),
        (&Method::GET, "/json") => {
            full("application/json", serde_json::to_vec(&crate::JSON_BODY).expect("json"))
        }
        (&Method::GET, path @ ("/echo" | "/room")) => {
            let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
                return Ok(full("text/plain", "not a WebSocket request"));
            };
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let room = path == "/room";
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else { return };
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(ws_config()))
                        .await;
                if room {
                    room_session(ws).await;
                } else {
                    echo_session(ws).await;
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, "upgrade")
                .header(header::UPGRADE, "websocket")
                .header(header::SEC_WEBSOCKET_ACCEPT, accept)
                .body(Full::new(Bytes::new()).boxed())
                .expect("response")
        }
        (&Method::GET, "/sse") => {
            let rx = channels().sse.subscribe();
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(b) => return Some((Ok::<_, Infallible>(Frame::data(b)), rx)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .expect("response")
        }
        (&Method::POST, "/publish") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let mut event = Vec::with_capacity(body.len() + 8);
            event.extend_from_slice(b"data: ");
            event.extend_from_slice(&body);
            event.extend_from_slice(b"\n\n");
            let n = channels().sse.send(Bytes::from(event)).unwrap_or(0);
            full("text/plain", n.to_string())
        }
        _ => {
            let mut r = full("text/plain", "not found");
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    })
}

async fn echo_session<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

async fn room_session<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let tx = &channels().room;
    let mut rx = tx.subscribe();
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => { let _ = tx.send(t); }
                Some(Ok(_)) => {}
                _ => return,
            },
            got = rx.recv() => {
                let first = match got {
                    Ok(t) => t,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                // Everything already queued goes out in one flush.
                if ws.feed(Message::Text(first)).await.is_err() {
                    return;
                }
                while let Ok(t) = rx.try_recv() {
                    if ws.feed(Message::Text(t)).await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                .with_upgrades()
                .await;
        });
    }
}
