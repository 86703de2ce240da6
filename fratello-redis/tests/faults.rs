//! Redis faults, with a real redis-server: down at startup, killed and restarted mid-run,
//! paused (a stalled server). Local delivery goes on through all of them; handlers never wait
//! for Redis; what the other instance missed is what its receivers report as lag.

mod support;

use std::time::Duration;

use fratello::broadcast::HubConfig;
use fratello::{Hub, Subscription};
use fratello_redis::{RedisBackend, RedisConfig};
use support::Redis;

fn hub(redis: &RedisBackend) -> Hub {
    Hub::with_backend(
        HubConfig::default().capacity(100_000).max_bytes(64 << 20).max_lag(1_000_000),
        redis.clone(),
    )
}

/// Fast reconnection, so that a test does not wait for the default backoff.
fn config(url: String) -> RedisConfig {
    RedisConfig::new(url).reconnect_delay(Duration::from_millis(50), Duration::from_millis(500))
}

/// Receives from `sub` until the text `last` arrives; returns every text on the way, `last`
/// included.
async fn read_until(sub: &mut Subscription, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .unwrap_or_else(|_| panic!("`{last}` did not arrive; saw {} before", seen.len()))
            .unwrap();
        seen.push(m.as_text().unwrap().to_owned());
        if seen.last().is_some_and(|t| t == last) {
            return seen;
        }
    }
}

/// The numbers of the `n-<i>` texts.
fn numbers(texts: &[String]) -> Vec<usize> {
    texts.iter().filter_map(|t| t.strip_prefix("n-")?.parse().ok()).collect()
}

/// Waits (up to 10 s) until `done` holds: counters that a task updates after the fact.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn redis_down_at_startup_is_an_error_naming_it_or_a_start_alone() {
    tokio::time::timeout(Duration::from_secs(60), async {
        if !Redis::installed() {
            return;
        }
        let port = Redis::unused_port();
        let url = format!("redis://127.0.0.1:{port}/");
        let err = RedisBackend::connect_with(config(url.clone()).connect_timeout(Duration::from_secs(2)))
            .await
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(text.contains(&url) && text.contains("could not reach Redis"), "{text}");
        assert!(text.contains("start_without_redis"), "says how to start anyway: {text}");
        let startup: fratello::StartupError = err.into();
        assert!(startup.message().contains(&url));

        assert!(RedisBackend::connect("http://nowhere")
            .await
            .unwrap_err()
            .to_string()
            .contains("not usable"));

        // Starting alone: local delivery works at once, and the instance joins Redis later.
        let alone = RedisBackend::connect_with(
            config(url.clone()).start_without_redis(true).connect_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("starts without Redis");
        assert!(!alone.is_connected());
        let hub_a = hub(&alone);
        let mut local = hub_a.subscribe("r");
        assert_eq!(hub_a.publish("r", "while alone").unwrap(), 1);
        assert_eq!(local.recv().await.unwrap().as_text(), Some("while alone"));

        let mut redis = Redis::at_port(port);
        redis.restart();
        redis.wait_for_subscribers("fratello:room:r", 1).await;
        let other = RedisBackend::connect_with(config(redis.url())).await.unwrap();
        let hub_b = hub(&other);
        hub_b.publish("r", "from B").unwrap();
        assert_eq!(local.recv().await.unwrap().as_text(), Some("from B"), "joined once Redis was up");
    })
    .await
    .expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_local_goes_on_and_the_gap_is_lag() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let Some(mut redis) = Redis::start() else { return };
        let (ra, rb) = (
            RedisBackend::connect_with(config(redis.url())).await.unwrap(),
            RedisBackend::connect_with(config(redis.url())).await.unwrap(),
        );
        let (hub_a, hub_b) = (hub(&ra), hub(&rb));
        let (mut on_a, mut on_b) = (hub_a.subscribe("r"), hub_b.subscribe("r"));
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        for i in 0..10 {
            hub_a.publish("r", format!("n-{i}")).unwrap();
        }
        hub_a.publish("r", "before").unwrap();
        assert_eq!(numbers(&read_until(&mut on_b, "before").await), (0..10).collect::<Vec<_>>());

        redis.kill();
        // Published while Redis is away: A's own receivers get every one at once.
        for i in 10..30 {
            assert_eq!(hub_a.publish("r", format!("n-{i}")).unwrap(), 1, "local delivery goes on");
        }
        hub_a.publish("r", "during").unwrap();
        let local = read_until(&mut on_a, "during").await;
        assert_eq!(numbers(&local), (0..30).collect::<Vec<_>>());

        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.restart();
        // Both subscribe again to the open room by themselves.
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        for i in 30..35 {
            hub_a.publish("r", format!("n-{i}")).unwrap();
        }
        hub_a.publish("r", "after").unwrap();
        let seen = read_until(&mut on_b, "after").await;
        let got = numbers(&seen);
        // B received some of the 21 messages published in the gap (those A's client still
        // held and sent after the restart) or none; every one it did not receive is counted as
        // lag, and nothing came twice or out of order.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, once: {got:?}");
        assert!(got.ends_with(&[30, 31, 32, 33, 34]), "delivery resumed: {got:?}");
        let from_gap =
            got.iter().filter(|&&i| i < 30).count() + seen.iter().filter(|t| *t == "during").count();
        let missing = 21 - from_gap as u64;
        assert_eq!(on_b.lagged(), missing, "B saw {seen:?}; its lag counts what it missed");
        assert_eq!(rb.stats().lost, missing);
        assert!(rb.stats().reconnects >= 1 && ra.stats().reconnects >= 1);
        eventually("every publish of A accounted for", || {
            let a = ra.stats();
            a.published + a.failed + a.dropped == 38
        })
        .await;
    })
    .await
    .expect("watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_never_blocks_a_publisher_and_bounds_what_waits() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let Some(redis) = Redis::start() else { return };
        let cfg = || config(redis.url()).publish_buffer(64).command_timeout(Duration::from_millis(500));
        let (ra, rb) = (
            RedisBackend::connect_with(cfg()).await.unwrap(),
            RedisBackend::connect_with(cfg()).await.unwrap(),
        );
        let (hub_a, hub_b) = (hub(&ra), hub(&rb));
        let (mut on_a, mut on_b) = (hub_a.subscribe("r"), hub_b.subscribe("r"));
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        // A first message that B sees: where its count of A's messages starts.
        hub_a.publish("r", "before").unwrap();
        read_until(&mut on_b, "before").await;
        read_until(&mut on_a, "before").await;

        redis.pause();
        // 5,000 publishes into a stalled Redis: each returns at once; what does not fit the
        // buffer of 64 (and the batches in flight) is dropped and counted.
        const N: usize = 5_000;
        for i in 0..N {
            assert_eq!(hub_a.publish("r", format!("n-{i}")).unwrap(), 1);
        }
        hub_a.publish("r", "stalled").unwrap();
        assert_eq!(
            numbers(&read_until(&mut on_a, "stalled").await).len(),
            N,
            "local receivers got every one"
        );
        let dropped = ra.stats().dropped;
        assert!(dropped >= (N - 64 - 2 * 256) as u64, "the buffer is bounded: {:?}", ra.stats());
        assert_eq!(hub_a.backend_errors(), dropped, "the hub counts what the backend refused");

        tokio::time::sleep(Duration::from_secs(1)).await;
        redis.resume();
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        // Published after Redis resumed: delivered, and the gap before them is lag on B.
        let after: Vec<usize> = (N + 1..N + 6).collect();
        for i in &after {
            hub_a.publish("r", format!("n-{i}")).unwrap();
        }
        hub_a.publish("r", "resumed").unwrap();
        let seen = read_until(&mut on_b, "resumed").await;
        let got = numbers(&seen);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, once");
        assert!(got.ends_with(&after), "delivery resumed: {:?}", &got[got.len().saturating_sub(8)..]);
        // Of the N + 1 published into the stall ("stalled" included), B either received each
        // one or counts it as lost.
        let received =
            got.iter().filter(|&&i| i < N).count() + seen.iter().filter(|t| *t == "stalled").count();
        assert_eq!(
            received as u64 + on_b.lagged(),
            N as u64 + 1,
            "received {received}, lag {}, stats {:?}",
            on_b.lagged(),
            rb.stats()
        );
    })
    .await
    .expect("watchdog");
}

