//! A hub's shared state: its rooms by name, its sizes, its backend. What a [`Hub`](super::Hub)
//! handle and every [`Subscription`](super::Subscription) share.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::backend::Backend;
use super::config::HubConfig;
use super::room::Room;

/// The rooms, by name.
pub(crate) type RoomMap = HashMap<Arc<str>, Arc<Room>>;

/// A hub's rooms, sizes and backend.
pub(crate) struct Rooms {
    map: RwLock<RoomMap>,
    pub(crate) config: HubConfig,
    pub(crate) backend: Option<Arc<dyn Backend>>,
}

impl Rooms {
    pub(crate) fn new(config: HubConfig, backend: Option<Arc<dyn Backend>>) -> Self {
        Rooms { map: RwLock::new(HashMap::new()), config, backend }
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
        }
    }
}
