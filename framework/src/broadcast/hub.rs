//! [`Hub`]: a handle on an app's rooms, to publish to them and subscribe to them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::backend::Backend;
use super::config::HubConfig;
use super::room::Room;
use super::rooms::Rooms;
use super::subscription::Subscription;
use crate::error::{Error, Result};
use crate::message::Outbound;

/// Rooms of subscribers. Cheap to clone (an `Arc` inside); every App has one
/// ([`Context::hub`](crate::Context::hub), [`App::hub`](crate::App::hub)).
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Rooms>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("rooms", &self.rooms().len()).field("config", &self.inner.config).finish()
    }
}

impl Hub {
    /// A hub with the default sizes, in-process only.
    pub fn new() -> Self {
        Hub::with_config(HubConfig::default())
    }

    /// A hub with `config`, in-process only.
    pub fn with_config(config: HubConfig) -> Self {
        Hub { inner: Arc::new(Rooms::new(config, None)) }
    }

    /// A hub that also sends every publish to `backend` (other instances).
    pub fn with_backend(config: HubConfig, backend: impl Backend) -> Self {
        Hub { inner: Arc::new(Rooms::new(config, Some(Arc::new(backend)))) }
    }

    /// Sends `message` to every subscriber of `room` (and, with a backend, to the other
    /// instances). Returns how many local subscribers it reached; never waits.
    ///
    /// A message larger than the rooms' [`max_bytes`](HubConfig::max_bytes) is refused with
    /// a 413 error (413 to an HTTP client, close 1011 for a socket whose handler returns it
    /// with `?`): nobody receives it.
    pub fn publish(&self, room: &str, message: impl Into<Outbound>) -> Result<usize> {
        let message = message.into().shared();
        if let Some(why) = message.invalid() {
            return Err(Error::internal(why.to_owned()));
        }
        let (size, max) = (message.size(), self.inner.config.max_bytes);
        if size > max {
            return Err(Error::payload_too_large(format!(
                "a message of {size} bytes is larger than a room takes ({max} bytes)"
            )));
        }
        if let Some(backend) = &self.inner.backend {
            backend.publish(room, &message);
        }
        Ok(self.deliver(room, message, size))
    }

    /// Delivers a message to this instance's subscribers only (what a [`Backend`] calls for
    /// messages from other instances). A message larger than the rooms'
    /// [`max_bytes`](HubConfig::max_bytes) is dropped (and logged).
    pub fn deliver_local(&self, room: &str, message: Outbound) -> usize {
        let message = message.shared();
        let size = message.size();
        if size > self.inner.config.max_bytes {
            tracing::warn!(room, size, "dropped a message from another instance: larger than a room takes");
            return 0;
        }
        self.deliver(room, message, size)
    }

    fn deliver(&self, room: &str, message: Outbound, size: usize) -> usize {
        // Pushed after the map's lock is released: a subscriber leaving takes it to write.
        let Some(room) = self.inner.read().get(room).cloned() else { return 0 };
        room.push(message, size, &self.inner.config);
        room.subscribers.load(Ordering::Relaxed)
    }

