//! SSE routes over real sockets: framing, keep-alive, resume, disconnects, middleware, shutdown.

use std::time::Duration;

use fratello::prelude::*;
use fratello::sse::SseConfig;
use fratello::test::TestClient;

#[middleware(path = "/private")]
async fn auth(ctx: Context) -> Result<()> {
    ctx.header("authorization").map(drop).ok_or_else(|| Error::unauthorized("missing token"))
}

#[middleware(after, path = "/framing")]
async fn tag(ctx: Context) -> Result<()> {
    ctx.set_header("x-stream", "yes");
    Ok(())
}

#[sse("/framing")]
async fn framing(ctx: Context) -> Result<()> {
    ctx.send("plain text").await?;
    ctx.send("two\nlines").await?;
    ctx.send(Json(serde_json::json!({ "price": 101.5 }))).await?;
    ctx.send(Event::new().event("tick").id("7").retry(Duration::from_millis(1500)).data("full")).await?;
    ctx.send(Event::new().comment("just a note")).await?;
    let refused = ctx.send(Bytes::from_static(b"\x00binary")).await;
    ctx.send(format!("binary refused: {}", refused.is_err())).await
}

#[sse("/resume")]
async fn resume(ctx: Context) -> Result<()> {
    let from: u32 = ctx.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(0);
    for n in from + 1..=from + 3 {
        ctx.send(Event::new().id(n.to_string()).data(format!("event {n}"))).await?;
    }
    Ok(())
}

/// Sends faster than the client reads: queued events go out joined in bursts.
#[sse("/burst")]
async fn burst(ctx: Context) -> Result<()> {
    for n in 0..500 {
        ctx.send(format!("event {n} {}", "x".repeat(n % 200))).await?;
    }
    Ok(())
}

#[sse("/idle")]
async fn idle(ctx: Context) -> Result<()> {
    ctx.send("hello").await?;
    ctx.closed().await;
    Ok(())
}

/// An event every 20 ms, for 2 s: the stream is never idle for a keep-alive period.
#[sse("/busy")]
async fn busy(ctx: Context) -> Result<()> {
    for n in 0..100 {
        ctx.send(format!("busy {n}")).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Sleeps between events; must still end soon after its client leaves.
#[sse("/sleepy")]
async fn sleepy(ctx: Context) -> Result<()> {
    struct Gone(tokio::sync::mpsc::UnboundedSender<&'static str>);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = self.0.send("handler dropped");
        }
    }
    let _guard = Gone(ctx.state::<tokio::sync::mpsc::UnboundedSender<&'static str>>()?.clone());
    loop {
        ctx.send("tick").await?;
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

#[sse("/private/feed")]
async fn private_feed(ctx: Context) -> Result<()> {
    ctx.send("secret").await
}

fn app() -> (App, tokio::sync::mpsc::UnboundedReceiver<&'static str>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let app = App::only(module_path!()).state(tx).sse_config(
        SseConfig::default()
            .keep_alive(Some(Duration::from_millis(100)))
            .shutdown_retry(Duration::from_millis(750)),
    );
    (app, rx)
}

#[tokio::test]
async fn framing_of_every_kind_of_send() {
    let c = TestClient::start(app().0).await;
    let mut s = c.sse("/framing").connect().await;
    assert_eq!(s.status(), StatusCode::OK);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("cache-control"), Some("no-cache"));
    assert_eq!(s.header("x-accel-buffering"), Some("no"));
    assert_eq!(s.header("x-stream"), Some("yes"), "after-middleware sees the stream's head");
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("plain text"));
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("two\nlines"));
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some(r#"{"price":101.5}"#));
    let e = s.next_event().await.unwrap();
    assert_eq!(
        (e.event.as_deref(), e.id.as_deref(), e.retry, e.data.as_deref()),
        (Some("tick"), Some("7"), Some(1500), Some("full"))
    );
    let note = s.next_block().await.unwrap();
    assert!(note.comments.contains(&"just a note".to_owned()), "{note:?}");
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("binary refused: true"));
    assert!(s.next_block().await.is_none(), "the stream ends when the handler returns");
}

