//! Heap allocations per request and per WebSocket message, and live heap per idle socket,
//! for fratello and for the raw hyper peer, in one process with a counting allocator.
//!
//! Client and both servers run in this process, so every figure includes the (identical)
//! client's share; the difference between the two servers is the framework's own.
//!
//! `cargo run --release -p fratello-bench --bin allocs [-- --requests N --sockets N --hist]`
//! (`--hist`: the live blocks per idle socket by size, to see what a socket holds)

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live blocks by requested size, in 8-byte classes up to 8 KiB (the last class holds the rest).
static BY_SIZE: [AtomicIsize; 1025] = [const { AtomicIsize::new(0) }; 1025];

fn class(size: usize) -> usize {
    size.div_ceil(8).min(1024)
}

// SAFETY: forwards to the system allocator; the counters have no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size(), Relaxed);
        LIVE.fetch_add(l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new, Relaxed);
        LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Relaxed);
        BY_SIZE[class(new)].fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> (usize, usize, isize) {
    (ALLOCS.load(Relaxed), BYTES.load(Relaxed), LIVE.load(Relaxed))
}

async fn http(addr: SocketAddr, path: &str, n: usize) -> (f64, f64) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut tx, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut one = async || {
        tx.ready().await.expect("ready");
        let req = http::Request::get(path).header("host", "x").body(Empty::<Bytes>::new()).expect("req");
        let res = tx.send_request(req).await.expect("response");
        res.into_body().collect().await.expect("body");
    };
    for _ in 0..1000 {
        one().await;
    }
    let (a0, b0, _) = snapshot();
    for _ in 0..n {
        one().await;
    }
    let (a1, b1, _) = snapshot();
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}

async fn echo(addr: SocketAddr, n: usize) -> (f64, f64) {
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/echo"),
        tokio::net::TcpStream::connect(addr).await.expect("connect"),
    )
    .await
    .expect("handshake");
    let msg = tungstenite::Message::text("x".repeat(32));
    for _ in 0..1000 {
        ws.send(msg.clone()).await.expect("send");
        ws.next().await.expect("reply").expect("reply");
    }
    let (a0, b0, _) = snapshot();
    for _ in 0..n {
        ws.send(msg.clone()).await.expect("send");
        ws.next().await.expect("reply").expect("reply");
    }
    let (a1, b1, _) = snapshot();
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}

fn by_size() -> Vec<isize> {
    BY_SIZE.iter().map(|c| c.load(Relaxed)).collect()
}

/// Live heap bytes per idle socket (client side: a tungstenite client with a 256-byte buffer),
/// and with `hist`, the blocks each socket holds by size.
async fn idle(addr: SocketAddr, n: usize, hist: bool) -> f64 {
    let open = || async move {
        let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let config =
            tungstenite::protocol::WebSocketConfig::default().read_buffer_size(256).write_buffer_size(0);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(format!("ws://{addr}/echo"), s, Some(config))
                .await
                .expect("handshake");
        ws
    };
    drop(open().await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, _, l0) = snapshot();
    let h0 = by_size();
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        socks.push(open().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, l1) = snapshot();
    let per = (l1 - l0) as f64 / n as f64;
    if hist {
        for (i, (after, before)) in by_size().iter().zip(h0).enumerate() {
            let blocks = (after - before) as f64 / n as f64;
            if blocks.abs() >= 0.05 {
                println!("    {addr}: {blocks:.2} live blocks of {}..={} bytes", i * 8 - 7.min(i * 8), i * 8);
            }
        }
    }
    drop(socks);
    tokio::time::sleep(Duration::from_millis(300)).await;
    per
}

fn main() {
    let arg = |name: &str, default: usize| {
        let args: Vec<String> = std::env::args().collect();
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(default)
    };
    let requests = arg("--requests", 20_000);
    let sockets = arg("--sockets", 2_000);
    let hist = std::env::args().any(|a| a == "--hist");
    let rt = fratello_bench::runtime();
    rt.block_on(async move {
        let fl = fratello::server::bind("127.0.0.1:0").await.expect("bind");
        let (fratello, server) =
            fratello_bench::fratello_app::app().bind_with(fl, std::future::pending::<()>()).expect("app");
        tokio::spawn(server);
        let hl = fratello::server::bind("127.0.0.1:0").await.expect("bind");
        let hyper = hl.local_addr().expect("addr");
        tokio::spawn(fratello_bench::hyper_peer::serve(hl));

        println!("| per … (client's share included, same for both) | hyper | fratello | fratello − hyper |");
        println!("|---|---:|---:|---:|");
        for path in ["/plaintext", "/json"] {
            let (ha, hb) = http(hyper, path, requests).await;
            let (fa, fb) = http(fratello, path, requests).await;
            println!("| GET {path}: allocations | {ha:.1} | {fa:.1} | {:+.1} |", fa - ha);
            println!("| GET {path}: bytes allocated | {hb:.0} | {fb:.0} | {:+.0} |", fb - hb);
        }
        let (ha, hb) = echo(hyper, requests).await;
        let (fa, fb) = echo(fratello, requests).await;
        println!("| WebSocket echo round trip: allocations | {ha:.1} | {fa:.1} | {:+.1} |", fa - ha);
        println!("| WebSocket echo round trip: bytes allocated | {hb:.0} | {fb:.0} | {:+.0} |", fb - hb);
        let h = idle(hyper, sockets, hist).await;
        let f = idle(fratello, sockets, hist).await;
        println!("| idle WebSocket: live heap bytes | {h:.0} | {f:.0} | {:+.0} |", f - h);
    });
}
