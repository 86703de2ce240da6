//! A room flooded while thousands of its members never read: the server's memory stays
//! within what its queues allow, and each of them is dropped once it is too far behind.

use std::time::Duration;

use fratello::prelude::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::probe;
use crate::process::Server;

#[ws("/hostile/room")]
async fn member(ctx: Context) -> Result<()> {
    ctx.hub().subscribe("flood").forward(ctx).await
}

#[post("/hostile/flood/{n}")]
async fn flood(ctx: Context) -> Result<String> {
    let n: usize = ctx.param_as("n")?;
    let payload = "f".repeat(1024);
    for _ in 0..n {
        ctx.hub().publish("flood", payload.clone())?;
    }
    Ok(ctx.hub().subscribers("flood").to_string())
}

#[get("/hostile/members")]
async fn members(ctx: Context) -> String {
    ctx.hub().subscribers("flood").to_string()
}

async fn members_now(addr: std::net::SocketAddr) -> usize {
    let seen = probe::send(addr, b"GET /hostile/members HTTP/1.1\r\nhost: x\r\n\r\n", 1).await;
    let text = String::from_utf8_lossy(&seen.bytes).into_owned();
    text.rsplit("\r\n").next().unwrap_or_default().parse().expect("a count")
}

/// What the kernel may hold for one connection that is not read: the largest the server's
/// send buffer may grow to (tcp_wmem's maximum) and the client's receive buffer at its default
/// size (tcp_rmem's default; it grows only while its reader reads).
fn kernel_buffers() -> usize {
    let field = |file: &str, i: usize, default: usize| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{file}"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(i).and_then(|v| v.parse().ok()))
            .unwrap_or(default)
    };
    field("tcp_wmem", 2, 4 << 20) + field("tcp_rmem", 1, 128 << 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_never_read_cost_their_queues_and_are_dropped() {
    let n = if crate::full() { 10_000 } else { 1_000 };
    let mut server = Server::start(None);
    let addr = server.addr;
    let before = server.rss_kib();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(probe::ws(addr, "/hostile/room").await);
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while members_now(addr).await < n {
        assert!(tokio::time::Instant::now() < until, "not every member joined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let joined = server.rss_kib();
    // Messages of 1 KiB, far past what a member can take without reading: its queue, the
    // room's lag limit, and what the kernel holds for its socket.
    let posts = (2 * (kernel_buffers() / 1024) + 4_000).div_ceil(100);
    let messages = 100 * posts;
    for _ in 0..posts {
        probe::send(addr, b"POST /hostile/flood/100 HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n", 1)
            .await;
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while members_now(addr).await > 0 {
        assert!(tokio::time::Instant::now() < until, "members that never read were not dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = server.rss_kib();
    // Each member may cost its queue and the burst being written (a buffer of about the
    // queue's size), its task and its socket's buffers; the room holds the messages once.
    let per_member = peak.saturating_sub(before) / n;
    let bound = 3 * crate::process::SEND_QUEUE / 1024 + 64;
    probe::note(
        &format!("{n} members that never read, {messages} messages of 1 KiB"),
        "all dropped, memory within the queues",
        format!("all dropped; RSS {before} → {joined} (joined) → {peak} KiB, {per_member} KiB per member"),
    );
    assert!(per_member < bound, "{per_member} KiB per member, more than {bound} KiB");

    // A member reads what was queued for it, then the close: 1011, too far behind.
    let mut ws = sockets.pop().unwrap();
    let code = loop {
        match tokio::time::timeout(probe::WAIT, ws.next()).await.expect("the member hears the end") {
            Some(Ok(Frame::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1011));
    drop(sockets);
    server.signal("-TERM");
    assert_eq!(server.exited(Duration::from_secs(30)).await.0, Some(0));
}
