//! Every close code a fratello socket sends, observed by a real client.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::tungstenite::protocol::frame::coding::{Data, OpCode};
use fratello::test::tungstenite::protocol::frame::Frame;
use fratello::test::TestClient;
use fratello::ws::WsConfig;

#[ws("/ok")]
async fn ok(ctx: Context) -> Result<()> {
    ctx.send("bye").await
}

#[ws("/fails")]
async fn fails(ctx: Context) -> Result<()> {
    ctx.recv().await?;
    Err(Error::conflict("the room is full"))
}

#[ws("/panics")]
async fn panics(ctx: Context) -> Result<()> {
    ctx.recv().await?;
    panic!("socket handler exploded");
}

#[ws("/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(m) = ctx.recv().await? {
        ctx.send(m).await?;
    }
    Ok(())
}

/// Sends far more than the socket buffers hold (16 MiB), so that writes wait for the client.
#[ws("/flood")]
async fn flood(ctx: Context) -> Result<()> {
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..256 {
        ctx.send(chunk.clone()).await?;
    }
    ctx.recv().await?;
    Ok(())
}

/// Reports what `recv` said about the end, on a side channel (an HTTP route) for the test.
#[ws("/watch-end")]
async fn watch_end(ctx: Context) -> Result<()> {
    let end = match ctx.recv().await {
        Ok(None) => "none".to_owned(),
        Ok(Some(_)) => "message".to_owned(),
        Err(e) => e.message().to_owned(),
    };
    ctx.state::<tokio::sync::mpsc::UnboundedSender<String>>()?.send(end).ok();
    Ok(())
}

async fn client(tx: tokio::sync::mpsc::UnboundedSender<String>) -> TestClient {
    TestClient::start(
        App::only(module_path!())
            .state(tx)
            .ws_config(WsConfig::default().max_message_size(64 * 1024).max_frame_size(32 * 1024)),
    )
    .await
}

#[tokio::test]
async fn normal_1000_and_handler_error_1011() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut ws = c.ws("/ok").connect().await;
    assert_eq!(ws.recv_text().await, "bye");
    assert_eq!(ws.closed().await, (1000, String::new()));

    let mut ws = c.ws("/fails").connect().await;
    ws.send_text("join").await;
    assert_eq!(ws.closed().await, (1011, "the room is full".to_owned()));

    let mut ws = c.ws("/panics").connect().await;
    ws.send_text("go").await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 1011);
    assert!(!reason.contains("exploded"), "the panic message must not leak: {reason}");
}

#[tokio::test]
async fn the_reply_to_a_close_waits_behind_what_the_server_was_writing() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut ws = c.ws("/flood").connect().await;
    // The client reads nothing for a while: the server's writes now wait for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.close(1000).await;
    // Everything the server had started to write arrives whole, then its reply to the close.
    let mut got = 0;
    while let Some(m) = ws.recv().await {
        assert_eq!(m.as_bytes().len(), 64 * 1024, "message {got} arrives whole");
        got += 1;
    }
    assert!(got > 0, "the server was writing when the client closed");
    assert_eq!(ws.close_frame(), Some((1000, String::new())), "after {got} messages");
}

#[tokio::test]
async fn a_peer_that_drops_the_connection_without_a_close_frame_ends_recv_quietly() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let ws = c.ws("/watch-end").connect().await;
    drop(ws); // TCP closed, no close frame: the client went away, it broke no rule
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("the handler ends");
    assert_eq!(end.as_deref(), Some("none"));
}

#[tokio::test]
async fn oversized_message_1009() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut ws = c.ws("/watch-end").connect().await;
    // Fragments under the frame limit that add up past the message limit.
    let part = vec![b'a'; 30 * 1024];
    let first = Frame::message(part.clone(), OpCode::Data(Data::Text), false);
    ws.send_raw(fratello::test::tungstenite::Message::Frame(first)).await;
    for _ in 0..2 {
        let more = Frame::message(part.clone(), OpCode::Data(Data::Continue), false);
        let _ = ws.try_send(fratello::test::tungstenite::Message::Frame(more)).await;
    }
    assert_eq!(ws.closed().await.0, 1009);
    let end = rx.recv().await.unwrap();
    assert!(end.contains("1009"), "recv reports why: {end}");

    let mut ws = c.ws("/echo").connect().await;
    let _ = ws.try_send(fratello::test::tungstenite::Message::binary(vec![0u8; 40 * 1024])).await;
    assert_eq!(ws.closed().await.0, 1009, "one frame over the frame limit");
}

#[tokio::test]
async fn invalid_utf8_1007() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut ws = c.ws("/watch-end").connect().await;
    let frame = Frame::message(vec![b'o', b'k', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    ws.send_raw(fratello::test::tungstenite::Message::Frame(frame)).await;
    assert_eq!(ws.closed().await.0, 1007);
    assert!(rx.recv().await.unwrap().contains("1007"));
}

#[tokio::test]
async fn protocol_violation_1002() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut ws = c.ws("/echo").connect().await;
    let mut frame = Frame::message(b"hi".to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().rsv1 = true; // no extension was negotiated
    ws.send_raw(fratello::test::tungstenite::Message::Frame(frame)).await;
    assert_eq!(ws.closed().await.0, 1002);
}

#[tokio::test]
async fn a_panic_in_one_socket_leaves_the_others_alone() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let c = client(tx).await;
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(c.ws("/echo").connect().await);
    }
    let mut doomed = c.ws("/panics").connect().await;
    doomed.send_text("go").await;
    assert_eq!(doomed.closed().await.0, 1011);
    for (i, ws) in others.iter_mut().enumerate() {
        ws.send_text(&format!("still here {i}")).await;
        assert_eq!(ws.recv_text().await, format!("still here {i}"));
    }
    assert_eq!(c.get("/nope").send().await.status(), StatusCode::NOT_FOUND, "HTTP is unaffected too");
    let _ = Duration::ZERO;
}
