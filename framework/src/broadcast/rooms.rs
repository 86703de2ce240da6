//! A hub's shared state: its rooms by name, its sizes, its backend. What a [`Hub`](super::Hub)
//! handle and every [`Subscription`](super::Subscription) share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::backend::Backend;
use super::config::HubConfig;
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
}

impl Rooms {
    pub(crate) fn new(config: HubConfig, backend: Option<Arc<dyn Backend>>) -> Self {
        Rooms { map: RwLock::new(HashMap::new()), config, backend, backend_errors: AtomicU64::new(0) }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, RoomMap> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, RoomMap> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
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

    /// Adds `message` (of `size` bytes) to `room`'s ring; returns how many subscribers the
    /// room has (0, and the message is dropped, for a room without any).
    pub(crate) fn deliver(&self, room: &str, message: Outbound, size: usize) -> usize {
        // Pushed after the map's lock is released: a subscriber leaving takes it to write.
        let Some(room) = self.read().get(room).cloned() else { return 0 };
        room.push(message, size, &self.config);
        room.subscribers.load(Ordering::Relaxed)
    }
}
