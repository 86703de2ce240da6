//! What clients that never read cost the server, measured as the process's resident memory
//! (the server runs in it): a socket pinged without reading, room members and SSE streams that
//! never read cost their own bounded queues, and nothing per message the room publishes.
//!
//! The tests take turns ([`one_at_a_time`]): the memory of one would count in another's.

#[path = "support/memory.rs"]
mod memory;

use std::time::{Duration, Instant};

use fratello::broadcast::HubConfig;
use fratello::prelude::*;
use fratello::test::tungstenite::Message as Raw;
use fratello::test::TestClient;
use fratello::ws::WsConfig;
use fratello::Hub;
use futures_util::SinkExt;

/// Held by each test that measures memory, so that they run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// Streams a multipart upload's file field to a temporary file: its size.
#[post("/upload/file")]
async fn upload_file(ctx: Context) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut parts = ctx.multipart()?;
    let mut stored = 0u64;
    while let Some(mut field) = parts.next_field().await? {
        let path = std::env::temp_dir().join(format!("fratello-upload-{}", std::process::id()));
        let mut file = tokio::fs::File::create(&path).await?;
        while let Some(chunk) = field.chunk().await? {
            file.write_all(&chunk).await?;
            stored += chunk.len() as u64;
        }
        drop(file);
        let _ = tokio::fs::remove_file(&path).await;
    }
    Ok(stored.to_string())
}

#[ws("/abuse/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(m) = ctx.recv().await? {
        ctx.send(m).await?;
    }
    Ok(())
}

#[ws("/members/{room}")]
async fn member(ctx: Context) -> Result<()> {
    let room = ctx.param("room").unwrap_or("lobby").to_owned();
    let feed = ctx.hub().subscribe(&room).forward(ctx.clone());
    let read = async {
        while let Some(msg) = ctx.recv().await? {
            ctx.hub().publish(&room, msg)?;
        }
        Ok(())
    };
    tokio::select! {
        r = feed => r,
        r = read => r,
    }
}

#[sse("/members/{room}/events")]
async fn events(ctx: Context) -> Result<()> {
    let room = ctx.param("room").unwrap_or("lobby").to_owned();
    ctx.hub().subscribe(&room).forward(ctx).await
}

