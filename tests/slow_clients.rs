//! The header read timeout, kept per connection: a client that never finishes its request
//! head, or leaves a keep-alive connection idle, is disconnected; a slow handler or a long
//! streamed response is not.

use std::time::{Duration, Instant};

use fratello::prelude::*;
use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_millis(300);

#[get("/slow")]
async fn slow(_ctx: Context) -> &'static str {
    tokio::time::sleep(TIMEOUT * 3).await;
    "done"
}

#[get("/drip")]
async fn drip(ctx: Context) -> Result<()> {
    for i in 0..8 {
        ctx.send(format!("{i}")).await?;
        tokio::time::sleep(TIMEOUT / 2).await;
    }
    Ok(())
}

/// A body the handler returns, produced after the handler's future has completed, slower
/// than the timeout.
#[get("/trickle")]
async fn trickle(_ctx: Context) -> fratello::Body {
    let chunks = futures_util::stream::unfold(0u8, |i| async move {
        if i == 6 {
            return None;
        }
        tokio::time::sleep(TIMEOUT / 2).await;
        Some((Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(i.to_string()))), i + 1))
    });
    fratello::Body::new(http_body_util::StreamBody::new(chunks))
}

#[get("/plain")]
async fn plain(_ctx: Context) -> &'static str {
    "plain"
}

async fn client() -> TestClient {
    TestClient::start(App::only(module_path!()).header_read_timeout(TIMEOUT)).await
}

/// Reads until the server closes; the time it took.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let c = client().await;
    let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    // The start of a head, then nothing (what a slowloris client does).
    stream.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let took = until_closed(&mut stream).await;
    assert!(took >= TIMEOUT / 2, "closed after {took:?}, before the timeout");
    // Other clients are served all along.
    assert_eq!(c.get("/drip").send().await.text(), "01234567");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_part_of_a_preface_is_cut_off() {
    let c = client().await;
    // Nothing at all, and the first bytes of HTTP/2's preface, which the server waits to see
    // whole before it picks the protocol.
    for first in [&b""[..], b"PRI * HT"] {
        let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
        stream.write_all(first).await.unwrap();
        let took = until_closed(&mut stream).await;
        assert!(took >= TIMEOUT / 2, "closed after {took:?}, before the timeout");
    }
    assert_eq!(c.get("/drip").send().await.text(), "01234567");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let c = client().await;
    let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    stream.write_all(b"GET /drip HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // The response (chunked, a chunk every 150 ms) arrives whole and the connection stays
    // open for the next request; then it idles, and the server closes it (an orderly end of
    // the stream) within two timeouts of the response's end.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let mut last_byte = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                last_byte = Instant::now();
            }
            Ok(Err(e)) => panic!("the connection was reset, not closed: {e}"),
            Err(_) => panic!("the server kept an idle keep-alive connection open for 10 s"),
        }
    }
    let idle = last_byte.elapsed();
    let response = String::from_utf8_lossy(&got);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("\r\n0\r\n\r\n"), "the response ended whole: {response}");
    let body: String = response
        .split("\r\n")
        .skip_while(|l| !l.is_empty())
        .skip(1)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|c| c.get(1).copied())
        .collect();
    assert_eq!(body, "01234567", "every chunk, in order");
    assert!(idle <= TIMEOUT * 2 + Duration::from_millis(500), "closed {idle:?} after the response's end");
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_plain_requests_is_closed() {
    // Plain requests leave their Context with the connection for the next one: it must not
    // count as a request in progress.
    let c = client().await;
    let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..3 {
        stream.write_all(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let before = got.len();
        while !String::from_utf8_lossy(&got[before..]).ends_with("plain") {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("answered within 5 s")
                .unwrap();
            assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }
    let idle = until_closed(&mut stream).await;
    assert_eq!(String::from_utf8_lossy(&got).matches("HTTP/1.1 200 OK").count(), 3);
    assert!(idle <= TIMEOUT * 2 + Duration::from_millis(500), "closed {idle:?} after the last response");
}

#[tokio::test]
async fn slow_handlers_and_long_responses_are_not_cut_off() {
    let c = client().await;
    let slow = c.get("/slow").send();
    let drip = c.get("/drip").send();
    let trickle = c.get("/trickle").send();
    let (slow, drip, trickle) = tokio::join!(slow, drip, trickle);
    assert_eq!(slow.status(), http::StatusCode::OK);
    assert_eq!(slow.text(), "done");
    assert_eq!(drip.text(), "01234567");
    assert_eq!(trickle.text(), "012345");
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_too() {
    use http_body_util::BodyExt;

    let c = client().await;
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(c.url("/drip")).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let res = send.send_request(req).await.expect("an HTTP/2 answer");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "01234567");
    // Then nothing: the server closes the connection (the client's connection task ends).
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the server kept an idle HTTP/2 connection open for 10 s")
        .unwrap()
        .ok();
    assert!(start.elapsed() >= TIMEOUT / 2, "closed after {:?}, before the timeout", start.elapsed());
}
