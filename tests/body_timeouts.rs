//! A request body that never arrives, or trickles, does not hold a request open: 408 after the
//! body read timeout between chunks, or after the body timeout for a whole buffered body, on
//! HTTP/1.1 and HTTP/2 alike.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fratello::prelude::*;
use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[post("/timeouts/whole")]
async fn whole(ctx: Context) -> Result<String> {
    Ok(format!("{} bytes", ctx.body().await?.len()))
}

#[post("/timeouts/streamed")]
async fn streamed(ctx: Context) -> Result<String> {
    let mut n = 0;
    while let Some(chunk) = ctx.recv().await? {
        n += chunk.len();
    }
    Ok(format!("{n} bytes"))
}

async fn client() -> TestClient {
    let app = App::only(module_path!())
        .body_read_timeout(Duration::from_millis(300))
        .body_timeout(Duration::from_millis(800));
    TestClient::start(app).await
}

/// A body that sends `chunks` chunks, one every `every`, then (if `end`) ends; else stays open.
fn trickle(chunks: usize, every: Duration, end: bool) -> fratello::Body {
    let stream = futures_util::stream::unfold(0, move |i| async move {
        if i == chunks {
            if !end {
                std::future::pending::<()>().await;
            }
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"abc"))), i + 1))
    });
    fratello::Body::new(http_body_util::StreamBody::new(stream))
}

#[tokio::test]
async fn headers_whose_body_never_comes_get_408() {
    let c = client().await;
    // A declared length and nothing after it (HTTP/1.1, raw bytes as a hostile client sends).
    let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    stream
        .write_all(b"POST /timeouts/streamed HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head)).await.unwrap().unwrap();
    assert_eq!(&head, b"HTTP/1.1 408");
    assert!(start.elapsed() >= Duration::from_millis(250), "answered before the timeout");
    // The same over HTTP/2, where the stream would otherwise stay open on a live connection.
    for http2 in [false, true] {
        let req = c.post("/timeouts/whole").body(trickle(0, Duration::ZERO, false));
        let res = if http2 { req.http2() } else { req }.send().await;
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT, "http2: {http2}");
        assert!(res.text().contains("stalled"), "{}", res.text());
    }
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_by_the_whole_body_timeout() {
    let c = client().await;
    // A chunk every 200 ms never trips the 300 ms gap, but the whole body takes too long.
    let res = c.post("/timeouts/whole").body(trickle(20, Duration::from_millis(200), true)).send().await;
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(res.text().contains("did not arrive within"), "{}", res.text());
    // Streaming with recv() has no whole-body deadline: only the gaps count.
    let res = c.post("/timeouts/streamed").body(trickle(6, Duration::from_millis(200), true)).send().await;
    assert_eq!(res.text(), "18 bytes");
    // Other requests are served meanwhile.
    assert_eq!(c.post("/timeouts/whole").body("hello").send().await.text(), "5 bytes");
}
