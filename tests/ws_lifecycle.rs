//! Socket lifecycle: pings, a dead peer detected by the idle timeout (and a live one not),
//! shutdown with 1001.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::ws::WsConfig;

type Ends = tokio::sync::mpsc::UnboundedSender<&'static str>;

#[ws("/wait")]
async fn wait(ctx: Context) -> Result<()> {
    while ctx.recv().await?.is_some() {}
    ctx.state::<Ends>()?.send("recv ended").ok();
    Ok(())
}

#[tokio::test]
async fn a_silent_peer_is_pinged_then_dropped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let config = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(400)));
    let c = TestClient::start(App::only(module_path!()).state(tx).ws_config(config)).await;

    // A live client answers pings (its reader does it): it stays connected past the timeout.
    let mut live = c.ws("/wait").connect().await;
    let reader = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_millis(900), live.recv()).await;
        live
    });

    // A dead one never reads, so never answers: the server gives up on it.
    let dead = c.ws("/wait").connect().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(ended.expect("the handler's recv ends").unwrap(), "recv ended");
    let mut live = reader.await.unwrap();
    live.send_text("still alive").await; // it would fail if the server had closed it
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err(),
        "only one socket ended"
    );
    drop(dead);
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_1001() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let app = App::only(module_path!()).state(tx).shutdown_timeout(Duration::from_secs(5));
    let c = TestClient::start(app).await;
    let mut a = c.ws("/wait").connect().await;
    let mut b = c.ws("/wait").connect().await;
    let stop = tokio::spawn(c.shutdown());
    assert_eq!(a.closed().await, (1001, "server shutting down".to_owned()));
    assert_eq!(b.closed().await.0, 1001);
    tokio::time::timeout(Duration::from_secs(5), stop).await.expect("shutdown completes").unwrap();
}

#[ws("/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(m) = ctx.recv().await? {
        ctx.send(m).await?;
    }
    Ok(())
}

/// An app whose clock ticks every 50 ms (pings due that often): a quiet socket gives back
/// tungstenite's state between messages, one with part of a frame must not.
async fn ticking() -> TestClient {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let config = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .idle_timeout(Some(Duration::from_secs(30)));
    TestClient::start(App::only(module_path!()).state(tx).ws_config(config)).await
}

type Raw = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A plain tungstenite client, whose TCP stream the test can write to directly.
async fn raw_client(c: &TestClient) -> Raw {
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let url = format!("ws://{}/echo", c.addr());
    tokio_tungstenite::client_async(url, tcp).await.expect("handshake").0
}

/// The next text message (pings are answered on the way).
async fn next_text(ws: &mut Raw) -> String {
    use futures_util::StreamExt;
    let read = async {
        loop {
            match ws.next().await.expect("open").expect("no error") {
                tokio_tungstenite::tungstenite::Message::Text(t) => return t.to_string(),
                tokio_tungstenite::tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.expect("a reply in time")
}

/// A client's text frame as it goes on the wire (masked).
fn text_frame(text: &str) -> Vec<u8> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let mut frame = Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some(*b"mask");
    let mut bytes = Vec::new();
    frame.format(&mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn a_socket_quiet_for_ticks_still_reads_pings_and_messages() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as M;
    let c = ticking().await;
    let mut ws = raw_client(&c).await;
    for round in 0..4 {
        // Quiet for several ticks, answering the server's pings.
        let _ = tokio::time::timeout(Duration::from_millis(200), next_text(&mut ws)).await;
        ws.send(M::Ping(b"here".to_vec().into())).await.unwrap();
        ws.send(M::text(format!("message {round}"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!("message {round}"));
    }
}

#[tokio::test]
async fn a_frame_cut_across_ticks_arrives_whole() {
    use futures_util::SinkExt;
    use tokio::io::AsyncWriteExt;
    let c = ticking().await;
    let mut ws = raw_client(&c).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text("first")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "first");
    // Cut inside the header, then inside the payload; the server's timer fires in between.
    let bytes = text_frame(&"x".repeat(300));
    for piece in [&bytes[..3], &bytes[3..100], &bytes[100..]] {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ws.get_mut().write_all(piece).await.unwrap();
    }
    assert_eq!(next_text(&mut ws).await, "x".repeat(300));
}

#[tokio::test]
async fn a_message_in_fragments_across_ticks_arrives_whole() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message as M;
    let c = ticking().await;
    let mut ws = raw_client(&c).await;
    for round in 0..2 {
        ws.send(M::Frame(Frame::message(b"he".to_vec(), OpCode::Data(Data::Text), false))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        ws.send(M::Frame(Frame::message(b"llo".to_vec(), OpCode::Data(Data::Continue), true))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "hello");
        tokio::time::sleep(Duration::from_millis(200)).await;
        ws.send(M::text(format!("after {round}"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!("after {round}"));
    }
}

/// The pings a raw client on `path` reads in `window` (answering each).
async fn pings_in(c: &TestClient, path: &str, window: Duration) -> usize {
    use futures_util::StreamExt;
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let url = format!("ws://{}{path}", c.addr());
    let mut ws = tokio_tungstenite::client_async(url, tcp).await.expect("handshake").0;
    let mut pings = 0;
    let _ = tokio::time::timeout(window, async {
        while let Some(Ok(m)) = ws.next().await {
            pings += usize::from(m.is_ping());
        }
    })
    .await;
    pings
}

#[tokio::test]
async fn one_clock_keeps_each_route_at_its_own_pace() {
    // One route pings every 50 ms, the rest of the app every 30 s: the app's one clock ticks
    // at the faster pace, and the other sockets are not pinged any sooner for it.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let fast = WsConfig::default().ping_interval(Some(Duration::from_millis(50)));
    let app = App::only(module_path!()).state(tx).ws_route_config("/echo", fast);
    let c = TestClient::start(app).await;
    let window = Duration::from_millis(1_000);
    let (fast, slow) = tokio::join!(pings_in(&c, "/echo", window), pings_in(&c, "/wait", window));
    assert!(fast >= 5, "the fast route's socket was pinged {fast} times in a second");
    assert_eq!(slow, 0, "the other route's socket was pinged");
}

#[tokio::test]
async fn messages_keep_a_socket_open_past_the_idle_timeout() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let config = WsConfig::default().ping_interval(None).idle_timeout(Some(Duration::from_millis(300)));
    let c = TestClient::start(App::only(module_path!()).state(tx).ws_config(config)).await;
    let mut ws = c.ws("/echo").connect().await;
    // A message every 100 ms for four times the timeout: each one counts, and no pong helps
    // (no pings are sent).
    for i in 0..12 {
        ws.send_text(&format!("m{i}")).await;
        assert_eq!(ws.recv_text().await, format!("m{i}"), "the socket was closed while in use");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then silence: closed as idle.
    let closed = tokio::time::timeout(Duration::from_secs(3), ws.closed()).await;
    assert_eq!(closed.expect("closed as idle within 3 s").0, 1001);
}
