//! Resuming on any instance ([`RedisConfig::resumable`]): a client that read part of a room on
//! one instance reconnects to the other with its SSE `Last-Event-ID` and misses nothing;
//! what the room's log in Redis no longer holds is a reset.

mod support;

use std::time::Duration;

use fratello::broadcast::HubConfig;
use fratello::prelude::*;
use fratello::test::{SseClient, TestClient};
use fratello::Hub;
use fratello_redis::{RedisBackend, RedisConfig};
use support::Redis;

#[sse("/rooms/{room}/events")]
async fn events(ctx: Context) -> Result<()> {
    let room = ctx.param("room").unwrap_or_default().to_owned();
    let resumed = ctx.hub().subscribe_from(&room, ctx.header("last-event-id")).await;
    if resumed.is_reset() {
        ctx.send(Event::new().event("snapshot").data("reload")).await?;
    }
    resumed.into_subscription().forward(ctx).await
}

async fn instance(redis: &Redis, config: impl Fn(RedisConfig) -> RedisConfig) -> (Hub, TestClient) {
    let backend = RedisBackend::connect_with(config(RedisConfig::new(redis.url()))).await.unwrap();
    let hub = Hub::with_backend(HubConfig::default(), backend);
    (hub.clone(), TestClient::start(App::only(module_path!()).with_hub(hub)).await)
}

fn resumable(c: RedisConfig) -> RedisConfig {
    c.resumable(1000, Duration::from_secs(60))
}

/// The next `n` events: `(id, data)`, none of them a snapshot.
async fn read(sse: &mut SseClient, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e =
            tokio::time::timeout(Duration::from_secs(10), sse.next_event()).await.expect("an event").unwrap();
        assert_ne!(e.event.as_deref(), Some("snapshot"), "a snapshot after {out:?}");
        out.push((e.id.expect("an id"), e.data.unwrap_or_default()));
    }
    out
}

fn data(events: &[(String, String)]) -> Vec<&str> {
    events.iter().map(|(_, d)| d.as_str()).collect()
}

/// A client reads m0..m2 (published on B) on A, drops, and comes back on B with its last id
/// after A published m5..m9: it gets m3..m9, each once, then what comes live.
async fn moved_between_instances(room_open_on_b: bool) {
    let Some(redis) = Redis::start() else { return };
    let (hub_a, a) = instance(&redis, resumable).await;
    let (hub_b, b) = instance(&redis, resumable).await;
    let _keeper = room_open_on_b.then(|| hub_b.subscribe("r"));
    let mut on_a = a.sse("/rooms/r/events").connect().await;
    assert_eq!(on_a.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
    redis.wait_for_subscribers("fratello:room:r", 1 + usize::from(room_open_on_b)).await;
    for i in 0..5 {
        hub_b.publish("r", format!("m{i}")).unwrap();
    }
    let seen = read(&mut on_a, 3).await;
    assert_eq!(data(&seen), ["m0", "m1", "m2"]);
    assert!(seen.iter().all(|(id, _)| id.starts_with('r')), "ids are places in the log: {seen:?}");
    drop(on_a);
    for i in 5..10 {
        hub_a.publish("r", format!("m{i}")).unwrap();
    }
    // (Let m5..m9 reach B's ring first when B has the room open.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = &seen[2].0;
    let mut on_b = b.sse("/rooms/r/events").header("last-event-id", last).connect().await;
    let caught = read(&mut on_b, 7).await;
    // In the log's order: B's m3, m4 and A's m5..m9 may interleave (two publishers), each
    // publisher's in its order, each message once.
    let got = data(&caught);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["m3", "m4", "m5", "m6", "m7", "m8", "m9"], "each once: {got:?}");
    let from_b: Vec<&str> = got.iter().copied().filter(|m| ["m3", "m4"].contains(m)).collect();
    let from_a: Vec<&str> = got.iter().copied().filter(|m| !["m3", "m4"].contains(m)).collect();
    assert_eq!((from_b, from_a), (vec!["m3", "m4"], vec!["m5", "m6", "m7", "m8", "m9"]));
    hub_a.publish("r", "live").unwrap();
    assert_eq!(data(&read(&mut on_b, 1).await), ["live"]);
    let ids: Vec<&String> = caught.iter().map(|(id, _)| id).collect();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "one id per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moved_to_an_instance_without_the_room_misses_nothing() {
    tokio::time::timeout(Duration::from_secs(60), moved_between_instances(false)).await.expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moved_to_an_instance_with_the_room_open_misses_nothing() {
    tokio::time::timeout(Duration::from_secs(60), moved_between_instances(true)).await.expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_log_no_longer_holds_is_a_reset() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let Some(redis) = Redis::start() else { return };
        // A log of about 10 entries (Redis trims in whole nodes of 100), kept 1 s.
        let short = |c: RedisConfig| c.resumable(10, Duration::from_secs(1));
        let (hub_a, a) = instance(&redis, short).await;
        let (_hub_b, b) = instance(&redis, short).await;
        let mut first = a.sse("/rooms/t/events").connect().await;
        first.next_event().await.unwrap();
        redis.wait_for_subscribers("fratello:room:t", 1).await;
        hub_a.publish("t", "m0").unwrap();
        let old = read(&mut first, 1).await[0].0.clone();
        for i in 1..500 {
            hub_a.publish("t", format!("m{i}")).unwrap();
        }
        read(&mut first, 499).await;
        drop(first);
        // Trimmed past m0: a snapshot, then live.
        let mut back = b.sse("/rooms/t/events").header("last-event-id", &old).connect().await;
        assert_eq!(back.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
        drop(back);
        // The log expires a second after its last message: a snapshot again.
        let mut late = a.sse("/rooms/u/events").connect().await;
        late.next_event().await.unwrap();
        redis.wait_for_subscribers("fratello:room:u", 1).await;
        hub_a.publish("u", "only").unwrap();
        let id = read(&mut late, 1).await[0].0.clone();
        drop(late);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut expired = b.sse("/rooms/u/events").header("last-event-id", &id).connect().await;
        assert_eq!(expired.next_event().await.unwrap().event.as_deref(), Some("snapshot"));
    })
    .await
    .expect("watchdog");
}
