//! A raw client: writes bytes as given, reads what comes back (parsed with `httparse`), and
//! tells whether the server closed the connection.

use std::net::SocketAddr;
use std::time::Duration;

use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a probe waits for the server's answer.
pub const WAIT: Duration = Duration::from_secs(10);

/// What the server did with a probe.
#[derive(Debug)]
pub struct Seen {
    /// The statuses of the responses read, in order.
    pub statuses: Vec<u16>,
    /// Whether the server closed the connection (rather than leaving it open).
    pub closed: bool,
    /// Everything read.
    pub bytes: Vec<u8>,
}

impl Seen {
    /// The first response's status; fails the case when there was none.
    pub fn status(&self) -> u16 {
        *self.statuses.first().unwrap_or_else(|| panic!("no response: {self:?}"))
    }
}

/// Connects to `addr`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("the server accepts")
}

/// Opens a WebSocket to `path` on `addr` (a tungstenite client).
pub async fn ws(addr: SocketAddr, path: &str) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async(url, connect(addr).await).await.expect("the upgrade");
    ws
}

/// Writes `bytes` on a new connection, then reads until the server closes or `want`
/// responses have come (or [`WAIT`] passes).
pub async fn send(addr: SocketAddr, bytes: &[u8], want: usize) -> Seen {
    let mut s = connect(addr).await;
    // The server may answer and close before the whole probe is written: that is an answer.
    let _ = s.write_all(bytes).await;
    read(&mut s, want).await
}

/// Reads responses from `s` until it closes or `want` whole responses have come.
pub async fn read(s: &mut TcpStream, want: usize) -> Seen {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if parse(&bytes).len() >= want {
            break;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    Seen { statuses: parse(&bytes), closed, bytes }
}

/// The statuses of the whole responses in `bytes` (bodies by `content-length` or chunked).
fn parse(mut bytes: &[u8]) -> Vec<u16> {
    let mut statuses = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = res.parse(bytes) else { return statuses };
        let status = res.code.unwrap_or(0);
        let header = |name: &str| {
            res.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.to_vec())
        };
        let body = if let Some(len) = header("content-length") {
            let len: usize = String::from_utf8_lossy(&len).trim().parse().unwrap_or(0);
            if bytes.len() < head + len {
                return statuses;
            }
            len
        } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
            match chunked_len(&bytes[head..]) {
                Some(len) => len,
                None => return statuses,
            }
        } else {
            0
        };
        statuses.push(status);
        bytes = &bytes[head + body..];
    }
}

/// The length of a whole chunked body at the start of `bytes`, if it is all there.
fn chunked_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let Ok(httparse::Status::Complete((used, size))) = httparse::parse_chunk_size(&bytes[at..]) else {
            return None;
        };
        at += used + usize::try_from(size).ok()? + 2;
        if at > bytes.len() {
            return None;
        }
        if size == 0 {
            return Some(at);
        }
    }
}

/// Notes a case for `scripts/hostile.sh`'s table, when it asked for one (`HOSTILE_REPORT`
/// names the file): the case, what was expected, what was seen, and this process's resident
/// memory then.
pub fn note(case: &str, expected: impl std::fmt::Display, seen: impl std::fmt::Display) {
    use std::io::Write;
    let Some(path) = std::env::var_os("HOSTILE_REPORT") else { return };
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("").to_owned();
    let row = format!("{test}\t{case}\t{expected}\t{seen}\t{rss}\n");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the report file");
    f.write_all(row.as_bytes()).expect("the report is written");
}

/// Fails the case unless the app still answers an ordinary request.
pub async fn still_serves(c: &TestClient) {
    let res = c.get("/hostile/ping").send().await;
    assert_eq!(res.text(), "pong", "the server still answers");
}
