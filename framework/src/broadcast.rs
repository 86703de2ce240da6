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
//!         ctx.hub().publish(&room, msg);        // this client's messages to the room
//!     }
//!     Ok(())
//! }
//! ```
//!
//! **Encode once.** A published value is encoded when it becomes an
//! [`Outbound`] (JSON serialized, SSE event framed) and the room keeps one copy; every
//! receiver gets a reference-counted handle to the same bytes. A WebSocket receiver copies
//! them behind a frame header straight into its socket's write queue, with whatever else
//! has been published since it last looked, and writes them all with one system call.
//!
//! **Slow receivers.** Publishing never waits for a receiver, and every buffer is bounded.
//! Each room keeps the last [`HubConfig::capacity`] messages (256 by default) in one ring
//! shared by all its receivers. [`Subscription::forward`] moves them into the client's own
//! queue (a socket's [`max_send_queue`](crate::ws::WsConfig::max_send_queue), an SSE stream's
//! [`queue`](crate::sse::SseConfig::queue)); while that queue is full because the client reads
//! more slowly than the room talks, up to `capacity` more wait for that client, and beyond that
//! the oldest are lost for that client only. Every loss is counted
//! ([`Subscription::lagged`]); a receiver that has lost more than [`HubConfig::max_lag`]
//! messages (1024 by default) is dropped: `recv`/`forward` return an error (429, "fell too
//! far behind"), and the handler's usual `?` closes its socket (1011) or ends its stream. One
//! slow client therefore neither grows the server's memory nor slows the others down.
//!
//! **Rooms** are created by their first subscriber and freed when the last one leaves;
//! publishing to a room without subscribers drops the message and returns 0.
//!
//! **Several instances.** A [`Backend`] carries messages between instances (e.g. Redis
//! pub/sub behind a load balancer); handlers do not change. The default is in-process only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::{Context, Error, Outbound, Result};

/// Sizes of a hub's rooms and its policy for slow receivers.
#[derive(Debug, Clone)]
pub struct HubConfig {
    capacity: usize,
    max_lag: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig { capacity: 256, max_lag: 1024 }
    }
}

impl HubConfig {
    /// Messages a room keeps for its receivers (the bound of every receiver's buffer).
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages.max(1);
        self
    }

    /// Total messages a receiver may lose before it is dropped.
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

struct HubInner {
    rooms: RwLock<HashMap<Arc<str>, broadcast::Sender<Outbound>>>,
    config: HubConfig,
    backend: Option<Arc<dyn Backend>>,
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

    fn rooms_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, broadcast::Sender<Outbound>>> {
        self.inner.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn rooms_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, broadcast::Sender<Outbound>>> {
        self.inner.rooms.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `message` to every subscriber of `room` (and, with a backend, to the other
    /// instances). Returns how many local subscribers it reached; never waits.
    pub fn publish(&self, room: &str, message: impl Into<Outbound>) -> usize {
        let message = message.into();
        if let Some(backend) = &self.inner.backend {
            backend.publish(room, &message);
        }
        self.deliver_local(room, message)
    }

    /// Delivers a message to this instance's subscribers only (what a [`Backend`] calls for
    /// messages from other instances).
    pub fn deliver_local(&self, room: &str, message: Outbound) -> usize {
        // Sent after the map's lock is released: sending wakes the receivers, and a receiver's
        // waker may take a lock of its own (a socket's state) under which that socket may be
        // leaving a room (which takes the map's lock to write).
        let Some(tx) = self.rooms_read().get(room).cloned() else { return 0 };
        tx.send(message.shared()).unwrap_or(0)
    }

    /// Subscribes to `room`, creating it if needed. Messages published from now on arrive.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let rx = {
            let mut rooms = self.rooms_write();
            match rooms.get(room) {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = broadcast::channel(self.inner.config.capacity);
                    rooms.insert(room.into(), tx);
                    rx
                }
            }
        };
        Subscription { hub: self.clone(), room: room.into(), rx: Some(rx), lagged: 0 }
    }

    /// The rooms that have subscribers.
    pub fn rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = self.rooms_read().keys().map(|k| k.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// How many subscribers `room` has (0 for a room that does not exist).
    pub fn subscribers(&self, room: &str) -> usize {
        self.rooms_read().get(room).map_or(0, broadcast::Sender::receiver_count)
    }
}

/// A subscriber of one room. Dropping it leaves the room (the last one frees the room).
pub struct Subscription {
    hub: Hub,
    room: Arc<str>,
    rx: Option<broadcast::Receiver<Outbound>>,
    lagged: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("room", &self.room).field("lagged", &self.lagged).finish()
    }
}

