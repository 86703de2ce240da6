//! hyperlane (its own HTTP/1.1 and WebSocket implementation on tokio).
//!
//! The read timeout is lifted (hyperlane closes a connection silent for 6 s by default), so
//! idle sockets stay open for the memory scenario as they do on every other server.

use std::sync::{Arc, OnceLock};

use hyperlane::*;
use tokio::sync::broadcast;

struct Channels {
    room: broadcast::Sender<Arc<Vec<u8>>>,
    sse: broadcast::Sender<Arc<Vec<u8>>>,
}

fn channels() -> &'static Channels {
    static C: OnceLock<Channels> = OnceLock::new();
    C.get_or_init(|| Channels {
        room: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
        sse: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
    })
}

async fn reply(stream: &mut Stream, ctx: &mut Context, content_type: &str, body: Vec<u8>) -> Status {
    let data: Vec<u8> = ctx
        .get_mut_response()
        .set_version(HttpVersion::Http1_1)
        .set_status_code(200)
        .set_header(CONTENT_TYPE, content_type)
        .set_body(body)
        .build();
    if stream.try_send(data).await.is_err() {
        stream.set_closed(true);
        return Status::Reject;
    }
    Status::Continue
}

/// Answers the handshake; false when the request is not an upgrade or the socket failed.
async fn handshake(stream: &mut Stream, ctx: &mut Context) -> bool {
    if !ctx.get_request().is_ws_upgrade_type() {
        return false;
    }
    let Some(key) = ctx.get_request().try_get_header_back(SEC_WEBSOCKET_KEY) else {
        return false;
    };
    let accept_key: String = WebSocketFrame::generate_accept_key(&key);
    let data: Vec<u8> = ctx
        .get_mut_response()
        .set_version(HttpVersion::Http1_1)
        .set_status_code(101)
        .set_header(UPGRADE, WEBSOCKET)
        .set_header(CONNECTION, UPGRADE)
        .set_header(SEC_WEBSOCKET_ACCEPT, &accept_key)
        .set_body(Vec::new())
        .build();
    stream.try_send(data).await.is_ok()
}

struct Plaintext;
impl ServerHook for Plaintext {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        reply(stream, ctx, "text/plain", fratello_bench::PLAINTEXT.as_bytes().to_vec()).await
    }
}

struct JsonRoute;
impl ServerHook for JsonRoute {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        let body = serde_json::to_vec(&fratello_bench::JSON_BODY).expect("json");
        reply(stream, ctx, "application/json", body).await
    }
}

struct Echo;
impl ServerHook for Echo {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        if !handshake(stream, ctx).await {
            stream.set_closed(true);
            return Status::Reject;
        }
        while let Ok(body) = stream.try_get_websocket_request().await {
            let frames: Vec<ResponseBody> = WebSocketFrame::create_frame_list(&body);
            if stream.try_send_list(&frames).await.is_err() {
                break;
            }
        }
        stream.set_closed(true);
        Status::Reject
    }
}

struct Room;
impl ServerHook for Room {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        if !handshake(stream, ctx).await {
            stream.set_closed(true);
            return Status::Reject;
        }
        let tx = &channels().room;
        let mut rx = tx.subscribe();
        loop {
            let first = tokio::select! {
                got = stream.try_get_websocket_request() => match got {
                    Ok(body) => { let _ = tx.send(Arc::new(body)); continue; }
                    Err(_) => break,
                },
                got = rx.recv() => match got {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            // Everything already queued goes out in one write.
            let mut out: Vec<u8> = Vec::new();
            for frame in WebSocketFrame::create_frame_list(&*first) {
                out.extend_from_slice(&frame);
            }
            while let Ok(m) = rx.try_recv() {
                for frame in WebSocketFrame::create_frame_list(&*m) {
                    out.extend_from_slice(&frame);
                }
            }
            if stream.try_send(out).await.is_err() {
                break;
            }
        }
        stream.set_closed(true);
        Status::Reject
    }
}

struct Sse;
impl ServerHook for Sse {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        let mut rx = channels().sse.subscribe();
        let head: Vec<u8> = ctx
            .get_mut_response()
            .set_version(HttpVersion::Http1_1)
            .set_status_code(200)
            .set_header(CONTENT_TYPE, TEXT_EVENT_STREAM)
            .set_header(CACHE_CONTROL, "no-cache")
            .set_body(Vec::new())
            .build();
        if stream.try_send(head).await.is_ok() {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if stream.try_send(&*event).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        stream.set_closed(true);
        Status::Reject
    }
}

struct Publish;
impl ServerHook for Publish {
    async fn new(_: &mut Stream, _: &mut Context) -> Self {
        Self
    }
    async fn handle(self, stream: &mut Stream, ctx: &mut Context) -> Status {
        let body = ctx.get_request().get_body();
        let mut event = Vec::with_capacity(body.len() + 8);
        event.extend_from_slice(b"data: ");
        event.extend_from_slice(body);
        event.extend_from_slice(b"\n\n");
        let n = channels().sse.send(Arc::new(event)).unwrap_or(0);
        reply(stream, ctx, "text/plain", n.to_string().into_bytes()).await
    }
}

fn main() {
    let addr = fratello_bench::addr();
    fratello_bench::runtime().block_on(async move {
        let mut config = ServerConfig::default();
        config.set_address(addr.to_string());
        let mut request = RequestConfig::default();
        request.set_read_timeout_ms(u64::MAX);
        let mut server = Server::default();
        server
            .server_config(config)
            .request_config(request)
            .route::<Plaintext>("/plaintext")
            .route::<JsonRoute>("/json")
            .route::<Echo>("/echo")
            .route::<Room>("/room")
            .route::<Sse>("/sse")
            .route::<Publish>("/publish");
        let control = server.run().await.expect("hyperlane run");
        control.wait().await;
    });
}
