//! Faults that need a server process of its own: SIGTERM under load, a second SIGTERM, and
//! running out of file descriptors. The server is this test binary run again in child mode
//! (`child_server`), serving with `App::bind_with(.., shutdown_signal())` as an app's `main`
//! does.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fratello::prelude::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::probe;

/// The child's WebSocket send queue: small, so that what non-reading clients may cost is small.
pub const SEND_QUEUE: usize = 16 * 1024;

/// Requests that reached the slow handler.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A request that takes a while and answers 4 KiB.
#[get("/hostile/slow")]
async fn slow(_ctx: Context) -> String {
    STARTED.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "s".repeat(4096)
}

#[get("/hostile/started")]
async fn started(_ctx: Context) -> String {
    STARTED.load(Ordering::SeqCst).to_string()
}

/// The server, when this binary runs as the child (`HOSTILE_CHILD` set); a no-op otherwise.
#[test]
fn child_server() {
    if std::env::var_os("HOSTILE_CHILD").is_none() {
        return;
    }
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let listener = fratello::server::bind("127.0.0.1:0").await.unwrap();
        let hub = fratello::Hub::with_config(fratello::broadcast::HubConfig::default().max_lag(256));
        let app = crate::app()
            .shutdown_timeout(Duration::from_secs(20))
            .with_hub(hub)
            .ws_config(fratello::ws::WsConfig::default().max_send_queue(SEND_QUEUE));
        let (addr, server) = app.bind_with(listener, fratello::server::shutdown_signal()).unwrap();
        println!("listening {addr}");
        server.await.unwrap();
    });
}

/// A child server process, killed if the test fails before it exits.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it wrote to stderr (its log), read as it comes so that the pipe never fills.
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the child, under `prlimit` arguments when given.
    pub fn start(prlimit: Option<&str>) -> Server {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match prlimit {
            Some(limit) => {
                let mut c = Command::new("prlimit");
                c.arg(limit).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .args(["--exact", "process::child_server", "--nocapture", "--test-threads=1"])
            .env("HOSTILE_CHILD", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test binary runs again as the server");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let into = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = into.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Read to the end: the test harness in the child writes its report there at exit.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                // (The harness may have written the test's name on the same line.)
                if let Some((_, addr)) = line.split_once("listening ") {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("the child prints its address");
        Server { child, addr, log }
    }

    /// The child's resident memory.
    pub fn rss_kib(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// The child's open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).unwrap().count()
    }

    /// Sends the child a signal (`-TERM`, `-INT`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([name, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {name}");
    }

    /// Waits (at most `deadline`) for the child to exit; its exit code and what it logged.
    pub async fn exited(&mut self, deadline: Duration) -> (Option<i32>, String) {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // (The reading thread takes what is left in the pipe.)
                tokio::time::sleep(Duration::from_millis(100)).await;
                return (status.code(), self.log.lock().unwrap().clone());
            }
            assert!(Instant::now() < until, "the server did not exit within {deadline:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM with `n` requests in flight, `n` sockets and `n` streams open: every request gets
/// its whole answer, every socket 1001, every stream its retry hint; exit 0 in time.
async fn shutdown_under_load(n: usize) {
    let mut server = Server::start(None);
    let addr = server.addr;
    let requests: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                probe::send(addr, b"GET /hostile/slow HTTP/1.1\r\nhost: x\r\n\r\n", 1).await
            })
        })
        .collect();
    let mut sockets = Vec::new();
    for _ in 0..n {
        sockets.push(probe::ws(addr, "/hostile/ws").await);
    }
    // Each stream is open (its first event read) before the signal: a request still unread in
    // the socket when the server stops is closed unanswered, as it should be, and is not what
    // this case asserts.
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut s = probe::connect(addr).await;
        s.write_all(b"GET /hostile/sse HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("tick") {
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(probe::WAIT, s.read(&mut chunk)).await.expect("the stream opens");
            let read = read.unwrap();
            assert!(
                read > 0,
                "the stream closed before its first event: {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&chunk[..read]);
        }
        streams.push((s, seen));
    }
    // Every request is in its handler before the signal.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = probe::send(addr, b"GET /hostile/started HTTP/1.1\r\nhost: x\r\n\r\n", 1).await;
        let text = String::from_utf8_lossy(&seen.bytes).into_owned();
        if text.ends_with(&n.to_string()) {
            break;
        }
        assert!(Instant::now() < until, "the requests did not all start: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.signal("-TERM");

    for r in requests {
        let seen = r.await.unwrap();
        assert_eq!(seen.statuses, vec![200], "an accepted request got its answer");
        assert!(seen.bytes.ends_with(&[b's'; 4096]), "and all of it");
    }
    for mut ws in sockets {
        let code = loop {
            match tokio::time::timeout(probe::WAIT, ws.next()).await.expect("the socket is closed") {
                Some(Ok(Frame::Close(f))) => break f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        };
        assert_eq!(code, Some(1001));
        let _ = ws.close(None).await;
    }
    for (mut s, mut all) in streams {
        tokio::time::timeout(probe::WAIT, s.read_to_end(&mut all)).await.expect("the stream ends").unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.contains("retry: "), "the stream ended with a retry hint: {text:?}");
    }
    let (code, log) = server.exited(Duration::from_secs(20)).await;
    probe::note(
        &format!("SIGTERM with {n} requests, {n} sockets, {n} streams open"),
        "all answered, 1001, retry hint, exit 0",
        format!("all answered, 1001, retry hint, exit {code:?}"),
    );
    assert_eq!(code, Some(0), "the server exits 0: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_everything_and_exits_0() {
    let (n, rounds) = if crate::full() { (1000, 20) } else { (100, 2) };
    for _ in 0..rounds {
        shutdown_under_load(n).await;
    }
}

#[tokio::test]
async fn a_second_sigterm_exits_at_once() {
    let mut server = Server::start(None);
    let addr = server.addr;
    // A request that never ends holds graceful shutdown for its whole timeout.
    let mut s = probe::connect(addr).await;
    s.write_all(b"GET /hostile/never HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "still draining after the first signal");
    server.signal("-TERM");
    let (code, log) = server.exited(Duration::from_secs(5)).await;
    probe::note("a second SIGTERM while draining", "exit 143 at once", format!("exit {code:?}"));
    assert_eq!(code, Some(143), "{log}");
    assert!(log.contains("second signal"), "{log}");
}

#[tokio::test]
async fn running_out_of_file_descriptors_is_survived() {
    // A server with room for a few dozen descriptors, and more clients than that.
    let mut server = Server::start(Some("--nofile=48"));
    let addr = server.addr;
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(probe::connect(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "the server is still running");
    drop(held);
    // Once descriptors are free again, it serves.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = probe::send(addr, b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\n\r\n", 1).await;
        if seen.statuses == [200] {
            break;
        }
        assert!(Instant::now() < until, "the server did not recover: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal("-TERM");
    let (code, log) = server.exited(Duration::from_secs(20)).await;
    probe::note(
        "100 clients against 48 descriptors",
        "logged, recovers, exit 0",
        format!("recovered, exit {code:?}"),
    );
    assert_eq!(code, Some(0));
    assert!(log.contains("accept failed"), "the server said why it could not accept: {log}");
}