impl Subscription {
    /// The room's name.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// How many messages this receiver has lost by falling behind.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// The next message. Lost messages are skipped (and counted in
    /// [`lagged`](Self::lagged)); past the hub's `max_lag` this returns an error (429) and the
    /// subscription is over.
    pub async fn recv(&mut self) -> Result<Outbound> {
        loop {
            let rx = self.rx.as_mut().ok_or_else(too_slow)?;
            match rx.recv().await {
                Ok(m) => return Ok(m),
                Err(broadcast::error::RecvError::Lagged(n)) => self.lost(n)?,
                // The hub keeps the sender while a receiver exists, so this only happens if
                // the room was removed under us: treat it as the end.
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(Error::new(http::StatusCode::GONE, "the room was closed"))
                }
            }
        }
    }

    /// Sends every message of the room to `ctx` until the client goes away (`Ok`), or this
    /// receiver is dropped for being too slow (`Err`).
    ///
    /// While the client's own queue is full (it reads more slowly than the room talks), up to
    /// the hub's `capacity` messages wait for this client; beyond that the oldest are lost for
    /// it and counted in [`lagged`](Self::lagged). To a WebSocket or an SSE stream, while its
    /// queue has room, messages go from the room straight into that queue, as many at once as
    /// it takes (one write for a burst). A value the client cannot carry (bytes, to an SSE
    /// stream) is skipped.
    pub async fn forward(mut self, ctx: Context) -> Result<()> {
        if let Some(io) = ctx.ws_io() {
            return io.forward(&mut self).await;
        }
        if let Some(io) = ctx.sse_io() {
            return io.forward(&mut self).await;
        }
        let mut pending: VecDeque<Outbound> = VecDeque::new();
        let closed = ctx.closed();
        let mut closed = std::pin::pin!(closed);
        loop {
            tokio::select! {
                // Deliveries first: under load `closed` need not be looked at on every message
                // (a send to a socket that has ended fails anyway).
                biased;
                sent = send_front(&ctx, &mut pending), if !pending.is_empty() => {
                    if sent.is_err() {
                        return Ok(());
                    }
                }
                m = self.recv() => {
                    self.hold(&mut pending, m?)?;
                    // Take whatever else is already published, so that a burst costs one
                    // hand-over to the client, not one per message.
                    loop {
                        match self.try_recv() {
                            Ok(Some(m)) => self.hold(&mut pending, m)?,
                            Ok(None) => break,
                            Err(n) => self.lost(n)?,
                        }
                    }
                }
                () = &mut closed => return Ok(()),
            }
        }
    }

    /// How many messages are waiting for this receiver (a hint: some may have been lost).
    pub(crate) fn pending(&self) -> usize {
        self.rx.as_ref().map_or(0, broadcast::Receiver::len)
    }

    /// The next message if one is already there; `Err(n)` when `n` messages were lost before
    /// it (count them with [`lost`](Self::lost), which may leave the room: not under a lock).
    pub(crate) fn try_recv(&mut self) -> std::result::Result<Option<Outbound>, u64> {
        let Some(rx) = self.rx.as_mut() else { return Ok(None) };
        match rx.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(n),
            Err(_) => Ok(None),
        }
    }

    /// Keeps `m` in `held`, the messages taken for a client whose own queue is full: beyond
    /// the hub's capacity the oldest is lost and counted (which may drop this receiver).
    pub(crate) fn hold(&mut self, held: &mut VecDeque<Outbound>, m: Outbound) -> Result<()> {
        held.push_back(m);
        while held.len() > self.hub.inner.config.capacity {
            held.pop_front();
            self.lost(1)?;
        }
        Ok(())
    }

    /// Counts `n` lost messages; past the hub's `max_lag` the receiver is dropped.
    pub(crate) fn lost(&mut self, n: u64) -> Result<()> {
        self.lagged += n;
        if self.lagged > self.hub.inner.config.max_lag {
            tracing::debug!(room = %self.room, lost = self.lagged, "dropping a receiver that does not keep up");
            self.leave();
            return Err(too_slow());
        }
        Ok(())
    }

    fn leave(&mut self) {
        let Some(rx) = self.rx.take() else { return };
        let mut rooms = self.hub.rooms_write();
        drop(rx);
        if rooms.get(&self.room).is_some_and(|tx| tx.receiver_count() == 0) {
            rooms.remove(&self.room);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Sends the front of `pending`, which leaves it only once sent (so this is cancel-safe).
async fn send_front(ctx: &Context, pending: &mut VecDeque<Outbound>) -> Result<()> {
    if let Some(front) = pending.front() {
        ctx.send(front.clone()).await?;
        pending.pop_front();
    }
    Ok(())
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
            assert_eq!(hub.publish("r", format!("m{i}")), 2);
        }
        for i in 0..3 {
            assert_eq!(a.recv().await.unwrap().into_chunk().unwrap(), format!("m{i}"));
        }
        // b never read: 3 queued; 4 more overflow the ring of 4 and b loses the oldest 3.
        for i in 3..7 {
            hub.publish("r", format!("m{i}"));
        }
        assert_eq!(b.recv().await.unwrap().into_chunk().unwrap(), "m3");
        assert_eq!(b.lagged(), 3);
        // Lagging past max_lag (5) drops it.
        for i in 0..10 {
            hub.publish("r", format!("x{i}"));
        }
        assert!(b.recv().await.is_err());
        assert_eq!(hub.subscribers("r"), 1);
        drop(a);
        assert!(hub.rooms().is_empty(), "the last one out frees the room");
        assert_eq!(hub.publish("r", "nobody"), 0);
    }
}
