//! Presence across instances, with a real redis-server: a member with connections on several
//! instances is in a room once; an instance that stops answering loses its members within
//! 4/3 of the presence timeout; a restarted Redis gets every live member back.

mod support;

use std::time::Duration;

use fratello::broadcast::{HubConfig, Member, MemberEvent, MemberEvents};
use fratello::Hub;
use fratello_redis::{RedisBackend, RedisConfig};
use support::Redis;

const TIMEOUT: Duration = Duration::from_millis(600);

fn config(url: String) -> RedisConfig {
    RedisConfig::new(url)
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(500))
        .presence_timeout(TIMEOUT)
}

async fn instance(url: String) -> Hub {
    Hub::with_backend(
        HubConfig::default(),
        RedisBackend::connect_with(config(url)).await.expect("Redis is up"),
    )
}

async fn next(events: &mut MemberEvents) -> MemberEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("a change within 10 s")
}

/// Nothing arrives for a while (longer than a heartbeat and a sweep).
async fn quiet(events: &mut MemberEvents) {
    if let Ok(e) = tokio::time::timeout(TIMEOUT, events.recv()).await {
        panic!("no change expected, got {e:?}");
    }
}

fn keys(members: &[Member]) -> Vec<&str> {
    members.iter().map(|m| m.key.as_str()).collect()
}

/// Waits until `hub` lists exactly `want` in `room`.
async fn members_become(hub: &Hub, room: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = hub.members(room).await;
        if keys(&now) == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "members {:?}, not {want:?}, after 10 s", keys(&now));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn joined(key: &str, meta: &str) -> MemberEvent {
    MemberEvent::Joined(Member { key: key.into(), meta: meta.into() })
}

fn left(key: &str, meta: &str) -> MemberEvent {
    MemberEvent::Left(Member { key: key.into(), meta: meta.into() })
}

#[tokio::test]
async fn one_member_on_two_instances_joins_once_and_leaves_with_its_last_connection() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(redis.url()).await, instance(redis.url()).await);
    let mut on_a = a.member_events("doc");
    let mut on_b = b.member_events("doc");

    let b1 = b.join("doc", "ann", "Ann");
    assert_eq!(next(&mut on_b).await, joined("ann", "Ann"));
    assert_eq!(next(&mut on_a).await, joined("ann", "Ann"), "heard on the other instance");
    let b2 = b.join("doc", "ann", "Ann");
    let a1 = a.join("doc", "ann", "Ann");
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;
    let _bob = a.join("doc", "bob", "Bob");
    assert_eq!(next(&mut on_b).await, joined("bob", "Bob"));
    assert_eq!(next(&mut on_a).await, joined("bob", "Bob"));
    members_become(&a, "doc", &["ann", "bob"]).await;
    members_become(&b, "doc", &["ann", "bob"]).await;
    // A third instance that follows nothing asks Redis.
    let c = instance(redis.url()).await;
    assert_eq!(keys(&c.members("doc").await), ["ann", "bob"]);

    drop((b1, b2));
    quiet(&mut on_a).await; // ann is still there, from instance A
    drop(a1);
    assert_eq!(next(&mut on_b).await, left("ann", "Ann"));
    assert_eq!(next(&mut on_a).await, left("ann", "Ann"));
    members_become(&c, "doc", &["bob"]).await;
}

#[tokio::test]
async fn an_instance_that_stops_answering_loses_its_members() {
    let Some(redis) = Redis::start() else { return };
    let a = instance(redis.url()).await;
    let mut on_a = a.member_events("doc");
    // Instance B on a runtime of its own, which then stops dead: no leave is ever sent.
    let url = redis.url();
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let crashed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let b = instance(url).await;
            std::mem::forget(b.join("doc", "dan", "Dan"));
            std::mem::forget(b);
            joined_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await; // a heartbeat or two
        });
        runtime.shutdown_background();
    });
    joined_rx.recv().unwrap();
    assert_eq!(next(&mut on_a).await, joined("dan", "Dan"));
    crashed.join().unwrap();
    let since = tokio::time::Instant::now();
    // Dan goes once B's instance key expires. (On a loaded machine B may stall past the
    // timeout before it stops: A then sees Dan leave, B's next heartbeat puts him back, and
    // he leaves again when B is gone for good. What must hold is the end: a leave, and Dan
    // gone from A's view and from Redis.)
    loop {
        let event = next(&mut on_a).await;
        let took = since.elapsed();
        assert!(took < Duration::from_secs(10), "not gone after {took:?} ({event:?})");
        if event == left("dan", "Dan")
            && redis.cli(&["HLEN", "fratello:presence:m:doc"]).as_deref() == Some("0")
        {
            break;
        }
        assert!(event == left("dan", "Dan") || event == joined("dan", "Dan"), "unexpected {event:?}");
    }
    assert!(a.members("doc").await.is_empty());
}

#[tokio::test]
async fn a_restarted_redis_gets_every_live_member_back_and_no_departed_one() {
    let Some(mut redis) = Redis::start() else { return };
    let (a, b) = (instance(redis.url()).await, instance(redis.url()).await);
    let ann = b.join("doc", "ann", "Ann");
    let _dan = b.join("doc", "dan", "Dan"); // there all along
    let _bob = a.join("doc", "bob", "Bob");
    members_become(&a, "doc", &["ann", "bob", "dan"]).await;
    let mut on_a = a.member_events("doc");
    redis.kill();
    // Changes while Redis is away (joining and leaving never wait for it): Ann leaves, Cy
    // joins, on B.
    drop(ann);
    let _cy = b.join("doc", "cy", "Cy");
    tokio::time::sleep(TIMEOUT).await;
    redis.restart(); // empty: it keeps nothing on disk
                     // Both instances put theirs back at their next heartbeat after reconnecting.
    let c = instance(redis.url()).await;
    members_become(&c, "doc", &["bob", "cy", "dan"]).await;
    members_become(&a, "doc", &["bob", "cy", "dan"]).await;
    members_become(&b, "doc", &["bob", "cy", "dan"]).await;
    // What instance A heard: Ann left and Cy joined, nothing of Dan, who never left (Redis
    // losing everything is not taken for everyone leaving).
    let mut heard = Vec::new();
    while let Ok(e) = tokio::time::timeout(TIMEOUT * 2, on_a.recv()).await {
        heard.push(e);
    }
    heard.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(heard, [joined("cy", "Cy"), left("ann", "Ann")]);
}

#[tokio::test]
async fn overlapping_prefixes_are_refused_at_startup() {
    let Some(redis) = Redis::start() else { return };
    let config = RedisConfig::new(redis.url()).prefix("app:").presence_prefix("app:presence:");
    let e = RedisBackend::connect_with(config).await.unwrap_err().to_string();
    assert!(e.contains("overlap"), "{e}");
}
