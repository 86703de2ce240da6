//! The dashboard example end to end: the feed publishes, SSE and WebSocket clients receive the
//! same ticks in order, the snapshot follows, and the middleware guards all three.

#[path = "../examples/dashboard/app.rs"]
mod dashboard;

use std::sync::Arc;
use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;

#[tokio::test]
async fn ticks_reach_sse_and_websocket_viewers() {
    let market = Arc::new(dashboard::Market::default());
    let app = dashboard::app(market.clone());
    let hub = app.hub();
    let c = TestClient::start(app).await;

    // Without the page's cookie (or the API key) every route refuses.
    assert_eq!(c.get("/api/snapshot").send().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.sse("/api/prices").connect().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.ws("/api/prices/ws").try_connect().await.err().unwrap().status, StatusCode::UNAUTHORIZED);

    let page = c.get("/").send().await;
    let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let mut sse = c.sse("/api/prices").header("cookie", &cookie).connect().await;
    let mut ws = c.ws("/api/prices/ws").header("cookie", &cookie).connect().await;
    assert_eq!(sse.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
    assert!(ws.recv_text().await.contains("snapshot"));
    // Both subscribed: start the feed.
    while hub.subscribers(dashboard::ROOM) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let feed = tokio::spawn(dashboard::feed(hub.clone(), market, Duration::from_millis(5)));

    for seq in 1..=20u64 {
        let e = sse.next_event().await.unwrap();
        assert_eq!((e.event.as_deref(), e.id.clone()), (Some("tick"), Some(seq.to_string())));
        let q: serde_json::Value = serde_json::from_str(e.data.as_deref().unwrap()).unwrap();
        assert_eq!(q["seq"], seq);
        let w: serde_json::Value = serde_json::from_str(&ws.recv_text().await).unwrap();
        assert_eq!(w, q, "the socket gets the same tick as the stream");
    }
    feed.abort();
    let snap: Vec<serde_json::Value> = c.get("/api/snapshot").header("x-api-key", "demo").send().await.json();
    assert_eq!(snap.len(), 5, "every symbol is quoted from the opening");
}
