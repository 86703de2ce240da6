//! WebSocket routes as brothers of HTTP routes: one middleware, one Context, real sockets.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::ws::WsConfig;

#[derive(Clone, Debug)]
struct User {
    name: String,
}

/// The same guard for the REST route and the socket.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    let token = ctx.header("authorization").ok_or_else(|| Error::unauthorized("missing token"))?;
    let name = token.strip_prefix("Bearer ").ok_or_else(|| Error::unauthorized("expected `Bearer NAME`"))?;
    ctx.set(User { name: name.to_owned() });
    Ok(())
}

#[middleware(after, path = "/api/chat")]
async fn handshake_header(ctx: Context) -> Result<()> {
    ctx.set_header("x-handshake", ctx.response_status().as_str());
    Ok(())
}

#[get("/api/me")]
async fn me(ctx: Context) -> Result<String> {
    Ok(ctx.get::<User>().ok_or_else(|| Error::unauthorized("no user"))?.name)
}

#[ws("/api/chat")]
async fn chat(ctx: Context) -> Result<()> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    while let Some(msg) = ctx.recv().await? {
        ctx.send(format!("{}: {}", user.name, msg.as_text()?)).await?;
    }
    Ok(())
}

#[ws("/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

/// One task receives while a spawned one sends ticks from a clone of the Context.
#[ws("/ticker")]
async fn ticker(ctx: Context) -> Result<()> {
    let sender = ctx.clone();
    let ticks = tokio::spawn(async move {
        for i in 0..50 {
            if sender.send(format!("tick {i}")).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut got = 0;
    while let Some(msg) = ctx.recv().await? {
        got += 1;
        ctx.send(Json(serde_json::json!({ "echo": msg.as_text()?, "n": got }))).await?;
    }
    ticks.abort();
    Ok(())
}

#[ws("/proto")]
async fn proto(ctx: Context) -> Result<()> {
    ctx.send(ctx.protocol().unwrap_or_else(|| "none".into())).await
}

/// Chooses the subprotocol itself, from the offer, before the 101 is sent.
#[middleware(path = "/picky")]
async fn pick_protocol(ctx: Context) -> Result<()> {
    let offered = ctx.protocols().iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let best =
        offered.iter().find(|p| p.starts_with("json.")).ok_or_else(|| Error::bad_request("speak json.*"))?;
    ctx.set_protocol(best)
}

#[ws("/picky")]
async fn picky(ctx: Context) -> Result<()> {
    ctx.send(ctx.protocol().unwrap_or_default()).await
}

#[ws("/guarded-origin")]
async fn guarded_origin(ctx: Context) -> Result<()> {
    ctx.send("welcome").await
}

/// A socket keeps its request headers (packed, not in a `HeaderMap`) for its whole life.
#[ws("/headers")]
async fn headers(ctx: Context) -> Result<()> {
    let show = |v: Option<&str>| v.unwrap_or("(none)").to_owned();
    ctx.send(show(ctx.header("x-team"))).await?;
    ctx.send(show(ctx.header(http::header::USER_AGENT))).await?;
    ctx.send(show(ctx.header("X-TEAM"))).await?; // names are case-insensitive
    ctx.send(show(ctx.header("x-binary"))).await?; // not visible ASCII
    ctx.send(show(ctx.header("sec-websocket-key"))).await?; // only the handshake reads it
    let all = ctx.headers();
    let teams: Vec<&str> = all.get_all("x-team").iter().filter_map(|v| v.to_str().ok()).collect();
    ctx.send(teams.join("+")).await?;
    ctx.send(all.contains_key(http::header::UPGRADE).to_string()).await?;
    Ok(())
}

async fn client() -> TestClient {
    TestClient::start(
        App::only(module_path!())
            .ws_route_config("/proto", WsConfig::default().protocols(["chat.v2", "chat.v1"]))
            .ws_route_config(
                "/guarded-origin",
                WsConfig::default().allowed_origins(["https://good.example"]),
            ),
    )
    .await
}

#[tokio::test]
async fn echo_text_and_binary() {
    let c = client().await;
    let mut ws = c.ws("/echo").connect().await;
    ws.send_text("hello").await;
    assert_eq!(ws.recv_text().await, "hello");
    ws.send_binary(vec![0u8, 1, 2, 255]).await;
    let m = ws.recv().await.unwrap();
    assert!(!m.is_text());
    assert_eq!(m.as_bytes(), &[0, 1, 2, 255]);
    // A large message arrives whole, although tungstenite's buffer is 256 bytes.
    let big = "x".repeat(300_000);
    ws.send_text(&big).await;
    assert_eq!(ws.recv_text().await.len(), 300_000);
    ws.close(1000).await;
    assert_eq!(ws.closed().await.0, 1000);
}

#[tokio::test]
async fn a_socket_reads_its_request_headers() {
    let c = client().await;
    let mut ws = c
        .ws("/headers")
        .header("x-team", "red")
        .header("x-team", "blue")
        .header("user-agent", "fratello-test/1.0")
        .header("x-binary", &b"caf\xc3\xa9"[..])
        .connect()
        .await;
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(ws.recv_text().await);
    }
    assert_eq!(got, ["red", "fratello-test/1.0", "red", "(none)", "(none)", "red+blue", "false"]);
    assert_eq!(ws.closed().await.0, 1000);
}

#[tokio::test]
async fn a_burst_of_messages_in_one_read_arrives_in_order() {
    // Many small frames sent back to back arrive in a few reads, most of them larger than
    // tungstenite's 256-byte buffer: what it does not take at once waits for the next read.
    let c = client().await;
    let mut ws = c.ws("/echo").connect().await;
    for i in 0..500 {
        ws.send_raw(fratello::test::tungstenite::Message::text(format!(
            "message {i:03} {}",
            "y".repeat(i % 97)
        )))
        .await;
    }
    for i in 0..500 {
        assert_eq!(ws.recv_text().await, format!("message {i:03} {}", "y".repeat(i % 97)));
    }
}

#[tokio::test]
async fn frames_sent_with_the_handshake_are_not_lost() {
    // A client that does not wait for the 101 sends its first frames in the same packet as
    // its request: hyper reads them along with the request head, and the socket must still
    // hand them to the handler, before anything read later.
    use fratello::test::tungstenite::{protocol::Role, Message as WsMessage, WebSocket};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let c = client().await;
    // The frames, masked as a client masks them, written by tungstenite into a buffer.
    let mut framer = WebSocket::from_raw_socket(std::io::Cursor::new(Vec::new()), Role::Client, None);
    framer.send(WsMessage::text("early one")).expect("framed");
    framer.send(WsMessage::text("early two")).expect("framed");
    let frames = framer.get_ref().get_ref().clone();

    let mut tcp = tokio::net::TcpStream::connect(c.addr()).await.expect("connects");
    let mut packet = format!(
        "GET /echo HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        c.addr()
    )
    .into_bytes();
    packet.extend_from_slice(&frames);
    tcp.write_all(&packet).await.expect("sent");

    // The 101, then the two echoes, read by tungstenite on the same socket.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("the response head"));
    }
    let head = String::from_utf8(head).expect("text");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let tcp = tcp.into_std().expect("a std socket");
    tcp.set_nonblocking(false).expect("blocking");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    let echoes = tokio::task::spawn_blocking(move || {
        let mut ws = WebSocket::from_raw_socket(tcp, Role::Client, None);
        let one = ws.read().expect("the first echo");
        let two = ws.read().expect("the second echo");
        ws.send(WsMessage::text("later")).expect("sent");
        let three = ws.read().expect("the third echo");
        [one, two, three].map(|m| m.into_text().expect("text").to_string())
    })
    .await
    .expect("the client ran");
    assert_eq!(echoes, ["early one", "early two", "later"]);
}

#[tokio::test]
async fn one_middleware_guards_rest_and_socket() {
    let c = client().await;
    // Without a token: 401 on both, and no socket.
    assert_eq!(c.get("/api/me").send().await.status(), StatusCode::UNAUTHORIZED);
    let refused = c.ws("/api/chat").try_connect().await.err().expect("refused");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body, "missing token");
    // With it: the user reaches both handlers.
    assert_eq!(c.get("/api/me").header("authorization", "Bearer ada").send().await.text(), "ada");
    let mut ws = c.ws("/api/chat").header("authorization", "Bearer ada").connect().await;
    assert_eq!(ws.handshake_headers().get("x-handshake").unwrap(), "101");
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "ada: hi");
}