async fn wait_for_subscribers(hub: &Hub, room: &str, n: usize) {
    let start = Instant::now();
    while hub.subscribers(room) != n {
        assert!(start.elapsed() < Duration::from_secs(10), "{room}: {} subscribers", hub.subscribers(room));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_without_reading_are_back_pressured() {
    let _turn = one_at_a_time().await;
    let c = TestClient::start(App::only(module_path!()).ws_config(WsConfig::default())).await;
    // A bare stream: nothing reads it but this test, which never does.
    let mut ws = c.ws("/abuse/echo").connect_raw().await;
    let before = memory::rss_kib();
    // Pings with the largest payload, as fast as the server takes them, for at most 4 s or
    // 256 MiB of pongs owed; the client never reads. Unbounded, the server's memory grows by
    // a pong per ping.
    let payload = vec![7u8; 125];
    let (start, mut sent) = (Instant::now(), 0usize);
    while start.elapsed() < Duration::from_secs(4) && sent < 2 << 20 {
        let ping = ws.feed(Raw::Ping(payload.clone().into()));
        match tokio::time::timeout(Duration::from_millis(500), ping).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(e)) => panic!("the server dropped the socket: {e}"),
            Err(_) => break, // the server stopped reading: back-pressure reached the client
        }
        if sent % 256 == 0 {
            let flush = ws.flush();
            if tokio::time::timeout(Duration::from_millis(500), flush).await.is_err() {
                break;
            }
        }
    }
    let grown = memory::rss_kib().saturating_sub(before);
    assert!(grown < 24 * 1024, "{sent} pings unread grew the process by {grown} KiB");
    // Other sockets are served all along.
    let mut other = c.ws("/abuse/echo").connect().await;
    other.send_text("still here").await;
    assert_eq!(other.recv_text().await, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_never_read_cost_their_queues_only() {
    let _turn = one_at_a_time().await;
    const MEMBERS: usize = 10;
    let app = App::only(module_path!()).max_body(1 << 20);
    let hub = app.hub();
    let c = TestClient::start(app).await;
    let mut idle = Vec::new();
    for _ in 0..MEMBERS {
        idle.push(c.ws("/members/big").connect_raw().await);
    }
    wait_for_subscribers(&hub, "big", MEMBERS).await;
    let before = memory::rss_kib();
    // 200 posts of 200 KiB (40 MB in all, 400 MB as ten copies) to members that read nothing.
    let post = "p".repeat(200 * 1024);
    for _ in 0..200 {
        hub.publish("big", post.clone()).unwrap();
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let grown = memory::rss_kib().saturating_sub(before);
    // Each member: its send queue (256 KiB) and the burst being written, about 1 MiB with
    // the message that did not fit; the room: 256 KiB.
    assert!(grown < 24 * 1024, "ten members that never read grew the process by {grown} KiB");
    // A reader in the same room is served.
    let mut reader = c.ws("/members/big").connect().await;
    wait_for_subscribers(&hub, "big", MEMBERS + 1).await;
    hub.publish("big", "hello").unwrap();
    assert_eq!(reader.recv_text().await, "hello");
}

#[tokio::test]
async fn a_message_larger_than_the_room_takes_is_refused_to_its_publisher() {
    let app = App::only(module_path!()).with_hub(Hub::with_config(HubConfig::default().max_bytes(1024)));
    let hub = app.hub();
    let c = TestClient::start(app).await;
    let mut listener = c.ws("/members/small").connect().await;
    let mut publisher = c.ws("/members/small").connect().await;
    wait_for_subscribers(&hub, "small", 2).await;
    publisher.send_text(&"x".repeat(2048)).await;
    // The publisher's handler got the 413 and returned it: its socket closes with the reason.
    let (code, reason) = tokio::time::timeout(Duration::from_secs(5), publisher.closed()).await.unwrap();
    assert_eq!(code, 1011);
    assert!(reason.contains("larger than a room takes"), "{reason}");
    // Nobody received it; the room goes on.
    hub.publish("small", "after").unwrap();
    assert_eq!(listener.recv_text().await, "after");
    let err = hub.publish("small", "y".repeat(1025)).unwrap_err();
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_reads_costs_its_queue_and_is_closed_after_the_write_timeout() {
    let _turn = one_at_a_time().await;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const EVENTS: usize = 300;
    let rooms = Hub::with_config(HubConfig::default().max_bytes(4 << 20).max_lag(10_000));
    let app = App::only(module_path!()).with_hub(rooms).write_timeout(Duration::from_millis(500));
    let hub = app.hub();
    let c = TestClient::start(app).await;
    let _stalled = c.sse("/members/news/events").connect().await; // never read
    let mut reader = c.sse("/members/news/events").connect().await;
    wait_for_subscribers(&hub, "news", 2).await;
    let before = memory::rss_kib();
    let item = "n".repeat(100 * 1024);
    let read = Arc::new(AtomicUsize::new(0));
    let reading = tokio::spawn({
        let read = read.clone();
        async move {
            while read.load(Ordering::SeqCst) < EVENTS {
                let e = reader.next_event().await.expect("the reading stream stays open");
                assert_eq!(e.data.map(|d| d.len()), Some(100 * 1024));
                read.fetch_add(1, Ordering::SeqCst);
            }
            reader
        }
    });
    for n in 0..EVENTS {
        // Paced by the reader, which must lose nothing; the stalled one falls behind.
        while n.saturating_sub(read.load(Ordering::SeqCst)) > 16 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        hub.publish("news", item.clone()).unwrap();
    }
    let grown = memory::rss_kib().saturating_sub(before);
    // The room (4 MiB), the stalled stream's queue (256 KiB) and what hyper holds for it.
    assert!(grown < 24 * 1024, "a stream that never reads grew the process by {grown} KiB");
    let _reader = tokio::time::timeout(Duration::from_secs(30), reading).await.unwrap().unwrap();
    // The stalled client's connection was closed, and it left the room.
    wait_for_subscribers(&hub, "news", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_file_upload_streams_through_without_sitting_in_memory() {
    const SIZE: u64 = 1 << 30;
    let _turn = one_at_a_time().await;
    let c = TestClient::start(App::only(module_path!())).await;
    let before = memory::rss_kib();
    // A multipart body made as it is sent: the part's head, 1 GiB in 64 KiB chunks, the end.
    let head = "--B\r\ncontent-disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n";
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = (SIZE / chunk.len() as u64) as usize;
    let body = std::iter::once(Bytes::from_static(head.as_bytes()))
        .chain(std::iter::repeat_n(chunk, chunks))
        .chain(std::iter::once(Bytes::from_static(b"\r\n--B--\r\n")));
    let res = c
        .post("/upload/file")
        .header("content-type", "multipart/form-data; boundary=B")
        .body(fratello::Body::chunks(body))
        .timeout(Duration::from_secs(300))
        .send()
        .await;
    assert_eq!(res.text(), SIZE.to_string());
    let grown = memory::rss_kib().saturating_sub(before);
    assert!(grown < 16 * 1024, "a 1 GiB upload grew the process by {grown} KiB");
}
