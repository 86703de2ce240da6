//! Clients that try to make a socket cost the server without bound: pings without reading,
//! pings instead of messages, a message that never completes, a client that stops reading,
//! more sockets than the server takes connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fratello::prelude::*;
use fratello::test::tungstenite::protocol::frame::coding::{Data, OpCode};
use fratello::test::tungstenite::protocol::frame::Frame;
use fratello::test::tungstenite::Message as Raw;
use fratello::test::TestClient;
use fratello::ws::WsConfig;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;

#[ws("/abuse/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(m) = ctx.recv().await? {
        ctx.send(m).await?;
    }
    Ok(())
}

/// Sends as fast as the socket takes; says when `send` gave up.
#[ws("/abuse/firehose")]
async fn firehose(ctx: Context) -> Result<()> {
    let chunk = "x".repeat(64 * 1024);
    let outcome = async {
        loop {
            ctx.send(chunk.clone()).await?;
        }
    }
    .await;
    ctx.state::<Arc<AtomicBool>>()?.store(true, Ordering::SeqCst);
    outcome
}

/// The bytes of request headers the socket kept.
#[ws("/abuse/headers")]
async fn headers(ctx: Context) -> Result<()> {
    let kept: usize = ctx.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    ctx.send(kept.to_string()).await
}

fn app(config: WsConfig) -> App {
    App::only(module_path!()).ws_config(config).state(Arc::new(AtomicBool::new(false)))
}

/// Waits at most `within` for the server to close `ws`: its close code.
async fn closed_within(ws: &mut fratello::test::WsClient, within: Duration) -> u16 {
    tokio::time::timeout(within, ws.closed()).await.expect("the server closed the socket in time").0
}

#[tokio::test]
async fn pings_do_not_keep_a_silent_socket_open() {
    let config = WsConfig::default().ping_interval(None).idle_timeout(Some(Duration::from_millis(400)));
    let c = TestClient::start(app(config)).await;
    let mut ws = c.ws("/abuse/echo").connect().await;
    // A ping every 50 ms (its pong read), and nothing else: the server closes the socket as
    // idle while the pings go on.
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(3), "pings kept a silent socket open for 3 s");
        if ws.try_send(Raw::Ping(Vec::new().into())).await.is_err() {
            break;
        }
        if let Ok(None) = tokio::time::timeout(Duration::from_millis(50), ws.recv()).await {
            break; // closed
        }
    }
    assert_eq!(ws.closed().await.0, 1001);
}

#[tokio::test]
async fn a_message_that_never_completes_is_closed_with_1008() {
    let config = WsConfig::default().message_timeout(Duration::from_millis(400));
    let c = TestClient::start(app(config)).await;
    let mut ws = c.ws("/abuse/echo").connect().await;
    // The first fragment of a message, then pings (answered) instead of the rest.
    let first = Frame::message(vec![b'a'; 64 * 1024], OpCode::Data(Data::Text), false);
    ws.send_raw(Raw::Frame(first)).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if ws.try_send(Raw::Ping(Vec::new().into())).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed_within(&mut ws, Duration::from_secs(3)).await, 1008);
    // A message that does complete, slowly but within the deadline, is fine.
    let mut ws = c.ws("/abuse/echo").connect().await;
    ws.send_raw(Raw::Frame(Frame::message(b"he".to_vec(), OpCode::Data(Data::Text), false))).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    ws.send_raw(Raw::Frame(Frame::message(b"llo".to_vec(), OpCode::Data(Data::Continue), true))).await;
    assert_eq!(ws.recv_text().await, "hello");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let gave_up = Arc::new(AtomicBool::new(false));
    let app = App::only(module_path!())
        .ws_config(WsConfig::default().write_timeout(Duration::from_millis(300)))
        .state(gave_up.clone());
    let c = TestClient::start(app).await;
    let mut ws = c.ws("/abuse/firehose").connect().await;
    // Never read: the socket buffers fill, then nothing moves.
    let start = Instant::now();
    while !gave_up.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the server still waits for a client that does not read"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What had been written arrives, then the connection ends without a close frame.
    assert_eq!(closed_within(&mut ws, Duration::from_secs(5)).await, 1006);
}