#[tokio::test]
async fn send_from_a_spawned_task_while_receiving() {
    let c = client().await;
    let mut ws = c.ws("/ticker").connect().await;
    let (mut ticks, mut echoes) = (Vec::new(), 0);
    ws.send_text("a").await;
    ws.send_text("b").await;
    while ticks.len() < 50 || echoes < 2 {
        let m = ws.recv().await.expect("the socket stays open");
        let t = m.as_text().unwrap().to_owned();
        if let Some(n) = t.strip_prefix("tick ") {
            ticks.push(n.parse::<u32>().unwrap());
        } else {
            echoes += 1;
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["n"], echoes);
        }
    }
    assert_eq!(ticks, (0..50).collect::<Vec<_>>(), "ticks arrive once and in order");
}

#[tokio::test]
async fn bad_handshakes_get_clear_http_errors() {
    let c = client().await;
    let res = c.get("/echo").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("WebSocket endpoint"), "{}", res.text());
    let res = c
        .get("/echo")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(res.header("sec-websocket-version"), Some("13"));
    let res = c
        .get("/echo")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "short")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("Sec-WebSocket-Key"));
    let res = c.get("/echo").http2().send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("HTTP/2"), "{}", res.text());
}

#[tokio::test]
async fn subprotocol_is_chosen_from_the_config() {
    let c = client().await;
    let mut ws = c.ws("/proto").header("sec-websocket-protocol", "chat.v1, chat.v2").connect().await;
    assert_eq!(ws.handshake_headers().get("sec-websocket-protocol").unwrap(), "chat.v2");
    assert_eq!(ws.recv_text().await, "chat.v2");
    let mut ws = c.ws("/proto").connect().await;
    assert_eq!(ws.recv_text().await, "none");
}

