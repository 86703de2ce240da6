//! Two instances of an app on two ports, one redis-server: every message published on either
//! reaches every WebSocket, SSE and in-process receiver on both, once, in each publisher's
//! order; SSE events and binary messages cross intact.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use fratello::broadcast::HubConfig;
use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::{Event, Hub};
use fratello_redis::{Delivery, RedisBackend, RedisConfig};
use support::Redis;

#[ws("/rooms/{room}")]
async fn member(ctx: Context) -> Result<()> {
    let feed = ctx.hub().subscribe(ctx.param("room").unwrap_or_default()).forward(ctx.clone());
    let drain = async {
        while ctx.recv().await?.is_some() {}
        Ok(())
    };
    tokio::select! {
        r = feed => r,
        r = drain => r,
    }
}

#[sse("/rooms/{room}/events")]
async fn member_sse(ctx: Context) -> Result<()> {
    ctx.hub().subscribe(ctx.param("room").unwrap_or_default()).forward(ctx).await
}

/// An instance: its hub on `redis`, and the app serving it.
async fn instance(config: RedisConfig) -> (Hub, RedisBackend, TestClient) {
    let redis = RedisBackend::connect_with(config).await.expect("Redis is up");
    let hub = Hub::with_backend(HubConfig::default().capacity(4096).max_bytes(4 << 20), redis.clone());
    let app = App::only(module_path!()).with_hub(hub.clone());
    (hub, redis, TestClient::start(app).await)
}

const PER_PUBLISHER: usize = 300;

/// Reads `n` texts from a receiver and checks them: no duplicate, each publisher's in order.
fn check_order(who: &str, texts: &[String]) {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for t in texts {
        let (publisher, i) = t.split_once('-').expect("publisher-number");
        let i: usize = i.parse().unwrap();
        if let Some(prev) = last.insert(publisher, i) {
            assert!(
                i == prev + 1,
                "{who}: {publisher}'s message {i} after {prev} (duplicate, loss or reorder)"
            );
        } else {
            assert_eq!(i, 0, "{who}: {publisher}'s first message is {i}");
        }
    }
    for p in ["A", "B"] {
        assert_eq!(last.get(p), Some(&(PER_PUBLISHER - 1)), "{who}: all of {p}'s messages");
    }
}

async fn every_message_once_in_order(delivery: Delivery) {
    let Some(redis) = Redis::start() else { return };
    let config = || RedisConfig::new(redis.url()).prefix("t:").delivery(delivery);
    let (hub_a, stats_a, a) = instance(config()).await;
    let (hub_b, _stats_b, b) = instance(config()).await;
    let (mut ws_a, mut ws_b) = (a.ws("/rooms/r").connect().await, b.ws("/rooms/r").connect().await);
    let (mut sse_a, mut sse_b) =
        (a.sse("/rooms/r/events").connect().await, b.sse("/rooms/r/events").connect().await);
    let (mut sub_a, mut sub_b) = (hub_a.subscribe("r"), hub_b.subscribe("r"));
    // One subscription per instance, whatever its number of receivers.
    redis.wait_for_subscribers("t:r", 2).await;

    // Both publish at once, from two threads of their own.
    let publishers: Vec<_> = [("A", hub_a.clone()), ("B", hub_b.clone())]
        .into_iter()
        .map(|(name, hub)| {
            std::thread::spawn(move || {
                for i in 0..PER_PUBLISHER {
                    hub.publish("r", format!("{name}-{i}")).unwrap();
                }
            })
        })
        .collect();
    publishers.into_iter().for_each(|p| p.join().unwrap());

    let total = 2 * PER_PUBLISHER;
    for (who, ws) in [("ws on A", &mut ws_a), ("ws on B", &mut ws_b)] {
        let mut texts = Vec::new();
        for _ in 0..total {
            texts.push(ws.recv_text().await);
        }
        check_order(who, &texts);
    }
    for (who, sse) in [("sse on A", &mut sse_a), ("sse on B", &mut sse_b)] {
        let mut texts = Vec::new();
        for _ in 0..total {
            texts.push(sse.next_event().await.and_then(|e| e.data).expect("an event"));
        }
        check_order(who, &texts);
    }
    for (who, sub) in [("hub on A", &mut sub_a), ("hub on B", &mut sub_b)] {
        let mut texts = Vec::new();
        for _ in 0..total {
            texts.push(sub.recv().await.unwrap().as_text().unwrap().to_owned());
        }
        check_order(who, &texts);
        assert_eq!(sub.lagged(), 0, "{who}: nothing lost");
    }
    // Nothing more arrives: no message came twice.
    let extra = ws_a.recv_timeout(Duration::from_millis(300)).await;
    assert!(extra.is_err(), "a message after all of them: {extra:?}");
    let stats = stats_a.stats();
    assert_eq!((stats.published, stats.dropped, stats.failed, stats.lost), (PER_PUBLISHER as u64, 0, 0, 0));
    if delivery == Delivery::Local {
        assert_eq!(stats.own_skipped, PER_PUBLISHER as u64, "its own echo skipped: {stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_both_instances_once_in_order() {
    tokio::time::timeout(Duration::from_secs(60), every_message_once_in_order(Delivery::Local))
        .await
        .expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_delivery_gives_every_instance_one_order() {
    tokio::time::timeout(Duration::from_secs(60), async {
        every_message_once_in_order(Delivery::Global).await;
    })
    .await
    .expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_binary_cross_intact() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let Some(redis) = Redis::start() else { return };
        let (hub_a, _, a) = instance(RedisConfig::new(redis.url())).await;
        let (hub_b, _, b) = instance(RedisConfig::new(redis.url())).await;
        let mut sse_b = b.sse("/rooms/news/events").connect().await;
        let mut ws_a = a.ws("/rooms/news").connect().await;
        redis.wait_for_subscribers("fratello:room:news", 2).await;

        let event =
            Event::new().id("41").event("headline").retry(Duration::from_millis(2500)).data("line 1\nline 2");
        hub_a.publish("news", event).unwrap();
        let got = sse_b.next_event().await.expect("the event on B");
        assert_eq!(got.id.as_deref(), Some("41"));
        assert_eq!(got.event.as_deref(), Some("headline"));
        assert_eq!(got.retry, Some(2500));
        assert_eq!(got.data.as_deref(), Some("line 1\nline 2"));
        // The event's data alone reaches a socket on A (published there: delivered locally).
        assert_eq!(ws_a.recv_text().await, "line 1\nline 2");

        let bytes: Vec<u8> = (0..=255).collect();
        hub_b.publish("news", bytes.clone()).unwrap();
        let m = ws_a.recv().await.expect("the binary message on A");
        assert!(!m.is_text());
        assert_eq!(m.as_bytes(), &bytes[..]);
    })
    .await
    .expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_listens_only_to_rooms_with_local_subscribers() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let Some(redis) = Redis::start() else { return };
        let (hub_a, _, _a) = instance(RedisConfig::new(redis.url()).prefix("p:")).await;
        let sub = hub_a.subscribe("open");
        redis.wait_for_subscribers("p:open", 1).await;
        assert_eq!(redis.subscribers("p:other"), 0);
        drop(sub);
        redis.wait_for_subscribers("p:open", 0).await;
    })
    .await
    .expect("watchdog");
}
