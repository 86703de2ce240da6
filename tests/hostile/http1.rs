//! HTTP/1.1 from a hostile client: malformed heads, smuggling attempts, oversized parts,
//! pipelining, aborted and trickled bodies, a handler that never answers.

use std::time::Duration;

use fratello::test::TestClient;
use tokio::io::AsyncWriteExt;

use crate::probe::{self, still_serves};

async fn client() -> TestClient {
    TestClient::start(crate::app()).await
}

/// Sends `bytes` as the case `what`, checks that the first answer is `expected` and that
/// the server still serves.
async fn check(c: &TestClient, what: &str, bytes: &[u8], expected: u16) {
    let seen = probe::send(c.addr(), bytes, 1).await;
    let status = seen.status();
    probe::note(what, expected, status);
    assert_eq!(status, expected, "{what}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
    still_serves(c).await;
}

#[tokio::test]
async fn malformed_request_lines_get_400() {
    let c = client().await;
    for (what, bad) in [
        ("no target, no version", &b"GET\r\n\r\n"[..]),
        ("HTTP/9.9", b"GET / HTTP/9.9\r\nhost: x\r\n\r\n"),
        ("a space in the target", b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n"),
        ("a TLS hello on the cleartext port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        (
            "a header line without a colon",
            b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
        ),
    ] {
        check(&c, what, bad, 400).await;
    }
}

#[tokio::test]
async fn control_characters_in_the_target_or_a_header_get_400() {
    let c = client().await;
    check(&c, "a control character in the target", b"GET /hostile/\x01ping HTTP/1.1\r\nhost: x\r\n\r\n", 400)
        .await;
    check(&c, "NUL in a header value", b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\r\n", 400)
        .await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let c = client().await;
    let mut many = b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    check(&c, "500 headers", &many, 431).await;

    let line = format!("GET /hostile/ping HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "b".repeat(300 * 1024));
    check(&c, "a 300 KiB header line", line.as_bytes(), 431).await;
}

#[tokio::test]
async fn a_hundred_kib_target_is_refused() {
    let c = client().await;
    let req = format!("GET /hostile/{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(100 * 1024));
    check(&c, "a 100 KiB target", req.as_bytes(), 414).await;
}

#[tokio::test]
async fn bad_chunk_sizes_end_the_request_with_400() {
    let c = client().await;
    for body in ["zz\r\nabc\r\n0\r\n\r\n", "fffffffffffffffffff\r\n", "3\r\nabcdef\r\n0\r\n\r\n"] {
        let req =
            format!("POST /hostile/upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{body}");
        check(&c, &format!("chunked body {body:?}"), req.as_bytes(), 400).await;
    }
}

#[tokio::test]
async fn conflicting_lengths_are_refused_and_nothing_is_smuggled() {
    let c = client().await;
    // Two different Content-Lengths.
    let dup =
        b"POST /hostile/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd";
    check(&c, "two different Content-Lengths", dup, 400).await;

    // Content-Length and chunked together: the body is read as chunked, the connection is not
    // reused, and the bytes after the chunked body never become a second request.
    let smuggle = b"POST /hostile/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\
        transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /hostile/ping HTTP/1.1\r\nhost: x\r\n\r\n";
    let seen = probe::send(c.addr(), smuggle, 2).await;
    probe::note(
        "Content-Length with chunked, a request after",
        "at most one answer",
        format!("{:?}", seen.statuses),
    );
    assert!(seen.statuses.len() <= 1, "a smuggled request was answered: {seen:?}");
    assert!(seen.statuses.first().is_none_or(|s| *s == 400 || *s == 200), "{seen:?}");
    if seen.statuses.first() == Some(&200) {
        assert!(seen.bytes.ends_with(b"0"), "the chunked body was read as empty: {seen:?}");
    }
    still_serves(&c).await;
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_a_stack_overflow() {
    let c = client().await;
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let res = c.post("/hostile/json").header("content-type", "application/json").body(deep).send().await;
    probe::note("JSON nested 200,000 deep", 400, res.status().as_u16());
    assert_eq!(res.status(), 400);
    assert!(res.text().contains("recursion"), "{}", res.text());
    still_serves(&c).await;
}

#[tokio::test]
async fn a_hundred_pipelined_requests_are_answered_in_order() {
    let c = client().await;
    let mut reqs = Vec::new();
    for _ in 0..100 {
        reqs.extend_from_slice(b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\n\r\n");
    }
    let seen = probe::send(c.addr(), &reqs, 100).await;
    probe::note("100 pipelined requests", "100 × 200", format!("{} answers", seen.statuses.len()));
    assert_eq!(seen.statuses, vec![200; 100]);
    assert_eq!(seen.bytes.windows(4).filter(|w| w == b"pong").count(), 100);
}

#[tokio::test]
async fn an_upload_aborted_midway_costs_nothing_after() {
    let c = client().await;
    for _ in 0..20 {
        let mut s = probe::connect(c.addr()).await;
        s.write_all(b"POST /hostile/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1073741824\r\n\r\n")
            .await
            .unwrap();
        s.write_all(&vec![b'u'; 256 * 1024]).await.unwrap();
        drop(s);
    }
    probe::note("20 uploads of 1 GiB aborted at 256 KiB", "still serves", "still serves");
    still_serves(&c).await;
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_off() {
    let c = TestClient::start(crate::app().header_read_timeout(Duration::from_millis(300))).await;
    let mut s = probe::connect(c.addr()).await;
    let started = tokio::time::Instant::now();
    let mut cut = false;
    for b in b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\nx-slow: ".iter().cycle().take(400) {
        if s.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !cut {
        cut = probe::read(&mut s, 1).await.closed;
    }
    probe::note("a head at a byte per 20 ms", "cut off", if cut { "cut off" } else { "open" });
    assert!(cut, "a slowloris head was never cut off");
    still_serves(&c).await;
}

#[tokio::test]
async fn a_body_slower_than_the_read_timeout_gets_408() {
    let c = TestClient::start(crate::app().body_read_timeout(Duration::from_millis(300))).await;
    let mut s = probe::connect(c.addr()).await;
    s.write_all(b"POST /hostile/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc").await.unwrap();
    let seen = probe::read(&mut s, 1).await;
    probe::note("a body stalled past the read timeout", 408, seen.status());
    assert_eq!(seen.status(), 408);
    still_serves(&c).await;
}

#[tokio::test]
async fn a_handler_that_never_returns_is_cut_by_a_timeout_layer() {
    // No per-request deadline by default (a long poll or a slow report is legitimate); one
    // tower layer sets one for the whole app.
    let app = crate::app().layer(tower_http::timeout::TimeoutLayer::with_status_code(
        http::StatusCode::GATEWAY_TIMEOUT,
        Duration::from_millis(200),
    ));
    let c = TestClient::start(app).await;
    let seen = probe::send(c.addr(), b"GET /hostile/never HTTP/1.1\r\nhost: x\r\n\r\n", 1).await;
    probe::note("a handler that never returns, TimeoutLayer", 504, seen.status());
    assert_eq!(seen.status(), 504);
    still_serves(&c).await;
}

/// Bytes the endless download handed to `send`, and whether its `send` failed.
static DOWNLOADED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static GIVEN_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[fratello::get("/hostile/download")]
async fn endless_download(ctx: fratello::Context) -> fratello::Result<()> {
    use std::sync::atomic::Ordering;
    let chunk = bytes::Bytes::from(vec![b'd'; 64 * 1024]);
    loop {
        if let Err(e) = ctx.send(chunk.clone()).await {
            GIVEN_UP.store(true, Ordering::SeqCst);
            return Err(e);
        }
        DOWNLOADED.fetch_add(chunk.len(), Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_a_download_holds_it_back_and_is_given_up() {
    use std::sync::atomic::Ordering;
    let c = TestClient::start(crate::app().write_timeout(Duration::from_millis(500))).await;
    let mut s = probe::connect(c.addr()).await;
    s.write_all(b"GET /hostile/download HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    // The client reads nothing: the handler's `send` waits once the socket's buffers are full.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = DOWNLOADED.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !GIVEN_UP.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < until,
            "the handler still sends to a client that reads nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = DOWNLOADED.load(Ordering::SeqCst);
    probe::note(
        "a download whose client stops reading",
        "send waits, then fails after the write timeout",
        format!("{} KiB handed over, then given up", sent / 1024),
    );
    // What was handed over is what the kernel's socket buffers and the queue took, not more.
    assert!(sent < 32 * 1024 * 1024, "{sent} bytes went to a client that reads nothing");
    assert!(
        sent <= held + 8 * 64 * 1024,
        "sending went on while the client read nothing: {held} then {sent}"
    );
    drop(s);
    still_serves(&c).await;
}