#[tokio::test]
async fn middleware_chooses_the_subprotocol() {
    let c = client().await;
    let mut ws = c.ws("/picky").header("sec-websocket-protocol", "xml.v1, json.v3").connect().await;
    assert_eq!(ws.handshake_headers().get("sec-websocket-protocol").unwrap(), "json.v3");
    assert_eq!(ws.recv_text().await, "json.v3");
    let refused =
        c.ws("/picky").header("sec-websocket-protocol", "xml.v1").try_connect().await.err().unwrap();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn origin_allowlist() {
    let c = client().await;
    let refused =
        c.ws("/guarded-origin").header("origin", "https://evil.example").try_connect().await.err().unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("origin") && !refused.body.contains("evil.example"), "{}", refused.body);
    let mut ws = c.ws("/guarded-origin").header("origin", "https://GOOD.example").connect().await;
    assert_eq!(ws.recv_text().await, "welcome");
    // Non-browser clients send no Origin and are let in.
    let mut ws = c.ws("/guarded-origin").connect().await;
    assert_eq!(ws.recv_text().await, "welcome");
}

#[tokio::test]
async fn only_the_servers_own_origin_by_default() {
    let c = client().await;
    // `/echo` has the default policy: a page of another site may not open it, whatever its
    // credentials (cross-site WebSocket hijacking).
    for origin in ["https://evil.example", "null", &format!("http://{}.evil.example", c.addr().ip())] {
        let refused = c.ws("/echo").header("origin", origin).try_connect().await.err().unwrap();
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(refused.body.contains("WsConfig::allowed_origins"), "says how to allow it: {}", refused.body);
    }
    // Another port of the same host is another origin.
    let other_port = format!("http://{}:{}", c.addr().ip(), c.addr().port() + 1);
    assert!(c.ws("/echo").header("origin", &other_port).try_connect().await.is_err());
    // The page the server serves itself, and a client that sends no Origin, are let in.
    let mut ws = c.ws("/echo").header("origin", &format!("http://{}", c.addr())).connect().await;
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "hi");
    let mut ws = c.ws("/echo").connect().await;
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "hi");
    // `any_origin` opens it to every page.
    let open = TestClient::start(App::only(module_path!()).ws_config(WsConfig::default().any_origin())).await;
    let mut ws = open.ws("/echo").header("origin", "https://elsewhere.example").connect().await;
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "hi");
}

#[tokio::test]
async fn ws_route_config_must_name_a_ws_route() {
    let err =
        TestClient::try_start(App::only(module_path!()).ws_route_config("/api/me", WsConfig::default()))
            .await
            .err()
            .unwrap();
    assert!(err.to_string().contains("no #[ws] route"), "{err}");
}
