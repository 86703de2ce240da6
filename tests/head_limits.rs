//! The request head's size limit, over raw sockets: a head past `max_header_bytes` (64 KiB by
//! default) is refused with 431 and costs the server no more than the limit; one under it is
//! served; the server goes on answering.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[get("/heads/ping")]
async fn ping(ctx: Context) -> String {
    format!("{} bytes of x-big", ctx.header("x-big").map_or(0, str::len))
}

/// Sends one request with an `x-big` header of `len` bytes; the status line it gets.
async fn status_with_header(c: &TestClient, len: usize) -> String {
    let mut s = TcpStream::connect(c.addr()).await.unwrap();
    let head = format!(
        "GET /heads/ping HTTP/1.1\r\nhost: {}\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        c.addr(),
        "a".repeat(len)
    );
    // (The server may answer and close before it has read everything.)
    let _ = s.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await.expect("an answer");
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_head_past_the_limit_gets_431_and_one_under_it_is_served() {
    let c = TestClient::start(App::only(module_path!())).await;
    assert_eq!(status_with_header(&c, 40 * 1024).await, "HTTP/1.1 200 OK");
    assert_eq!(status_with_header(&c, 300 * 1024).await, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(c.get("/heads/ping").send().await.text(), "0 bytes of x-big");

    let strict = TestClient::start(App::only(module_path!()).max_header_bytes(16 * 1024)).await;
    assert_eq!(status_with_header(&strict, 12 * 1024).await, "HTTP/1.1 200 OK");
    assert_eq!(status_with_header(&strict, 20 * 1024).await, "HTTP/1.1 431 Request Header Fields Too Large");
}

#[tokio::test]
async fn an_http2_header_list_past_the_limit_is_refused() {
    let c = TestClient::start(App::only(module_path!()).max_header_bytes(16 * 1024)).await;
    let ok = c.get("/heads/ping").header("x-big", "b".repeat(8 * 1024)).http2().send().await;
    assert_eq!(ok.text(), "8192 bytes of x-big");
    let refused = c.get("/heads/ping").header("x-big", "b".repeat(32 * 1024)).http2().try_send().await;
    match refused {
        Ok(res) => assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(e.to_string().contains("stream"), "refused as a stream error: {e}"),
    }
    assert_eq!(c.get("/heads/ping").http2().send().await.text(), "0 bytes of x-big");
}
