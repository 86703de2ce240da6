//! [`Hub`]: a handle on an app's rooms, to publish to them and subscribe to them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::backend::{Backend, History};
use super::config::HubConfig;
use super::cursor::{Cursor, Place};
use super::inbox::Inbox;
use super::member::Member;
use super::membership::{MemberEvents, Presence};
use super::resumed::Resumed;
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

    /// A hub that shares its rooms with the app's other instances through `backend`: every
    /// publish goes to them too, and theirs arrive here. Handlers do not change.
    pub fn with_backend(config: HubConfig, backend: impl Backend) -> Self {
        let backend: Arc<dyn Backend> = Arc::new(backend);
        let hub = Hub { inner: Arc::new(Rooms::new(config, Some(backend.clone()))) };
        let rooms: std::sync::Weak<dyn super::inbox::Rooms> = Arc::downgrade(&hub.inner) as _;
        backend.start(Inbox { rooms });
        hub
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
        let Some(backend) = &self.inner.backend else {
            return Ok(self.inner.deliver(room, message, size, None));
        };
        if let Err(e) = backend.publish(room, &message) {
            let errors = self.inner.backend_errors.fetch_add(1, Ordering::Relaxed) + 1;
            // The first error and then one in a thousand: a backend that is away for a while
            // does not flood the log.
            if errors % 1000 == 1 {
                tracing::warn!(room, errors, error = %e, "the hub's backend did not take a message");
            }
        }
        if backend.delivers_own() {
            return Ok(self.subscribers(room));
        }
        Ok(self.inner.deliver(room, message, size, None))
    }

    /// Publishes the [`Backend`] did not take since the hub was made (each is also logged:
    /// the first, then one in a thousand). Always 0 without a backend.
    pub fn backend_errors(&self) -> u64 {
        self.inner.backend_errors.load(Ordering::Relaxed)
    }

    /// Subscribes to `room`, creating it if needed. Messages published from now on arrive.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let (name, room) = self.enter(room);
        let next = {
            let ring = room.lock();
            ring.first + ring.msgs.len() as u64
        };
        self.subscription(name, room, next)
    }

    /// Subscribes to `room` from `cursor` (a [`Subscription::cursor`], or its text as a client
    /// sent it back, such as an SSE `Last-Event-ID`): the messages published since, if they
    /// are all still there ([`Resumed::Complete`]), or from now on with a signal to reload the
    /// state ([`Resumed::Reset`]: no cursor, one that does not parse, one older than what is
    /// kept). What is kept: the room's ring on this instance, in this life of the room; and,
    /// with a backend that keeps a log of each room (`fratello-redis` with
    /// `RedisConfig::resumable`), that log, on every instance.
    ///
    /// ```
    /// # use fratello::prelude::*;
    /// #[sse("/boards/{id}/events")]
    /// async fn board(ctx: Context) -> Result<()> {
    ///     let room = format!("board:{}", ctx.param("id").unwrap_or_default());
    ///     // A browser's EventSource sends the last `id:` it saw when it reconnects.
    ///     let resumed = ctx.hub().subscribe_from(&room, ctx.header("last-event-id")).await;
    ///     if resumed.is_reset() {
    ///         ctx.send(Event::new().event("snapshot").data("{}")).await?; // the whole state
    ///     }
    ///     resumed.into_subscription().forward(ctx).await
    /// }
    /// ```
    pub async fn subscribe_from(&self, room: &str, cursor: Option<&str>) -> Resumed {
        let place = cursor.and_then(|c| c.parse::<Cursor>().ok()).map(|c| c.0);
        let log_id = match place {
            Some(Place::Log(id)) => Some(id),
            _ => None,
        };
        let (name, room) = self.enter(room);
        let (end, found) = {
            let ring = room.lock();
            let end = ring.first + ring.msgs.len() as u64;
            let found = match place {
                Some(Place::Local { life, next }) => {
                    (life == room.life && (ring.first..=end).contains(&next)).then_some(next)
                }
                // In the ring if its oldest message is at or before the cursor's.
                Some(Place::Log(id)) => ring
                    .ids
                    .front()
                    .filter(|front| **front <= id)
                    .map(|_| ring.first + ring.ids.partition_point(|x| *x <= id) as u64),
                None => None,
            };
            (end, found)
        };
        if let Some(next) = found {
            let mut sub = self.subscription(name, room, next);
            sub.last_id = log_id.or(sub.last_id);
            return Resumed::Complete(sub);
        }
        let mut sub = self.subscription(name.clone(), room, end);
        let (Some(id), Some(backend)) = (log_id, self.inner.backend.clone()) else {
            return Resumed::Reset(sub);
        };
        match backend.history(&name, id).await {
            History::Since(entries) => {
                sub.skip_through = Some(entries.last().map_or(id, |(last, _)| *last));
                sub.last_id = Some(id);
                sub.backlog = entries.into_iter().map(|(id, m)| (id, m.shared())).collect();
                sub.resuming = true;
                Resumed::Complete(sub)
            }
            History::Gone => Resumed::Reset(sub),
        }
    }

    /// Counts a subscriber in `room`, creating the room if needed.
    fn enter(&self, room: &str) -> (Arc<str>, Arc<Room>) {
        let mut rooms = self.inner.write();
        let (name, room) = match rooms.get_key_value(room) {
            Some((name, r)) => (name.clone(), r.clone()),
            None => {
                let name: Arc<str> = room.into();
                let r = Arc::new(Room::new(self.inner.next_life()));
                rooms.insert(name.clone(), r.clone());
                if let Some(backend) = &self.inner.backend {
                    backend.open(&name);
                }
                (name, r)
            }
        };
        room.subscribers.fetch_add(1, Ordering::Relaxed);
        (name, room)
    }

    fn subscription(&self, name: Arc<str>, room: Arc<Room>, next: u64) -> Subscription {
        let (seen_elsewhere, last_id) = {
            let ring = room.lock();
            // With log ids: the id of the message before `next`, the place it starts from.
            (ring.lost_elsewhere, ring.id_before(next))
        };
        Subscription {
            rooms: self.inner.clone(),
            name,
            life: room.life,
            last_id,
            backlog: Default::default(),
            skip_through: None,
            resuming: false,
            room: Some(room),
            next,
            lagged: 0,
            lagged_elsewhere: 0,
            seen_elsewhere,
            parked: None,
        }
    }

    /// The rooms that have subscribers.
    pub fn rooms(&self) -> Vec<String> {
        let mut v = self.inner.names();
        v.sort_unstable();
        v
    }

    /// Puts the member `key` (a user id: a string, a number, anything displayable) in `room`
    /// (presence) until the returned [`Presence`] is dropped; `meta` is what
    /// [`members`](Self::members) and the events say of it (a display name, some JSON). Several connections with one key, here or on other instances, make one
    /// member: it joins with the first and leaves with the last. Presence is apart from
    /// subscribing: a member need not receive the room's messages, nor a receiver be a member.
    ///
    /// ```
    /// # use fratello::prelude::*;
    /// # use fratello::broadcast::MemberEvent;
    /// #[ws("/boards/{id}")]
    /// async fn board(ctx: Context) -> Result<()> {
    ///     let room = format!("board:{}", ctx.param("id").unwrap_or_default());
    ///     let user = ctx.header("x-user").unwrap_or("guest").to_owned();
    ///     let hub = ctx.hub();
    ///     let mut changes = hub.member_events(&room); // before joining: hears its own join too
    ///     let _here = hub.join(&room, &user, "");
    ///     let names: Vec<String> = hub.members(&room).await.into_iter().map(|m| m.key).collect();
    ///     ctx.send(names.join(",")).await?;
    ///     loop {
    ///         tokio::select! {
    ///             change = changes.recv() => match change {
    ///                 MemberEvent::Joined(m) => ctx.send(format!("+{}", m.key)).await?,
    ///                 MemberEvent::Left(m) => ctx.send(format!("-{}", m.key)).await?,
    ///                 MemberEvent::Resync => ctx.send("resync").await?,
    ///             },
    ///             msg = ctx.recv() => if msg?.is_none() { return Ok(()) },
    ///         }
    ///     }
    /// }
    /// ```
    pub fn join(&self, room: &str, key: impl ToString, meta: impl ToString) -> Presence {
        let key = key.to_string();
        self.inner.presence.join(room, &key, &meta.to_string());
        Presence { rooms: self.inner.clone(), room: room.into(), key }
    }

    /// The changes of `room`'s members from now on: who joins and who leaves
    /// ([`join`](Self::join)), on this instance and, with a backend, on the others.
    pub fn member_events(&self, room: &str) -> MemberEvents {
        let events = self.inner.presence.listen(room);
        MemberEvents { rooms: self.inner.clone(), room: room.into(), events }
    }

    /// The members of `room` now, in the order of their keys, each once: from what this
    /// instance follows, or (for a room it does not follow, with a backend) from the backend,
    /// which may take a round trip. Without a backend it never waits.
    pub async fn members(&self, room: &str) -> Vec<Member> {
        let local = match self.inner.presence.members(room) {
            Ok(known) => return known,
            Err(local) => local,
        };
        let Some(backend) = self.inner.backend.clone() else { return local };
        let mut all = local;
        all.extend(backend.members(room).await);
        all.sort_unstable();
        all.dedup_by(|a, b| a.key == b.key);
        all
    }

    /// How many subscribers `room` has (0 for a room that does not exist).
    pub fn subscribers(&self, room: &str) -> usize {
        self.inner.read().get(room).map_or(0, |r| r.subscribers.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use crate::broadcast::backend::BackendError;
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

    /// Records what the hub asks of its backend, and keeps the inbox it was given.
    #[derive(Default)]
    struct Recorder {
        calls: std::sync::Mutex<Vec<String>>,
        inbox: std::sync::Mutex<Option<Inbox>>,
        refuse: std::sync::atomic::AtomicBool,
    }

    impl Backend for Arc<Recorder> {
        fn start(&self, inbox: Inbox) {
            *self.inbox.lock().unwrap() = Some(inbox);
        }
        fn open(&self, room: &str) {
            self.calls.lock().unwrap().push(format!("open {room}"));
        }
        fn close(&self, room: &str) {
            self.calls.lock().unwrap().push(format!("close {room}"));
        }
        fn publish(&self, room: &str, m: &Outbound) -> std::result::Result<(), BackendError> {
            self.calls.lock().unwrap().push(format!("publish {room} {}", m.as_text().unwrap_or("?")));
            if self.refuse.load(Ordering::Relaxed) {
                return Err(BackendError::Full);
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_backend_hears_of_rooms_and_publishes_and_reports_losses() {
        let rec = Arc::new(Recorder::default());
        let hub = Hub::with_backend(HubConfig::default().max_lag(2), rec.clone());
        let inbox = rec.inbox.lock().unwrap().clone().expect("started with an inbox");
        let mut a = hub.subscribe("r");
        let b = hub.subscribe("r");
        hub.publish("r", "one").unwrap();
        assert_eq!(inbox.deliver("r", "two".into()), 2, "from another instance, to both");
        assert_eq!(inbox.deliver("nobody", "x".into()), 0);
        assert_eq!(inbox.rooms(), vec!["r".to_owned()]);
        // Five lost between instances: counted, but past max_lag (2) nobody is dropped for it.
        inbox.lost("r", 5);
        assert_eq!(a.recv().await.unwrap().as_text(), Some("one"));
        assert_eq!(a.recv().await.unwrap().as_text(), Some("two"));
        assert_eq!(a.lagged(), 5);
        rec.refuse.store(true, Ordering::Relaxed);
        assert_eq!(hub.publish("r", "three").unwrap(), 2, "local delivery goes on");
        assert_eq!(hub.backend_errors(), 1);
        assert_eq!(a.recv().await.unwrap().as_text(), Some("three"));
        drop((a, b));
        assert_eq!(
            *rec.calls.lock().unwrap(),
            ["open r", "publish r one", "publish r three", "close r"],
            "open with the first subscriber, close with the last"
        );
        drop(hub);
        assert!(inbox.is_closed(), "the inbox does not keep the hub alive");
        assert_eq!(inbox.deliver("r", "late".into()), 0);
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
