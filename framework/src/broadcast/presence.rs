//! Who is in which room, for presence: this instance's members (counted per connection) and,
//! with a backend, the other instances' (by origin), and the listeners to each room's changes.
//!
//! A member is in a room when it is there from at least one connection of at least one
//! instance: the events are the changes of that, so a member with two tabs open joins once
//! and leaves with its last tab, on whichever instances they are.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::broadcast;

use super::backend::Backend;
use super::member::{Member, MemberEvent};

/// Changes a listener may fall behind by before it is told to [`MemberEvent::Resync`].
const EVENTS_BUFFERED: usize = 256;

/// One room's presence.
struct RoomPresence {
    /// This instance's members: their meta and how many connections hold them.
    local: HashMap<String, (String, usize)>,
    /// The other instances' members: by key, each origin's meta.
    remote: HashMap<String, BTreeMap<u64, String>>,
    /// Whether the backend has told the other instances' members yet (always so without one).
    synced: bool,
    listeners: usize,
    events: broadcast::Sender<MemberEvent>,
}

impl RoomPresence {
    fn new(synced: bool) -> Self {
        RoomPresence {
            local: HashMap::new(),
            remote: HashMap::new(),
            synced,
            listeners: 0,
            events: broadcast::channel(EVENTS_BUFFERED).0,
        }
    }

    /// The member `key`, if it is in the room from anywhere.
    fn member(&self, key: &str) -> Option<Member> {
        let meta = match self.local.get(key) {
            Some((meta, _)) => meta,
            None => self.remote.get(key)?.values().next()?,
        };
        Some(Member { key: key.to_owned(), meta: meta.clone() })
    }

