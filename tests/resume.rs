//! Resumable rooms: a receiver's cursor, an SSE client that reconnects with `Last-Event-ID`
//! and misses nothing, and a reset signal when what it missed is gone.

use std::time::Duration;

use fratello::broadcast::{HubConfig, Resumed};
use fratello::prelude::*;
use fratello::test::{SseClient, TestClient};
use fratello::Hub;

/// The board's stream: the missed messages after a reconnection, or a snapshot first when
/// they are gone.
#[sse("/boards/{id}/events")]
async fn board_events(ctx: Context) -> Result<()> {
    let room = format!("board:{}", ctx.param("id").unwrap_or_default());
    let resumed = ctx.hub().subscribe_from(&room, ctx.header("last-event-id")).await;
    if resumed.is_reset() {
        ctx.send(Event::new().event("snapshot").data("the whole board")).await?;
    }
    resumed.into_subscription().forward(ctx).await
}

fn app(hub: &Hub) -> App {
    App::only(module_path!()).with_hub(hub.clone())
}

/// The next `n` events: (id, data) of each.
async fn events(sse: &mut SseClient, n: usize) -> Vec<(Option<String>, String)> {
    let mut got = Vec::new();
    for _ in 0..n {
        let e = sse.next_event().await.expect("an event");
        got.push((e.id, e.data.unwrap_or_default()));
    }
    got
}

#[tokio::test]
async fn an_sse_client_reconnecting_with_last_event_id_misses_nothing() {
    let hub = Hub::new();
    let c = TestClient::start(app(&hub)).await;
    // Someone else keeps the room open while the client is away.
    let _other = hub.subscribe("board:7");

    let mut sse = c.sse("/boards/7/events").connect().await;
    let first = sse.next_event().await.unwrap();
    assert_eq!(first.event.as_deref(), Some("snapshot"), "no cursor: a snapshot first");
    for i in 0..5 {
        hub.publish("board:7", format!("m{i}")).unwrap();
    }
    let seen = events(&mut sse, 3).await;
    assert_eq!(seen.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>(), ["m0", "m1", "m2"]);
    let last_id = seen[2].0.clone().expect("every text from a room has an id");
    assert!(seen.windows(2).all(|w| w[0].0 != w[1].0), "one id per message");
    drop(sse); // the network drops

    for i in 5..10 {
        hub.publish("board:7", format!("m{i}")).unwrap();
    }
    // The browser reconnects, sending the last id it saw.
    let mut again = c.sse("/boards/7/events").header("last-event-id", &last_id).connect().await;
    let caught = events(&mut again, 7).await;
    let data: Vec<&str> = caught.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        data,
        ["m3", "m4", "m5", "m6", "m7", "m8", "m9"],
        "no snapshot, nothing missed, nothing twice"
    );
    hub.publish("board:7", "live").unwrap();
    assert_eq!(events(&mut again, 1).await[0].1, "live");
}

#[tokio::test]
async fn what_cannot_be_replayed_resets() {
    let hub = Hub::with_config(HubConfig::default().capacity(4));
    let c = TestClient::start(app(&hub)).await;
    let keeper = hub.subscribe("board:1");
    let old = keeper.cursor().to_string();
    for i in 0..10 {
        hub.publish("board:1", format!("m{i}")).unwrap();
    }
    // Older than the ring of 4: a snapshot, then live.
    let mut sse = c.sse("/boards/1/events").header("last-event-id", &old).connect().await;
    assert_eq!(sse.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
    // Not a cursor at all (a forged or foreign header): the same, and no error.
    let mut forged = c.sse("/boards/1/events").header("last-event-id", "'; DROP TABLE").connect().await;
    assert_eq!(forged.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
    drop((sse, forged, keeper));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(hub.rooms().is_empty(), "the last one out freed the room");

    // A cursor from the room's earlier life names nothing in this one.
    let fresh = hub.subscribe("board:1");
    assert!(matches!(hub.subscribe_from("board:1", Some(&old)).await, Resumed::Reset(_)));
    assert!(hub.subscribe_from("board:1", None).await.is_reset());
    // A cursor of this life resumes.
    assert!(matches!(
        hub.subscribe_from("board:1", Some(&fresh.cursor().to_string())).await,
        Resumed::Complete(_)
    ));
}

#[tokio::test]
async fn a_cursor_resumes_any_receiver_socket_or_code() {
    let hub = Hub::with_config(HubConfig::default().capacity(100));
    let _keep = hub.subscribe("r"); // keeps the room while the receiver below is away
    let mut sub = hub.subscribe("r");
    hub.publish("r", "a").unwrap();
    hub.publish("r", vec![1u8, 2, 3]).unwrap(); // binary too
    assert_eq!(sub.recv().await.unwrap().as_text(), Some("a"));
    let cursor = sub.cursor();
    drop(sub);
    hub.publish("r", "c").unwrap();
    let Resumed::Complete(mut back) = hub.subscribe_from("r", Some(&cursor.to_string())).await else {
        panic!("the room was never freed: everything after the cursor is there")
    };
    assert_eq!(back.recv().await.unwrap().as_bytes(), [1, 2, 3]);
    assert_eq!(back.recv().await.unwrap().as_text(), Some("c"));
    assert_eq!(back.lagged(), 0);
}