/// A publisher that publishes nothing more after an outage: what it lost reaches the other
/// instance's receivers as lag all the same, through the mark it sends once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_quiet_publisher_lost_is_lag_once_redis_is_back() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let Some(mut redis) = Redis::start() else { return };
        let cfg = || config(redis.url()).command_timeout(Duration::from_millis(300));
        let (ra, rb) = (
            RedisBackend::connect_with(cfg()).await.unwrap(),
            RedisBackend::connect_with(cfg()).await.unwrap(),
        );
        let (hub_a, hub_b) = (hub(&ra), hub(&rb));
        let mut on_b = hub_b.subscribe("r");
        let _keep_a_open = hub_a.subscribe("r");
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        hub_a.publish("r", "before").unwrap();
        read_until(&mut on_b, "before").await;

        redis.kill();
        for i in 0..5 {
            hub_a.publish("r", format!("n-{i}")).unwrap();
        }
        // Past the command timeout: those A's client held are failed, not sent later.
        tokio::time::sleep(Duration::from_secs(1)).await;
        redis.restart();
        redis.wait_for_subscribers("fratello:room:r", 2).await;
        // A publishes nothing more. Every one of the five reaches B, or counts as its lag.
        let mut received = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while received + on_b.lagged() < 5 {
            assert!(tokio::time::Instant::now() < deadline, "received {received}, lag {}", on_b.lagged());
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(100), on_b.recv()).await {
                assert!(m.unwrap().as_text().unwrap().starts_with("n-"));
                received += 1;
            }
        }
        assert_eq!(received + on_b.lagged(), 5, "nothing counted twice");
        assert_eq!(rb.stats().lost, on_b.lagged());
    })
    .await
    .expect("watchdog");
}
