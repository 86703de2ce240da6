//! axum 0.8 with its `ws` feature. `AXUM_WS_BUF=BYTES` sets the WebSocket read and write
//! buffers (unset: axum's defaults, 128 KiB each), as a user who tunes them would.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures_util::SinkExt;
use tokio::sync::broadcast;

#[derive(Clone)]
struct AppState {
    room: broadcast::Sender<Utf8Bytes>,
    sse: broadcast::Sender<Arc<str>>,
    buf: Option<usize>,
}

fn upgrade(ws: WebSocketUpgrade, st: &AppState) -> WebSocketUpgrade {
    match st.buf {
        Some(b) => ws.read_buffer_size(b).write_buffer_size(b),
        None => ws,
    }
}

async fn echo(ws: WebSocketUpgrade, State(st): State<AppState>) -> Response {
    upgrade(ws, &st).on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
                return;
            }
        }
    })
}

async fn room(ws: WebSocketUpgrade, State(st): State<AppState>) -> Response {
    upgrade(ws, &st).on_upgrade(move |mut socket: WebSocket| async move {
        let mut rx = st.room.subscribe();
        loop {
            tokio::select! {
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Text(t))) => { let _ = st.room.send(t); }
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
                    if socket.feed(Message::Text(first)).await.is_err() {
                        return;
                    }
                    while let Ok(t) = rx.try_recv() {
                        if socket.feed(Message::Text(t)).await.is_err() {
                            return;
                        }
                    }
                    if socket.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

async fn sse(State(st): State<AppState>) -> impl IntoResponse {
    let rx = st.sse.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(s) => return Some((Ok::<_, Infallible>(Event::default().data(&*s)), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream)
}

async fn publish(State(st): State<AppState>, body: String) -> String {
    st.sse.send(Arc::from(body)).unwrap_or(0).to_string()
}

fn main() {
    let addr = fratello_bench::addr();
    let state = AppState {
        room: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
        sse: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
        buf: std::env::var("AXUM_WS_BUF").ok().and_then(|b| b.parse().ok()),
    };
    let app = Router::new()
        .route("/plaintext", get(|| async { fratello_bench::PLAINTEXT }))
        .route("/json", get(|| async { Json(fratello_bench::JSON_BODY) }))
        .route("/echo", get(echo))
        .route("/room", get(room))
        .route("/sse", get(sse))
        .route("/publish", post(publish))
        .with_state(state);
    fratello_bench::runtime().block_on(async move {
        let listener = fratello_bench::listen(addr).await.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}
