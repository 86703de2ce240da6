//! Broadcasting: a [`Hub`] of named rooms that any handler can publish to and subscribe to,
//! whatever protocol its client came in on (WebSocket, SSE, HTTP long-poll, or plain code).
//!
//! ```ignore
//! #[ws("/rooms/{room}")]
//! async fn room(ctx: Context) -> Result<()> {
//!     let room = ctx.param("room").unwrap_or("lobby").to_owned();
//!     let sub = ctx.hub().subscribe(&room);
//!     tokio::spawn(sub.forward(ctx.clone())); // every message of the room to this client
//!     while let Some(msg) = ctx.recv().await? {
//!         ctx.hub().publish(&room, msg)?;       // this client's messages to the room
//!     }
//!     Ok(())
//! }
//! ```
//!
//! **Encode once.** A published value is encoded when it becomes an
//! [`Outbound`] (JSON serialized, SSE event framed) and the room keeps one copy; every
//! receiver reads that same copy. A WebSocket receiver copies it behind a frame header
//! straight into its socket's write queue, with whatever else has been published since it
//! last looked, and writes them all with one system call.
//!
//! **Bounded in bytes, shared by all.** Each room keeps its recent messages in one ring, at
//! most [`HubConfig::capacity`] of them (256 by default) and at most
//! [`HubConfig::max_bytes`] bytes (256 KiB by default); publishing a single message larger
//! than `max_bytes` is refused with a 413 error. Receivers read from the ring at their own
//! pace: nothing is copied per receiver until it goes into that client's own queue (a
//! socket's [`max_send_queue`](crate::ws::WsConfig::max_send_queue), an SSE stream's
//! [`max_send_queue`](crate::sse::SseConfig::max_send_queue)), which is bounded in bytes
//! too. So a client that never reads costs its own queue and nothing more, whatever the room
//! publishes and however many such clients there are.
//!
//! **Slow receivers.** Publishing never waits for a receiver. A receiver that falls so far
//! behind that the ring has dropped messages it had not read yet loses them: every loss is
//! counted ([`Subscription::lagged`]), and a receiver that has lost more than
//! [`HubConfig::max_lag`] messages (1024 by default) is dropped: `recv`/`forward` return an
//! error (429, "fell too far behind"), and the handler's usual `?` closes its socket (1011)
//! or ends its stream. One slow client therefore neither grows the server's memory nor slows
//! the others down.
//!
//! **Rooms** are created by their first subscriber and freed when the last one leaves;
//! publishing to a room without subscribers drops the message and returns `Ok(0)`.
//!
//! **Several instances.** A [`Backend`] carries messages between instances (e.g. Redis
//! pub/sub behind a load balancer); handlers do not change. The default is in-process only.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Poll, Waker};

use crate::{Context, Error, Outbound, Result};

/// Sizes of a hub's rooms and its policy for slow receivers.
#[derive(Debug, Clone)]
pub struct HubConfig {
    capacity: usize,
    max_bytes: usize,
    max_lag: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig { capacity: 256, max_bytes: 256 * 1024, max_lag: 1024 }
    }
}

impl HubConfig {
    /// Messages a room keeps for its receivers. Default 256.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages.max(1);
        self
    }

    /// Bytes a room keeps for its receivers (the payloads, as encoded), and so the largest
    /// message it accepts: [`Hub::publish`] refuses a larger one with 413. Default 256 KiB.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Total messages a receiver may lose before it is dropped. Default 1024.
    pub fn max_lag(mut self, messages: u64) -> Self {
        self.max_lag = messages;
        self
    }
}

/// Carries published messages between instances of the app. The hub calls
/// [`publish`](Backend::publish) for every local publish; the backend delivers messages from
/// other instances with [`Hub::deliver_local`].
pub trait Backend: Send + Sync + 'static {
    /// Sends a locally published message to the other instances.
    fn publish(&self, room: &str, message: &Outbound);
}

/// Rooms of subscribers. Cheap to clone (an `Arc` inside); every App has one
/// ([`Context::hub`], [`App::hub`](crate::App::hub)).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

type Rooms = HashMap<Arc<str>, Arc<Room>>;

struct HubInner {
    rooms: RwLock<Rooms>,
    config: HubConfig,
    backend: Option<Arc<dyn Backend>>,
}

/// One room: its ring of recent messages, and who waits for the next one.
struct Room {
    ring: Mutex<Ring>,
    /// Changed under the hub's lock on its rooms, so that a room is never freed while someone
    /// joins it.
    subscribers: AtomicUsize,
}

/// The messages numbered `first..first + msgs.len()`.
struct Ring {
    msgs: VecDeque<Outbound>,
    first: u64,
    bytes: usize,
    /// Receivers that have read everything, waiting for the next message.
    waiters: Vec<Waker>,
    /// Counts the times `waiters` was emptied: a receiver that registered in the current
    /// round knows where its waker is.
    round: u64,
}

