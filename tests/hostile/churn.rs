//! Churn: sockets opened and closed, and requests over fresh connections, many times over;
//! the process's descriptors and memory come back to where they were. Small in CI, full size
//! with `HOSTILE_FULL=1` (100,000 sockets, 1,000,000 requests).

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::probe;
use crate::process::Server;

/// Waits (bounded) for the server's descriptor count to come back to at most `to`.
async fn fds_back_to(server: &Server, to: usize) -> usize {
    for _ in 0..200 {
        if server.fds() <= to {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server.fds()
}

/// Runs `round` `rounds` times in parallel batches of `batch`.
async fn churn<F, Fut>(rounds: usize, batch: usize, round: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut done = 0;
    while done < rounds {
        let n = batch.min(rounds - done);
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(round())).collect();
        for t in tasks {
            t.await.unwrap();
        }
        done += n;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_and_request_churn_leaves_no_descriptor_or_memory_behind() {
    let (sockets, requests) = if crate::full() { (100_000, 1_000_000) } else { (2_000, 5_000) };
    // A server process of its own, so that what is measured is the server alone.
    let mut server = Server::start(None);
    let addr = server.addr;
    let socket_round = move || async move {
        let mut ws = probe::ws(addr, "/hostile/ws").await;
        let _ = ws.close(None).await;
        use futures_util::StreamExt;
        while let Some(Ok(_)) = ws.next().await {}
    };
    let request_round = move || async move {
        let mut s = probe::connect(addr).await;
        s.write_all(b"GET /hostile/ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let seen = probe::read(&mut s, 1).await;
        assert_eq!(seen.statuses, [200]);
    };
    // A warm-up, so that the baseline holds the allocator's and runtime's steady state.
    churn(500, 50, &socket_round).await;
    churn(500, 50, &request_round).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (fds, rss) = (server.fds(), server.rss_kib());

    churn(sockets, 50, &socket_round).await;
    churn(requests, 50, &request_round).await;

    let after = fds_back_to(&server, fds).await;
    assert!(after <= fds, "descriptors: {fds} before, {after} after");
    let now = server.rss_kib();
    let grown = now.saturating_sub(rss);
    probe::note(
        &format!("{sockets} sockets and {requests} requests, each on a fresh connection"),
        "descriptors and RSS back to baseline",
        format!("fds {fds} → {after}, server RSS {rss} → {now} KiB"),
    );
    assert!(grown < 8 * 1024, "{sockets} sockets and {requests} requests grew the server by {grown} KiB");
    server.signal("-TERM");
    assert_eq!(server.exited(Duration::from_secs(20)).await.0, Some(0));
}