#[tokio::test]
async fn sockets_hold_their_connection_slot() {
    let c = TestClient::start(app(WsConfig::default()).max_connections(3)).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(c.ws("/abuse/echo").connect().await);
    }
    // A fourth waits in the listen backlog: its handshake gets no answer.
    let fourth = tokio::time::timeout(Duration::from_millis(500), c.ws("/abuse/echo").try_connect()).await;
    assert!(fourth.is_err(), "a fourth socket was accepted over max_connections(3)");
    // One leaves: now there is room.
    let mut first = open.remove(0);
    first.close(1000).await;
    first.closed().await;
    let mut ws = tokio::time::timeout(Duration::from_secs(5), c.ws("/abuse/echo").connect())
        .await
        .expect("a slot was given back when the socket ended");
    ws.send_text("in").await;
    assert_eq!(ws.recv_text().await, "in");
}

#[tokio::test]
async fn the_per_peer_limit_closes_extra_connections_from_one_address() {
    let c = TestClient::start(app(WsConfig::default()).max_connections_per_ip(2)).await;
    let _a = c.ws("/abuse/echo").connect().await;
    let _b = c.ws("/abuse/echo").connect().await;
    // A third connection from 127.0.0.1 is closed at once.
    let mut third = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf)).await.expect("closed");
    assert!(matches!(read, Ok(0) | Err(_)), "the third connection was served: {read:?}");
    // Another loopback address is another peer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let other = socket.connect(c.addr()).await.unwrap();
    let (mut other, _) = tokio_tungstenite::client_async(format!("ws://{}/abuse/echo", c.addr()), other)
        .await
        .expect("served");
    other.send(Raw::text("hi")).await.unwrap();
}

#[tokio::test]
async fn the_default_message_limit_is_one_mebibyte() {
    let c = TestClient::start(app(WsConfig::default())).await;
    let mut ws = c.ws("/abuse/echo").connect().await;
    ws.send_text(&"x".repeat(1 << 20)).await;
    assert_eq!(ws.recv_text().await.len(), 1 << 20);
    let _ = ws.try_send(Raw::text("x".repeat((1 << 20) + 1))).await;
    assert_eq!(closed_within(&mut ws, Duration::from_secs(5)).await, 1009);
}

#[tokio::test]
async fn a_socket_keeps_a_bounded_share_of_its_request_headers() {
    let c = TestClient::start(app(WsConfig::default())).await;
    let big = "v".repeat(8 * 1024);
    let mut req = c.ws("/abuse/headers");
    // Six fillers stay under the default 64 KiB request head.
    for i in 0..6 {
        req = req.header(&format!("x-filler-{i}"), &big);
    }
    let mut ws = req.header("x-small", "kept").connect().await;
    let kept: usize = ws.recv_text().await.parse().unwrap();
    assert!(kept <= 16 * 1024, "the socket kept {kept} bytes of headers");
    assert!(kept >= 8 * 1024, "it keeps what fits: {kept}");
}

#[tokio::test]
async fn a_client_that_pings_between_whole_messages_stays_open() {
    let config = WsConfig::default().message_timeout(Duration::from_millis(200));
    let c = TestClient::start(app(config)).await;
    let mut ws = c.ws("/abuse/echo").connect().await;
    for n in 0..10 {
        ws.send_raw(Raw::Ping(b"are you there".to_vec().into())).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        if n % 3 == 0 {
            ws.send_text(&n.to_string()).await;
            assert_eq!(ws.recv_text().await, n.to_string());
        }
    }
    ws.send_text("still open").await;
    assert_eq!(ws.recv_text().await, "still open");
}