    /// Subscribes to `room`, creating it if needed. Messages published from now on arrive.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let (name, room) = {
            let mut rooms = self.inner.write();
            let (name, room) = match rooms.get_key_value(room) {
                Some((name, r)) => (name.clone(), r.clone()),
                None => {
                    let name: Arc<str> = room.into();
                    let r = Arc::new(Room::new());
                    rooms.insert(name.clone(), r.clone());
                    (name, r)
                }
            };
            room.subscribers.fetch_add(1, Ordering::Relaxed);
            (name, room)
        };
        let next = {
            let ring = room.lock();
            ring.first + ring.msgs.len() as u64
        };
        Subscription { rooms: self.inner.clone(), name, room: Some(room), next, lagged: 0, parked: None }
    }

    /// The rooms that have subscribers.
    pub fn rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.read().keys().map(|k| k.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// How many subscribers `room` has (0 for a room that does not exist).
    pub fn subscribers(&self, room: &str) -> usize {
        self.inner.read().get(room).map_or(0, |r| r.subscribers.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use crate::broadcast::hub::*;

    #[tokio::test]
    async fn fan_out_lag_and_room_lifecycle() {
        let hub = Hub::with_config(HubConfig::default().capacity(4).max_lag(5));
        let mut a = hub.subscribe("r");
        let mut b = hub.subscribe("r");
        assert_eq!(hub.subscribers("r"), 2);
        for i in 0..3 {
            assert_eq!(hub.publish("r", format!("m{i}")).unwrap(), 2);
        }
        for i in 0..3 {
            assert_eq!(a.recv().await.unwrap().into_chunk().unwrap(), format!("m{i}"));
        }
        // b never read: 3 waiting; 4 more overflow the ring of 4 and b loses the oldest 3.
        for i in 3..7 {
            hub.publish("r", format!("m{i}")).unwrap();
        }
        assert_eq!(b.recv().await.unwrap().into_chunk().unwrap(), "m3");
        assert_eq!(b.lagged(), 3);
        // Lagging past max_lag (5) drops it.
        for i in 0..10 {
            hub.publish("r", format!("x{i}")).unwrap();
        }
        assert!(b.recv().await.is_err());
        assert_eq!(hub.subscribers("r"), 1);
        drop(a);
        assert!(hub.rooms().is_empty(), "the last one out frees the room");
        assert_eq!(hub.publish("r", "nobody").unwrap(), 0);
    }

    #[tokio::test]
    async fn the_ring_is_bounded_in_bytes_and_refuses_what_cannot_fit() {
        let hub = Hub::with_config(HubConfig::default().capacity(1000).max_bytes(100).max_lag(1000));
        let mut slow = hub.subscribe("r");
        let too_big = hub.publish("r", "x".repeat(101)).unwrap_err();
        assert_eq!(too_big.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        // Ten messages of 30 bytes: the ring keeps the last three (90 bytes).
        for i in 0..10 {
            hub.publish("r", format!("{i}{}", "x".repeat(29))).unwrap();
        }
        let room = hub.inner.read().get("r").cloned().unwrap();
        let (kept, bytes) = {
            let ring = room.lock();
            (ring.msgs.len(), ring.bytes)
        };
        assert_eq!((kept, bytes), (3, 90));
        assert!(slow.recv().await.unwrap().as_text().unwrap().starts_with('7'));
        assert_eq!(slow.lagged(), 7);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_once_per_publish_and_may_move_tasks() {
        let hub = Hub::new();
        let mut sub = hub.subscribe("r");
        // Polled twice in one round from two tasks' wakers: one slot, the last waker.
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(sub.poll_recv(&mut cx).is_pending());
        assert!(sub.poll_recv(&mut cx).is_pending());
        let room = hub.inner.read().get("r").cloned().unwrap();
        assert_eq!(room.lock().waiters.len(), 1);
        let hub2 = hub.clone();
        let got = tokio::spawn(async move { sub.recv().await.unwrap().as_text().map(str::to_owned) });
        tokio::task::yield_now().await;
        hub2.publish("r", "hello").unwrap();
        assert_eq!(got.await.unwrap().as_deref(), Some("hello"));
    }

    /// Receivers parking and waking on many threads while a publisher on another runs: each
    /// gets every message once, in order (the ring holds them all, so nobody may lose any).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn receivers_on_many_threads_miss_no_wake_up() {
        const RECEIVERS: usize = 8;
        const MESSAGES: usize = 5_000;
        let hub = Hub::with_config(HubConfig::default().capacity(MESSAGES).max_bytes(1 << 20).max_lag(0));
        let readers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let mut sub = hub.subscribe("r");
                tokio::spawn(async move {
                    for i in 0..MESSAGES {
                        let m = sub.recv().await.unwrap();
                        assert_eq!(m.as_text(), Some(i.to_string().as_str()));
                    }
                })
            })
            .collect();
        let publisher = {
            let hub = hub.clone();
            std::thread::spawn(move || {
                for i in 0..MESSAGES {
                    hub.publish("r", i.to_string()).unwrap();
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        };
        publisher.join().unwrap();
        for r in readers {
            tokio::time::timeout(std::time::Duration::from_secs(30), r)
                .await
                .expect("no wake-up lost")
                .unwrap();
        }
    }
}
