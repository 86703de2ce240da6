//! WebSocket from a hostile client: bad upgrades, and frames that break RFC 6455 written
//! byte by byte after a real handshake. Each closes that socket with the right code and
//! leaves the others open.

use std::time::Duration;

use fratello::test::tungstenite::Message as Frame;
use fratello::test::TestClient;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::probe::{self, still_serves};

/// A client frame with a zero mask key (so the payload goes as is): `first` is the FIN/RSV
/// bits and the opcode.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// Opens a socket, writes `frame` raw, and returns the close code the server answered with.
async fn close_code_for(c: &TestClient, frame: &[u8]) -> u16 {
    let mut ws = c.ws("/hostile/ws").connect_raw().await;
    ws.get_mut().write_all(frame).await.unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Ok(Some(Ok(Frame::Close(Some(f))))) => return f.code.into(),
            Ok(Some(Ok(Frame::Close(None)))) => return 1005,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return 1006,
            Err(_) => panic!("no close for {frame:?}"),
        }
    }
}

#[tokio::test]
async fn frames_that_break_the_protocol_close_with_their_code() {
    let c = TestClient::start(crate::app()).await;
    let mut bystander = c.ws("/hostile/ws").connect().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an unmasked frame", vec![0x81, 0x02, b'h', b'i'], 1002),
        ("a reserved opcode", masked(0x83, b"x"), 1002),
        ("an RSV bit without an extension", masked(0xC1, b"x"), 1002),
        ("a fragmented ping", masked(0x09, b"x"), 1002),
        ("a continuation with nothing to continue", masked(0x80, b"x"), 1002),
        ("text that is not UTF-8", masked(0x81, b"\xff\xfe"), 1007),
        ("a close frame with a bad code", masked(0x88, &[0x03, 0xe7]), 1002),
        // A header announcing a 256 MiB frame: refused from the header, nothing is buffered.
        ("a 256 MiB frame header", vec![0x82, 0xFF, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0], 1009),
    ];
    for (what, frame, code) in cases {
        let seen = close_code_for(&c, &frame).await;
        probe::note(what, code, seen);
        assert_eq!(seen, code, "{what}");
    }
    bystander.send_text("still here").await;
    assert_eq!(bystander.recv_text().await, "still here");
    still_serves(&c).await;
}

#[tokio::test]
async fn bad_upgrades_are_refused_with_a_status() {
    let c = TestClient::start(crate::app()).await;
    let upgrade = |extra: &str| {
        format!(
            "GET /hostile/ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n{extra}\r\n"
        )
    };
    let cases = [
        ("no key", upgrade("sec-websocket-version: 13\r\n"), 400),
        (
            "an old version",
            upgrade("sec-websocket-version: 8\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            426,
        ),
        (
            "a key that is not 16 bytes",
            upgrade("sec-websocket-version: 13\r\nsec-websocket-key: c2hvcnQ=\r\n"),
            400,
        ),
        ("a plain GET", "GET /hostile/ws HTTP/1.1\r\nhost: x\r\n\r\n".to_owned(), 400),
    ];
    for (what, req, status) in cases {
        let seen = probe::send(c.addr(), req.as_bytes(), 1).await;
        probe::note(&format!("upgrade: {what}"), status, seen.status());
        assert_eq!(seen.status(), status, "{what}: {seen:?}");
    }
    still_serves(&c).await;
}

#[tokio::test]
async fn many_sockets_opened_and_dropped_mid_handshake_cost_nothing() {
    let c = TestClient::start(crate::app()).await;
    for i in 0..200 {
        let mut s = probe::connect(c.addr()).await;
        let head = "GET /hostile/ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
                    sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        // Half of them leave before the answer, half right after it.
        let cut = if i % 2 == 0 { head.len() / 2 } else { head.len() };
        s.write_all(&head.as_bytes()[..cut]).await.unwrap();
        drop(s);
    }
    let mut ws = c.ws("/hostile/ws").connect().await;
    ws.send_text("after").await;
    assert_eq!(ws.recv_text().await, "after");
    still_serves(&c).await;
}