#[tokio::test]
async fn a_burst_arrives_whole_and_in_order() {
    let c = TestClient::start(app().0).await;
    let mut s = c.sse("/burst").connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the queue fills meanwhile
    for n in 0..500 {
        let e = s.next_event().await.unwrap_or_else(|| panic!("event {n} is missing"));
        assert_eq!(e.data, Some(format!("event {n} {}", "x".repeat(n % 200))));
    }
    assert!(s.next_block().await.is_none(), "nothing after the last event");
}

#[tokio::test]
async fn last_event_id_resumes() {
    let c = TestClient::start(app().0).await;
    let mut s = c.sse("/resume").header("last-event-id", "41").connect().await;
    for n in 42..=44 {
        let e = s.next_event().await.unwrap();
        assert_eq!(e.id, Some(n.to_string()));
        assert_eq!(e.data, Some(format!("event {n}")));
    }
}

#[tokio::test]
async fn keep_alive_comments_on_an_idle_stream() {
    let c = TestClient::start(app().0).await;
    let mut s = c.sse("/idle").connect().await;
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("hello"));
    let mut last = std::time::Instant::now();
    for _ in 0..2 {
        let block = tokio::time::timeout(Duration::from_secs(3), s.next_block()).await.unwrap().unwrap();
        assert_eq!(block.comments, ["keep-alive"]);
        // Each after a keep-alive period (100 ms) of silence, not sooner (less the time the
        // last block took to arrive).
        assert!(
            last.elapsed() >= Duration::from_millis(75),
            "a comment after {:?} of silence",
            last.elapsed()
        );
        last = std::time::Instant::now();
    }
}

#[tokio::test]
async fn no_keep_alive_comments_on_a_busy_stream() {
    let c = TestClient::start(app().0).await;
    let mut s = c.sse("/busy").connect().await;
    let (mut events, mut comments) = (0, 0);
    while let Some(block) = s.next_block_timeout(Duration::from_secs(5)).await.unwrap() {
        events += usize::from(block.data.is_some());
        comments += block.comments.iter().filter(|c| *c == "keep-alive").count();
    }
    assert_eq!(events, 100);
    // A comment goes out only after a keep-alive period (100 ms) without an event: one every
    // 100 ms regardless would be about 20 here. (One or two are allowed for a machine so busy
    // that the handler's 20 ms sleeps stretch past the period.)
    assert!(comments <= 2, "{comments} keep-alive comments in about 2 s of events every 20 ms");
}

#[tokio::test]
async fn a_client_leaving_ends_the_handler_promptly() {
    let (app, mut rx) = app();
    let c = TestClient::start(app).await;
    let mut s = c.sse("/sleepy").connect().await;
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("tick"));
    drop(s);
    // The handler sleeps 30 s between events, yet it is gone well before its next send.
    let gone = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(gone.expect("the handler ends without waiting for its next event"), Some("handler dropped"));
}

#[tokio::test]
async fn middleware_refuses_a_stream() {
    let c = TestClient::start(app().0).await;
    let s = c.sse("/private/feed").connect().await;
    assert_eq!(s.status(), StatusCode::UNAUTHORIZED);
    let mut s = c.sse("/private/feed").header("authorization", "yes").connect().await;
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("secret"));
}

#[tokio::test]
async fn shutdown_ends_streams_with_a_retry_hint() {
    let c = TestClient::start(app().0.shutdown_timeout(Duration::from_secs(5))).await;
    let mut s = c.sse("/idle").connect().await;
    assert_eq!(s.next_event().await.unwrap().data.as_deref(), Some("hello"));
    let stop = tokio::spawn(c.shutdown());
    let mut retry = None;
    while let Some(block) =
        tokio::time::timeout(Duration::from_secs(5), s.next_block()).await.expect("the stream ends")
    {
        retry = retry.or(block.retry);
    }
    assert_eq!(retry, Some(750));
    tokio::time::timeout(Duration::from_secs(5), stop).await.expect("shutdown completes").unwrap();
}