impl Room {
    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Every critical section is a few field updates that cannot panic half-way.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `message` (of `size` bytes) to the ring, drops the oldest beyond the bounds, and
    /// wakes the receivers that wait.
    fn push(&self, message: Outbound, size: usize, config: &HubConfig) {
        let waiters = {
            let mut ring = self.lock();
            ring.bytes += size;
            ring.msgs.push_back(message);
            while ring.msgs.len() > config.capacity || ring.bytes > config.max_bytes {
                let Some(old) = ring.msgs.pop_front() else { break };
                ring.bytes -= old.size();
                ring.first += 1;
            }
            ring.round += 1;
            let wanted = ring.waiters.len();
            std::mem::replace(&mut ring.waiters, Vec::with_capacity(wanted))
        };
        // Woken after the lock: a receiver's waker may take a lock of its own (a socket's
        // state), under which that socket may be reading this ring.
        waiters.into_iter().for_each(Waker::wake);
    }
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
        Hub { inner: Arc::new(HubInner { rooms: RwLock::new(HashMap::new()), config, backend: None }) }
    }

    /// A hub that also sends every publish to `backend` (other instances).
    pub fn with_backend(config: HubConfig, backend: impl Backend) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                rooms: RwLock::new(HashMap::new()),
                config,
                backend: Some(Arc::new(backend)),
            }),
        }
    }

    fn rooms_read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.inner.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn rooms_write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.inner.rooms.write().unwrap_or_else(|p| p.into_inner())
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
        let Some(room) = self.rooms_read().get(room).cloned() else { return 0 };
        room.push(message, size, &self.inner.config);
        room.subscribers.load(Ordering::Relaxed)
    }

    /// Subscribes to `room`, creating it if needed. Messages published from now on arrive.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let (name, room) = {
            let mut rooms = self.rooms_write();
            let (name, room) = match rooms.get_key_value(room) {
                Some((name, r)) => (name.clone(), r.clone()),
                None => {
                    let name: Arc<str> = room.into();
                    let r = Arc::new(Room {
                        ring: Mutex::new(Ring {
                            msgs: VecDeque::new(),
                            first: 0,
                            bytes: 0,
                            waiters: Vec::new(),
                            round: 0,
                        }),
                        subscribers: AtomicUsize::new(0),
                    });
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
        Subscription { hub: self.clone(), name, room: Some(room), next, lagged: 0, parked: None }
    }

    /// The rooms that have subscribers.
    pub fn rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = self.rooms_read().keys().map(|k| k.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// How many subscribers `room` has (0 for a room that does not exist).
    pub fn subscribers(&self, room: &str) -> usize {
        self.rooms_read().get(room).map_or(0, |r| r.subscribers.load(Ordering::Relaxed))
    }
}

/// A subscriber of one room: where it is in the room's ring. Dropping it leaves the room (the
/// last one frees the room).
pub struct Subscription {
    hub: Hub,
    name: Arc<str>,
    /// `None` once it has left (dropped for falling behind).
    room: Option<Arc<Room>>,
    /// The number of the next message to read.
    next: u64,
    lagged: u64,
    /// Where this receiver's waker is in the ring's waiters: `(round, index)`.
    parked: Option<(u64, usize)>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("room", &self.name).field("lagged", &self.lagged).finish()
    }
}

/// What a look at the ring found.
enum Look {
    Message(Outbound),
    /// That many messages were dropped before this receiver read them.
    Lost(u64),
    /// Nothing new (the receiver's waker is left, when one was given).
    Nothing,
}

impl Subscription {
    /// The room's name.
    pub fn room(&self) -> &str {
        &self.name
    }

    /// How many messages this receiver has lost by falling behind.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// The next message. Lost messages are skipped (and counted in
    /// [`lagged`](Self::lagged)); past the hub's `max_lag` this returns an error (429) and the
    /// subscription is over.
    pub async fn recv(&mut self) -> Result<Outbound> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<Outbound>> {
        loop {
            match self.look(Some(cx.waker()), true)? {
                Look::Message(m) => return Poll::Ready(Ok(m)),
                Look::Lost(n) => self.lost(n)?,
                Look::Nothing => return Poll::Pending,
            }
        }
    }