    fn members(&self) -> Vec<Member> {
        let mut keys: Vec<&String> = self.local.keys().chain(self.remote.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter().filter_map(|k| self.member(k)).collect()
    }

    fn tell(&self, event: MemberEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    /// Runs `change` on the room and tells the listeners whether `key` came or went by it.
    fn changing(&mut self, key: &str, change: impl FnOnce(&mut Self)) {
        let before = self.member(key);
        change(self);
        match (before, self.member(key)) {
            (None, Some(now)) => self.tell(MemberEvent::Joined(now)),
            (Some(was), None) => self.tell(MemberEvent::Left(was)),
            _ => {}
        }
    }

    fn is_unused(&self) -> bool {
        self.local.is_empty() && self.listeners == 0
    }
}

/// Every room's presence on this instance.
pub(crate) struct Presences {
    rooms: Mutex<HashMap<Arc<str>, RoomPresence>>,
    backend: Option<Arc<dyn Backend>>,
}

impl Presences {
    pub(crate) fn new(backend: Option<Arc<dyn Backend>>) -> Self {
        Presences { rooms: Mutex::new(HashMap::new()), backend }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, RoomPresence>> {
        self.rooms.lock()
    }

    /// The room's presence, made (and watched through the backend) if it is new.
    fn entry<'a>(&self, rooms: &'a mut HashMap<Arc<str>, RoomPresence>, room: &str) -> &'a mut RoomPresence {
        if !rooms.contains_key(room) {
            if let Some(backend) = &self.backend {
                backend.watch(room);
            }
            rooms.insert(room.into(), RoomPresence::new(self.backend.is_none()));
        }
        rooms.get_mut(room).expect("just made")
    }

    /// Forgets the room if nothing here uses it any more.
    fn tidy(&self, rooms: &mut HashMap<Arc<str>, RoomPresence>, room: &str) {
        if rooms.get(room).is_some_and(RoomPresence::is_unused) {
            rooms.remove(room);
            if let Some(backend) = &self.backend {
                backend.unwatch(room);
            }
        }
    }

    /// One more local connection of `key` in `room`.
    pub(crate) fn join(&self, room: &str, key: &str, meta: &str) {
        let mut rooms = self.lock();
        let presence = self.entry(&mut rooms, room);
        presence.changing(key, |p| {
            let (_, connections) = p.local.entry(key.to_owned()).or_insert_with(|| (meta.to_owned(), 0));
            *connections += 1;
        });
        if presence.local[key].1 == 1 {
            if let Some(backend) = &self.backend {
                backend.join(room, key, meta);
            }
        }
    }

    /// One local connection of `key` leaves `room`.
    pub(crate) fn leave(&self, room: &str, key: &str) {
        let mut rooms = self.lock();
        let Some(presence) = rooms.get_mut(room) else { return };
        let mut last = false;
        presence.changing(key, |p| {
            if let Some((_, connections)) = p.local.get_mut(key) {
                *connections -= 1;
                if *connections == 0 {
                    p.local.remove(key);
                    last = true;
                }
            }
        });
        if last {
            if let Some(backend) = &self.backend {
                backend.leave(room, key);
            }
        }
        self.tidy(&mut rooms, room);
    }

    /// A listener to `room`'s changes.
    pub(crate) fn listen(&self, room: &str) -> broadcast::Receiver<MemberEvent> {
        let mut rooms = self.lock();
        let presence = self.entry(&mut rooms, room);
        presence.listeners += 1;
        presence.events.subscribe()
    }

    /// A listener of `room` is gone.
    pub(crate) fn unlisten(&self, room: &str) {
        let mut rooms = self.lock();
        if let Some(presence) = rooms.get_mut(room) {
            presence.listeners -= 1;
        }
        self.tidy(&mut rooms, room);
    }

    /// The members of `room` as this instance knows them, when it knows them all: `None` for
    /// a room it does not follow, or whose other instances' members the backend has not told
    /// yet; with this instance's members then, to add to the backend's answer.
    pub(crate) fn members(&self, room: &str) -> Result<Vec<Member>, Vec<Member>> {
        let rooms = self.lock();
        match rooms.get(room) {
            Some(p) if p.synced => Ok(p.members()),
            Some(p) => {
                Err(p.local.iter().map(|(k, (m, _))| Member { key: k.clone(), meta: m.clone() }).collect())
            }
            None => Err(Vec::new()),
        }
    }

    /// Another instance (`origin`) has `key` in `room` now.
    pub(crate) fn present(&self, room: &str, origin: u64, key: &str, meta: &str) {
        let mut rooms = self.lock();
        let Some(presence) = rooms.get_mut(room) else { return };
        presence.changing(key, |p| {
            p.remote.entry(key.to_owned()).or_default().insert(origin, meta.to_owned());
        });
    }

    /// Another instance (`origin`) no longer has `key` in `room`.
    pub(crate) fn absent(&self, room: &str, origin: u64, key: &str) {
        let mut rooms = self.lock();
        let Some(presence) = rooms.get_mut(room) else { return };
        presence.changing(key, |p| {
            if let Some(origins) = p.remote.get_mut(key) {
                origins.remove(&origin);
                if origins.is_empty() {
                    p.remote.remove(key);
                }
            }
        });
    }

    /// The other instances' members of `room`, all of them as the backend read them now:
    /// replaces what was known, and tells the listeners what that changed.
    pub(crate) fn replace(&self, room: &str, members: Vec<(u64, Member)>) {
        let mut rooms = self.lock();
        let Some(presence) = rooms.get_mut(room) else { return };
        let mut remote: HashMap<String, BTreeMap<u64, String>> = HashMap::new();
        for (origin, m) in members {
            remote.entry(m.key).or_default().insert(origin, m.meta);
        }
        let mut keys: Vec<String> = presence.remote.keys().chain(remote.keys()).cloned().collect();
        keys.sort_unstable();
        keys.dedup();
        let before: Vec<Option<Member>> = keys.iter().map(|k| presence.member(k)).collect();
        presence.remote = remote;
        presence.synced = true;
        for (key, was) in keys.iter().zip(before) {
            match (was, presence.member(key)) {
                (None, Some(now)) => presence.tell(MemberEvent::Joined(now)),
                (Some(was), None) => presence.tell(MemberEvent::Left(was)),
                _ => {}
            }
        }
    }

    /// The rooms whose presence this instance follows.
    pub(crate) fn rooms(&self) -> Vec<String> {
        self.lock().keys().map(|k| k.to_string()).collect()
    }
}
