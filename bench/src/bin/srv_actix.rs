//! actix-web 4 with actix-ws.

use std::convert::Infallible;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::Message;
use bytestring::ByteString;
use tokio::sync::broadcast;

#[derive(Clone)]
struct AppState {
    room: broadcast::Sender<ByteString>,
    sse: broadcast::Sender<Bytes>,
}

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(fratello_bench::PLAINTEXT)
}

async fn json() -> HttpResponse {
    HttpResponse::Ok().json(fratello_bench::JSON_BODY)
}

async fn echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (res, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            let sent = match msg {
                Message::Text(t) => session.text(t).await,
                Message::Binary(b) => session.binary(b).await,
                Message::Ping(p) => session.pong(&p).await,
                Message::Close(_) => break,
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
        let _ = session.close(None).await;
    });
    Ok(res)
}

async fn room(
    req: HttpRequest,
    body: web::Payload,
    st: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (res, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let tx = st.room.clone();
    let mut rx = tx.subscribe();
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                msg = stream.recv() => match msg {
                    Some(Ok(Message::Text(t))) => { let _ = tx.send(t); }
                    Some(Ok(Message::Ping(p))) => { if session.pong(&p).await.is_err() { return; } }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                got = rx.recv() => match got {
                    Ok(t) => { if session.text(t).await.is_err() { return; } }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
        let _ = session.close(None).await;
    });
    Ok(res)
}

async fn sse(st: web::Data<AppState>) -> HttpResponse {
    let rx = st.sse.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(b) => return Some((Ok::<_, Infallible>(b), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

async fn publish(body: Bytes, st: web::Data<AppState>) -> HttpResponse {
    let mut event = Vec::with_capacity(body.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(&body);
    event.extend_from_slice(b"\n\n");
    let n = st.sse.send(Bytes::from(event)).unwrap_or(0);
    HttpResponse::Ok().body(n.to_string())
}

fn main() -> std::io::Result<()> {
    let addr = fratello_bench::addr();
    let state = AppState {
        room: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
        sse: broadcast::channel(fratello_bench::CHANNEL_CAPACITY).0,
    };
    let listener = fratello_bench::std_listener(addr);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .route("/plaintext", web::get().to(plaintext))
                .route("/json", web::get().to(json))
                .route("/echo", web::get().to(echo))
                .route("/room", web::get().to(room))
                .route("/sse", web::get().to(sse))
                .route("/publish", web::post().to(publish))
        })
        .workers(fratello_bench::workers())
        .backlog(1024)
        .max_connections(100_000)
        .listen(listener)?
        .run()
        .await
    })
}
