//! A hub's shared state: its rooms by name, its sizes, its backend. What a [`Hub`](super::Hub)
//! handle and every [`Subscription`](super::Subscription) share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::backend::Backend;
use super::config::HubConfig;
use super::cursor::LogId;
use super::inbox;
use super::member::Member;
use super::presence::Presences;
use super::room::Room;
use crate::message::Outbound;

/// The rooms, by name.
pub(crate) type RoomMap = HashMap<Arc<str>, Arc<Room>>;

/// A hub's rooms, sizes and backend.
pub(crate) struct Rooms {
    map: RwLock<RoomMap>,
    pub(crate) config: HubConfig,
    pub(crate) backend: Option<Arc<dyn Backend>>,
    /// Publishes the backend did not take.
    pub(crate) backend_errors: AtomicU64,
    /// Who is in which room ([`Hub::join`](super::Hub::join)).
    pub(crate) presence: Presences,
    /// The life of the next room made: from a random start, so that a cursor kept by a client
    /// across a restart of the server does not name a room of the new process.
    lives: AtomicU64,
}

impl Rooms {
    pub(crate) fn new(config: HubConfig, backend: Option<Arc<dyn Backend>>) -> Self {
        let mut start = [0u8; 8];
        // Without the OS's random source (never seen), the clock: a restart still moves on.
        if getrandom::fill(&mut start).is_err() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            start = (now.as_nanos() as u64).to_be_bytes();
        }
        // (Below 2^52: a cursor's life stays exact in JavaScript's numbers too.)
        let lives = AtomicU64::new(u64::from_be_bytes(start) >> 12);
        let presence = Presences::new(backend.clone());
        Rooms {
            map: RwLock::new(HashMap::new()),
            config,
            backend,
            backend_errors: AtomicU64::new(0),
            presence,
            lives,
        }
    }

    /// The life of a room made now.
    pub(crate) fn next_life(&self) -> u64 {
        self.lives.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, RoomMap> {
        self.map.read()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, RoomMap> {
        self.map.write()
    }

    /// One subscriber of `room` (named `name`) leaves; the last one frees the room.
    pub(crate) fn leave(&self, name: &str, room: Arc<Room>) {
        let mut map = self.write();
        if room.subscribers.fetch_sub(1, Ordering::Relaxed) == 1 {
            map.remove(name);
            if let Some(backend) = &self.backend {
                backend.close(name);
            }
        }
    }

    /// The rooms with subscribers, unordered.
    pub(crate) fn names(&self) -> Vec<String> {
        self.read().keys().map(|k| k.to_string()).collect()
    }

    /// Adds `message` (of `size` bytes, at `id` in a backend's log) to `room`'s ring; returns
    /// how many subscribers the room has (0, and the message is dropped, for a room without
    /// any).
    pub(crate) fn deliver(&self, room: &str, message: Outbound, size: usize, id: Option<LogId>) -> usize {
        // Pushed after the map's lock is released: a subscriber leaving takes it to write.
        let Some(room) = self.read().get(room).cloned() else { return 0 };
        room.push(message, size, id, &self.config);
        room.subscribers.load(Ordering::Relaxed)
    }
}

impl inbox::Rooms for Rooms {
    fn max_bytes(&self) -> usize {
        self.config.max_bytes
    }

    fn deliver(&self, room: &str, message: Outbound, size: usize, id: Option<LogId>) -> usize {
        Rooms::deliver(self, room, message, size, id)
    }

    fn lose(&self, room: &str, count: u64) {
        let room = self.read().get(room).cloned();
        if let Some(room) = room {
            room.lose(count);
        }
    }

    fn names(&self) -> Vec<String> {
        Rooms::names(self)
    }

    fn present(&self, room: &str, origin: u64, key: &str, meta: &str) {
        self.presence.present(room, origin, key, meta);
    }

    fn absent(&self, room: &str, origin: u64, key: &str) {
        self.presence.absent(room, origin, key);
    }

    fn members_are(&self, room: &str, members: Vec<(u64, Member)>) {
        self.presence.replace(room, members);
    }

    fn watched(&self) -> Vec<String> {
        self.presence.rooms()
    }
}
