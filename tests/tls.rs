//! HTTPS over real sockets with real clients: hyper's client over tokio-rustls (HTTP/1.1 and
//! h2 by ALPN), tokio-tungstenite over tokio-rustls (`wss://`), the test client's TLS;
//! certificates reloaded while a socket stays open; clients that fail their handshake, closed
//! alone; the limits and shutdown over TLS. (curl against the hello example: tls_example.rs.)

#[path = "support/tls.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::tls::TlsConfig;
use fratello::ws::WsConfig;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{alpn, connect, peer_cert, Logs, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Frame;

#[get("/tls/hello")]
async fn hello(ctx: Context) -> String {
    format!("hello over {:?}", ctx.version())
}

#[ws("/tls/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

/// On "COUNT SIZE": COUNT binary messages of SIZE bytes, the i-th filled with the byte i; then
/// nothing more until the client's next message (so that nothing written later pushes out
/// what the first writes left behind).
#[ws("/tls/flood")]
async fn flood(ctx: Context) -> Result<()> {
    let Some(msg) = ctx.recv().await? else { return Ok(()) };
    let (count, size) = msg.as_text()?.split_once(' ').expect("COUNT SIZE");
    let (count, size): (usize, usize) = (count.parse().unwrap(), size.parse().unwrap());
    for i in 0..count {
        ctx.send(Bytes::from(vec![i as u8; size])).await?;
    }
    ctx.recv().await?;
    Ok(())
}

#[sse("/tls/events")]
async fn events(ctx: Context) -> Result<()> {
    ctx.send(Event::new().data("one")).await?;
    std::future::pending::<()>().await;
    Ok(())
}

fn app() -> App {
    App::only(module_path!())
}

/// A server for `app` with `tls` on a loopback port; it stops when the sender is dropped.
fn serve(app: App, tls: TlsConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let (addr, server) = app
        .bind_tls_with(listener, tls, async move {
            let _ = stopped.await;
        })
        .unwrap();
    tokio::spawn(server);
    (addr, stop)
}

fn tls_of(leaf: &support::Leaf) -> TlsConfig {
    TlsConfig::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap()
}

/// One HTTP/1.1 GET over `tls` with hyper's client: status and body.
async fn get_h1(
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    path: &str,
) -> (StatusCode, String) {
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path).header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
    let res = send.send_request(req).await.unwrap();
    let status = res.status();
    (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

#[tokio::test]
async fn hyper_speaks_http1_and_h2_as_chosen_by_alpn() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let (addr, _stop) = serve(app(), tls_of(&pki.leaf("server")));

    let tls = connect(pki.client(&[b"http/1.1"]), addr, "localhost").await.unwrap();
    assert_eq!(alpn(&tls).as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(get_h1(tls, "/tls/hello").await, (StatusCode::OK, "hello over HTTP/1.1".to_owned()));

    // A client that offers both gets h2, the server's first choice.
    let tls = connect(pki.client(&[b"h2", b"http/1.1"]), addr, "localhost").await.unwrap();
    assert_eq!(alpn(&tls).as_deref(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    for path in ["/tls/hello", "/tls/missing"] {
        let req = http::Request::get(format!("https://localhost{path}")).body(Empty::<Bytes>::new()).unwrap();
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        match path {
            "/tls/hello" => assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello over HTTP/2.0"[..])),
            _ => assert_eq!(status, StatusCode::NOT_FOUND),
        }
    }

    // No ALPN at all: HTTP/1.1.
    let tls = connect(pki.client(&[]), addr, "localhost").await.unwrap();
    assert_eq!(alpn(&tls), None);
    assert_eq!(get_h1(tls, "/tls/hello").await.1, "hello over HTTP/1.1");
}

#[tokio::test]
async fn tokio_tungstenite_speaks_wss() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let (addr, _stop) = serve(app(), tls_of(&pki.leaf("server")));
    let tls = connect(pki.client(&[b"http/1.1"]), addr, "localhost").await.unwrap();
    let (mut ws, res) = tokio_tungstenite::client_async("wss://localhost/tls/echo", tls).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["one", "two"] {
        ws.send(Frame::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Frame::text(text));
    }
    // Messages larger than a TLS record (16 KiB) both ways.
    let big = vec![7u8; 600 * 1024];
    for _ in 0..4 {
        ws.send(Frame::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap().into_data(), &big[..]);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn the_test_client_speaks_https_wss_and_sse() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let c = TestClient::start_tls(app(), tls_of(&pki.leaf("server")), pki.ca_der()).await;
    assert!(c.url("/x").starts_with("https://localhost:"), "{}", c.url("/x"));
    let res = c.get("/tls/hello").send().await;
    assert_eq!((res.version(), res.text()), (http::Version::HTTP_11, "hello over HTTP/1.1".to_owned()));
    let res = c.get("/tls/hello").http2().send().await;
    assert_eq!((res.version(), res.text()), (http::Version::HTTP_2, "hello over HTTP/2.0".to_owned()));

    let mut ws = c.ws("/tls/echo").connect().await;
    ws.send_text("over wss").await;
    assert_eq!(ws.recv_text().await, "over wss");

    for h2 in [false, true] {
        let sse = c.sse("/tls/events");
        let sse = if h2 { sse.http2() } else { sse };
        let mut stream = sse.connect().await;
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(stream.next_event().await.unwrap().data.as_deref(), Some("one"));
    }
}

#[tokio::test]
async fn a_client_that_reads_slowly_gets_every_byte_of_a_wss_flood() {
    let _watchdog = support::watchdog();
    // The server writes more than the socket takes (the client's receive buffer is small, and
    // it reads slowly): the socket's task waits for the client while TLS holds what it could
    // not write, and every byte arrives, the last ones too, with nothing written after them.
    // (The unit test in framework/src/ws/wire.rs pins the rule this relies on.)
    let pki = Pki::new();
    let (addr, _stop) = serve(app(), tls_of(&pki.leaf("server")));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let name = fratello::tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(pki.client(&[b"http/1.1"])).connect(name, tcp).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/tls/flood", tls).await.unwrap();
    let (count, size) = (48, 64 * 1024);
    ws.send(Frame::text(format!("{count} {size}"))).await.unwrap();
    for i in 0..count {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        let msg = next.unwrap_or_else(|_| panic!("message {i} of {count} within 5 s")).unwrap().unwrap();
        let data = msg.into_data();
        assert!(data.len() == size && data.iter().all(|&b| b == i as u8), "message {i} intact");
    }
    ws.send(Frame::text("done")).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("the server closes");
    assert!(matches!(end, Some(Ok(Frame::Close(Some(ref f)))) if u16::from(f.code) == 1000), "{end:?}");
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_handshakes_and_open_sockets_stay() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let dir = support::temp_dir("reload");
    let (first, second) = (pki.leaf("first"), pki.leaf("second"));
    let (cert, key) = first.write_to(&dir);
    let tls = TlsConfig::reloading(&cert, &key).unwrap().reload_interval(Duration::from_millis(50));
    let (addr, _stop) = serve(app(), tls);
    let client = pki.client(&[b"http/1.1"]);

    let stream = connect(client.clone(), addr, "localhost").await.unwrap();
    assert_eq!(peer_cert(&stream), first.der);
    let (mut old, _) = tokio_tungstenite::client_async("wss://localhost/tls/echo", stream).await.unwrap();

    second.write_to(&dir);
    let seen = async {
        loop {
            let stream = connect(client.clone(), addr, "localhost").await.unwrap();
            if peer_cert(&stream) == second.der {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let stream = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("new handshakes get the new certificate");
    assert_eq!(get_h1(stream, "/tls/hello").await.0, StatusCode::OK);
    old.send(Frame::text("still here")).await.unwrap();
    assert_eq!(old.next().await.unwrap().unwrap(), Frame::text("still here"), "the open socket still echoes");

    // A bad new certificate is ignored: the second one stays in use.
    support::write_renamed(&cert, b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    tokio::time::sleep(Duration::from_millis(300)).await; // (several reload intervals)
    let stream = connect(client.clone(), addr, "localhost").await.unwrap();
    assert_eq!(peer_cert(&stream), second.der);
    old.send(Frame::text("and now")).await.unwrap();
    assert_eq!(old.next().await.unwrap().unwrap(), Frame::text("and now"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_bad_new_certificate_is_logged_at_warn() {
    let _watchdog = support::watchdog();
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let dir = support::temp_dir("warn");
    let (cert, key) = pki.leaf("first").write_to(&dir);
    let tls = TlsConfig::reloading(&cert, &key).unwrap().reload_interval(Duration::from_millis(20));
    let (addr, _stop) = serve(app(), tls);
    // The key of another certificate.
    support::write_renamed(&key, pki.leaf("other").key_pem.as_bytes());
    let warned = async {
        while logs.lines("WARN", "TLS certificate not reloaded").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), warned).await.expect("a warning");
    let line = &logs.lines("WARN", "TLS certificate not reloaded")[0];
    assert!(line.contains("key.pem") && line.contains("does not match"), "{line}");
    let stream = connect(pki.client(&[]), addr, "localhost").await.unwrap();
    assert_eq!(get_h1(stream, "/tls/hello").await.0, StatusCode::OK, "the first pair still serves");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_certificate_that_cannot_be_used_stops_startup_naming_the_file() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let dir = support::temp_dir("startup");
    let (cert, key) = pki.leaf("one").write_to(&dir);
    let missing = dir.join("missing.pem");
    let message = |r: std::result::Result<TlsConfig, StartupError>| r.unwrap_err().to_string();

    let e = message(TlsConfig::reloading(&missing, &key));
    assert!(
        e.contains("certificate file") && e.contains("missing.pem") && e.contains("cannot read it"),
        "{e}"
    );
    let e = message(TlsConfig::from_pem_files(&cert, &missing));
    assert!(e.contains("key file") && e.contains("missing.pem") && e.contains("cannot read it"), "{e}");
    let e = message(TlsConfig::from_pem_files(&key, &key));
    assert!(e.contains("key.pem") && e.contains("no certificate in it"), "{e}");
    let e = message(TlsConfig::from_pem_files(&cert, &cert));
    assert!(e.contains("cert.pem") && e.contains("no private key in it"), "{e}");
    let other = dir.join("other.pem");
    std::fs::write(&other, pki.leaf("two").key_pem).unwrap();
    let e = message(TlsConfig::reloading(&cert, &other));
    assert!(e.contains("other.pem") && e.contains("does not match") && e.contains("cert.pem"), "{e}");
    let e = message(TlsConfig::from_pem("junk", "junk"));
    assert!(e.contains("certificate PEM: no certificate in it"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads what the server sends until it closes the connection (or 5 s pass: a failure).
async fn read_to_close(mut io: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("the server closes the connection");
    got
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_closed_alone_and_logged_at_debug() {
    let _watchdog = support::watchdog();
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let (addr, _stop) = serve(app(), tls_of(&pki.leaf("server")));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /tls/hello HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let got = read_to_close(tcp).await;
    assert!(!got.starts_with(b"HTTP/"), "no HTTP answer in cleartext: {:?}", String::from_utf8_lossy(&got));
    let stream = connect(pki.client(&[]), addr, "localhost").await.unwrap();
    assert_eq!(get_h1(stream, "/tls/hello").await.0, StatusCode::OK, "the server goes on");
    assert!(!logs.lines("DEBUG", "TLS handshake failed").is_empty(), "{}", logs.text());
}

#[tokio::test]
async fn a_stalled_handshake_times_out_without_holding_up_others() {
    let _watchdog = support::watchdog();
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let tls = tls_of(&pki.leaf("server")).handshake_timeout(Duration::from_millis(300));
    let (addr, _stop) = serve(app(), tls);
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    partial.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap(); // a ClientHello's start
                                                                             // Both stall their handshake while another client is served.
    let stream = connect(pki.client(&[]), addr, "localhost").await.unwrap();
    assert_eq!(get_h1(stream, "/tls/hello").await.0, StatusCode::OK);
    read_to_close(silent).await;
    read_to_close(partial).await;
    assert_eq!(logs.lines("DEBUG", "TLS handshake not completed in time").len(), 2, "{}", logs.text());
}

#[tokio::test]
async fn an_unknown_server_name_is_refused_alone() {
    let _watchdog = support::watchdog();
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let leaf = pki.leaf("server");
    let key = rustls_key(&leaf);
    let mut by_name = fratello::tls::rustls::server::ResolvesServerCertUsingSni::new();
    by_name.add("localhost", key).unwrap();
    let config = fratello::tls::rustls::ServerConfig::builder_with_provider(support::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(std::sync::Arc::new(by_name));
    let (addr, _stop) = serve(app(), TlsConfig::from_rustls(std::sync::Arc::new(config)));
    assert!(connect(pki.client(&[]), addr, "elsewhere.test").await.is_err(), "no certificate for that name");
    let stream = connect(pki.client(&[b"h2", b"http/1.1"]), addr, "localhost").await.unwrap();
    assert_eq!(alpn(&stream).as_deref(), Some(&b"h2"[..]), "ALPN set on the user's configuration");
    assert!(!logs.lines("DEBUG", "TLS handshake failed").is_empty(), "{}", logs.text());
}

fn rustls_key(leaf: &support::Leaf) -> fratello::tls::rustls::sign::CertifiedKey {
    use fratello::tls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    fratello::tls::rustls::sign::CertifiedKey::from_der(vec![leaf.der.clone()], key, &support::provider())
        .unwrap()
}

#[tokio::test]
async fn a_client_certificate_nobody_asked_for_changes_nothing() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let (addr, _stop) = serve(app(), tls_of(&pki.leaf("server")));
    let stream = connect(pki.client_with_cert(), addr, "localhost").await.unwrap();
    assert_eq!(get_h1(stream, "/tls/hello").await, (StatusCode::OK, "hello over HTTP/1.1".to_owned()));
}

#[tokio::test]
async fn the_header_read_timeout_starts_after_the_handshake() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let app = app().header_read_timeout(Duration::from_millis(300));
    let (addr, _stop) = serve(app, tls_of(&pki.leaf("server")));
    let config = pki.client(&[b"http/1.1"]);
    // A handshake that begins later than the header read timeout is still served...
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let name = fratello::tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.unwrap();
    assert_eq!(get_h1(stream, "/tls/hello").await.0, StatusCode::OK);
    // ...and a connection that sends no request after its handshake is closed.
    let idle = connect(config, addr, "localhost").await.unwrap();
    read_to_close(idle).await;
}

#[tokio::test]
async fn a_connection_waiting_for_the_limit_gets_its_handshake_when_one_closes() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let (addr, _stop) = serve(app().max_connections(1), tls_of(&pki.leaf("server")));
    let config = pki.client(&[b"http/1.1"]);
    let first = connect(config.clone(), addr, "localhost").await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(first)).await.unwrap();
    let conn = tokio::spawn(conn);
    let req =
        http::Request::get("/tls/hello").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), StatusCode::OK);
    let second = tokio::spawn(connect(config, addr, "localhost"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "no handshake while the one connection allowed is open");
    drop(send);
    conn.abort();
    let second =
        tokio::time::timeout(Duration::from_secs(5), second).await.expect("served once the first closes");
    assert_eq!(get_h1(second.unwrap().unwrap(), "/tls/hello").await.0, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_closes_wss_with_1001_and_ends_sse_with_its_retry_hint() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let app = app()
        .shutdown_timeout(Duration::from_secs(5))
        .sse_config(fratello::config::SseConfig::default().shutdown_retry(Duration::from_millis(750)));
    let c = TestClient::start_tls(app, tls_of(&pki.leaf("server")), pki.ca_der()).await;
    let mut ws = c.ws("/tls/echo").connect().await;
    let mut h1 = c.sse("/tls/events").connect().await;
    let mut h2 = c.sse("/tls/events").http2().connect().await;
    for s in [&mut h1, &mut h2] {
        assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("one"));
    }
    let stop = tokio::spawn(c.shutdown());
    assert_eq!(ws.closed().await, (1001, "server shutting down".to_owned()));
    for s in [&mut h1, &mut h2] {
        let mut retry = None;
        while let Some(block) = s.next_block().await {
            retry = retry.or(block.retry);
        }
        assert_eq!(retry, Some(750));
    }
    tokio::time::timeout(Duration::from_secs(5), stop).await.expect("shutdown completes").unwrap();
}

#[tokio::test]
async fn an_idle_wss_socket_is_closed_with_1001() {
    let _watchdog = support::watchdog();
    let pki = Pki::new();
    let idle = WsConfig::default().ping_interval(None).idle_timeout(Some(Duration::from_millis(300)));
    let c = TestClient::start_tls(app().ws_config(idle), tls_of(&pki.leaf("server")), pki.ca_der()).await;
    let mut ws = c.ws("/tls/echo").connect().await;
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "hi");
    assert_eq!(ws.closed().await, (1001, "idle timeout".to_owned()));
}