    /// Looks at the ring: the next message (if `take`), messages lost, or nothing (and then
    /// `waker` waits for the next publish).
    fn look(&mut self, waker: Option<&Waker>, take: bool) -> Result<Look> {
        let room = self.room.as_ref().ok_or_else(too_slow)?;
        let mut ring = room.lock();
        if self.next < ring.first {
            let n = ring.first - self.next;
            self.next = ring.first;
            return Ok(Look::Lost(n));
        }
        if take {
            if let Some(m) = ring.msgs.get((self.next - ring.first) as usize) {
                self.next += 1;
                return Ok(Look::Message(m.clone()));
            }
        }
        if let Some(waker) = waker {
            match self.parked {
                // Registered in this round already: the waker is there (or replaced if the
                // receiver moved to another task).
                Some((round, i)) if round == ring.round => {
                    if let Some(w) = ring.waiters.get_mut(i) {
                        if !w.will_wake(waker) {
                            *w = waker.clone();
                        }
                    }
                }
                _ => {
                    self.parked = Some((ring.round, ring.waiters.len()));
                    ring.waiters.push(waker.clone());
                }
            }
        }
        Ok(Look::Nothing)
    }

    /// Sends every message of the room to `ctx` until the client goes away (`Ok`), or this
    /// receiver is dropped for being too slow (`Err`).
    ///
    /// While the client's own queue is full (it reads more slowly than the room talks), the
    /// messages wait in the room; if the room drops them before the client has room for them,
    /// they are lost for it and counted in [`lagged`](Self::lagged). To a WebSocket or an SSE
    /// stream, messages go from the room straight into the client's queue, as many at once as
    /// it takes (one write for a burst). A value the client cannot carry (bytes, to an SSE
    /// stream) is skipped.
    pub async fn forward(mut self, ctx: Context) -> Result<()> {
        if let Some(io) = ctx.ws_io() {
            return io.forward(&mut self).await;
        }
        if let Some(io) = ctx.sse_io() {
            return io.forward(&mut self).await;
        }
        let closed = ctx.closed();
        let mut closed = std::pin::pin!(closed);
        loop {
            let m = tokio::select! {
                biased;
                m = self.recv() => m?,
                () = &mut closed => return Ok(()),
            };
            let send = ctx.send(m);
            let mut send = std::pin::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    sent = &mut send => {
                        if sent.is_err() {
                            return Ok(()); // the client is gone
                        }
                        break;
                    }
                    n = self.fell_behind() => self.lost(n)?,
                    () = &mut closed => return Ok(()),
                }
            }
        }
    }

    /// How many messages are waiting for this receiver.
    pub(crate) fn pending(&self) -> usize {
        let Some(room) = &self.room else { return 0 };
        let ring = room.lock();
        (ring.first + ring.msgs.len() as u64).saturating_sub(self.next) as usize
    }

    /// The next message if one is already there; `Err(n)` when `n` messages were lost before
    /// it (count them with [`lost`](Self::lost), which may leave the room: not under a lock).
    pub(crate) fn try_recv(&mut self) -> std::result::Result<Option<Outbound>, u64> {
        match self.look(None, true) {
            Ok(Look::Message(m)) => Ok(Some(m)),
            Ok(Look::Lost(n)) => Err(n),
            Ok(Look::Nothing) | Err(_) => Ok(None),
        }
    }

    /// Waits, while the client cannot take more, until the room has dropped messages this
    /// receiver had not read: how many (to count with [`lost`](Self::lost)).
    pub(crate) fn poll_fell_behind(&mut self, cx: &mut std::task::Context<'_>) -> Poll<u64> {
        match self.look(Some(cx.waker()), false) {
            Ok(Look::Lost(n)) => Poll::Ready(n),
            // (A receiver that has left waits for nothing more.)
            Ok(_) | Err(_) => Poll::Pending,
        }
    }

    /// [`poll_fell_behind`](Self::poll_fell_behind) as a future.
    pub(crate) fn fell_behind(&mut self) -> impl Future<Output = u64> + '_ {
        std::future::poll_fn(|cx| self.poll_fell_behind(cx))
    }

    /// Counts `n` lost messages; past the hub's `max_lag` the receiver is dropped.
    pub(crate) fn lost(&mut self, n: u64) -> Result<()> {
        self.lagged += n;
        if self.lagged > self.hub.inner.config.max_lag {
            tracing::debug!(room = %self.name, lost = self.lagged, "dropping a receiver that does not keep up");
            self.leave();
            return Err(too_slow());
        }
        Ok(())
    }

    fn leave(&mut self) {
        let Some(room) = self.room.take() else { return };
        let mut rooms = self.hub.rooms_write();
        if room.subscribers.fetch_sub(1, Ordering::Relaxed) == 1 {
            rooms.remove(&self.name);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}

fn too_slow() -> Error {
    Error::too_many_requests("this receiver fell too far behind the room and was dropped")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let room = hub.rooms_read().get("r").cloned().unwrap();
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
        let room = hub.rooms_read().get("r").cloned().unwrap();
        assert_eq!(room.lock().waiters.len(), 1);
        let hub2 = hub.clone();
        let got = tokio::spawn(async move { sub.recv().await.unwrap().as_text().map(str::to_owned) });
        tokio::task::yield_now().await;
        hub2.publish("r", "hello").unwrap();
        assert_eq!(got.await.unwrap().as_deref(), Some("hello"));
    }
}
