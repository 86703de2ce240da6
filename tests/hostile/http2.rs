//! HTTP/2 (h2c, prior knowledge) from a hostile client: a broken preface, floods of SETTINGS
//! and of streams reset as soon as opened (CVE-2023-44487), and a header block continued
//! without end (CVE-2024-27316). The frames are written raw (a 9-byte header and a payload);
//! the server is hyper's h2.

use std::time::Duration;

use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::probe::{self, still_serves};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK literal header field without indexing, for names and values under 127 bytes.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(value.len() as u8);
    b.extend_from_slice(value.as_bytes());
    b
}

/// A GET's header block: `:method GET`, `:scheme http`, `:path`, `:authority`.
fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86]; // the static table's :method GET and :scheme http
    b.extend(literal(":path", path));
    b.extend(literal(":authority", "x"));
    b
}

/// How the server ended an HTTP/2 connection.
#[derive(Debug, PartialEq)]
enum End {
    /// With a GOAWAY frame carrying this error code.
    GoAway(u32),
    /// By closing the connection without one.
    Closed,
    /// It did not, within [`probe::WAIT`].
    Open,
}

/// Reads frames until the server sends GOAWAY or closes, or [`probe::WAIT`] passes.
async fn end(s: &mut TcpStream) -> End {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let until = tokio::time::Instant::now() + probe::WAIT;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return find_goaway(&bytes).map_or(End::Closed, End::GoAway),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => return End::Open,
        }
        if let Some(code) = find_goaway(&bytes) {
            return End::GoAway(code);
        }
    }
}

fn find_goaway(mut bytes: &[u8]) -> Option<u32> {
    while bytes.len() >= 9 {
        let len = (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        if bytes.len() < 9 + len {
            return None;
        }
        if bytes[3] == GOAWAY && len >= 8 {
            return Some(u32::from_be_bytes(bytes[13..17].try_into().unwrap()));
        }
        bytes = &bytes[9 + len..];
    }
    None
}

async fn client() -> TestClient {
    TestClient::start(crate::app()).await
}

#[tokio::test]
async fn a_broken_preface_closes_the_connection() {
    let c = client().await;
    // The preface, then SETTINGS whose length is not a whole number of settings.
    let mut probe = PREFACE.to_vec();
    probe.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0]));
    let mut s = probe::connect(c.addr()).await;
    s.write_all(&probe).await.unwrap();
    let ended = end(&mut s).await;
    probe::note("h2: SETTINGS of a bad length", "GOAWAY or closed", format!("{ended:?}"));
    // (h2 calls it a PROTOCOL_ERROR, where RFC 9113 says FRAME_SIZE_ERROR: an error either way.)
    assert!(matches!(ended, End::GoAway(1 | 6) | End::Closed), "an error, or closed: {ended:?}");
    // SETTINGS on a stream.
    let mut probe = PREFACE.to_vec();
    probe.extend(frame(SETTINGS, 0, 1, &[]));
    let mut s = probe::connect(c.addr()).await;
    s.write_all(&probe).await.unwrap();
    let ended = end(&mut s).await;
    probe::note("h2: SETTINGS on a stream", "GOAWAY(1) or closed", format!("{ended:?}"));
    assert!(matches!(ended, End::GoAway(0x1) | End::Closed), "PROTOCOL_ERROR or closed: {ended:?}");
    // A preface with garbage in it is not HTTP/2: HTTP/1.1 refuses it.
    let seen = probe::send(c.addr(), b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 1).await;
    assert_eq!(seen.status(), 400);
    still_serves(&c).await;
}

#[tokio::test]
async fn a_settings_flood_does_not_stop_the_server() {
    let c = client().await;
    let mut s = probe::connect(c.addr()).await;
    let mut flood = PREFACE.to_vec();
    flood.extend(frame(SETTINGS, 0, 0, &[]));
    for _ in 0..10_000 {
        flood.extend(frame(SETTINGS, 0, 0, &[0x00, 0x03, 0x00, 0x00, 0x00, 0x64]));
    }
    // The client never reads the acknowledgements: the server must not queue them forever.
    let _ = tokio::time::timeout(Duration::from_secs(10), s.write_all(&flood)).await;
    probe::note("h2: 10,000 SETTINGS, acks never read", "still serves", "still serves");
    still_serves(&c).await;
    drop(s);
    still_serves(&c).await;
}

#[tokio::test]
async fn streams_reset_as_soon_as_opened_get_a_goaway() {
    let c = client().await;
    let mut s = probe::connect(c.addr()).await;
    let mut flood = PREFACE.to_vec();
    flood.extend(frame(SETTINGS, 0, 0, &[]));
    let block = get_block("/hostile/never");
    for i in 0..5_000u32 {
        let id = 2 * i + 1;
        flood.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
        flood.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), s.write_all(&flood)).await;
    let ended = end(&mut s).await;
    probe::note("h2: 5,000 streams opened and reset", "GoAway(11)", format!("{ended:?}"));
    assert_eq!(ended, End::GoAway(0xb), "ENHANCE_YOUR_CALM");
    still_serves(&c).await;
}

#[tokio::test]
async fn a_header_block_continued_without_end_is_cut_off() {
    let c = client().await;
    let mut s = probe::connect(c.addr()).await;
    let mut start = PREFACE.to_vec();
    start.extend(frame(SETTINGS, 0, 0, &[]));
    start.extend(frame(HEADERS, END_STREAM, 1, &get_block("/hostile/ping")));
    s.write_all(&start).await.unwrap();
    let filler = literal("x-filler", &"f".repeat(100));
    let mut sent = 0usize;
    let mut cut = false;
    // Far past the 64 KiB header limit, bounded in count.
    while sent < 8 * 1024 * 1024 {
        let f = frame(CONTINUATION, 0, 1, &filler.repeat(100));
        match tokio::time::timeout(Duration::from_secs(5), s.write_all(&f)).await {
            Ok(Ok(())) => sent += f.len(),
            _ => {
                cut = true;
                break;
            }
        }
    }
    // The server stops reading it (or says why); it never holds the whole block.
    let ended = if cut { "stopped reading".to_owned() } else { format!("{:?}", end(&mut s).await) };
    probe::note(
        "h2: CONTINUATION without end",
        "not all 8 MiB taken in",
        format!("{ended} after {sent} bytes"),
    );
    assert!(ended != "Open", "8 MiB of CONTINUATION was taken in");
    still_serves(&c).await;
}
