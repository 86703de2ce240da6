//! A room's ring: its recent messages, numbered, bounded in count and bytes, and the receivers
//! waiting for the next one.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::task::Waker;

use parking_lot::{Mutex, MutexGuard};

use super::config::HubConfig;
use super::cursor::LogId;
use crate::message::Outbound;

/// One room: its ring of recent messages, and who waits for the next one.
pub(crate) struct Room {
    pub(crate) ring: Mutex<Ring>,
    /// Tells this life of the room from the earlier ones of the same name (see
    /// [`Cursor`](super::Cursor)).
    pub(crate) life: u64,
    /// Changed under the hub's lock on its rooms, so that a room is never freed while someone
    /// joins it.
    pub(crate) subscribers: AtomicUsize,
}

/// The messages numbered `first..first + msgs.len()`.
pub(crate) struct Ring {
    pub(crate) msgs: VecDeque<Outbound>,
    /// Each message's id in the backend's log, when the backend keeps one: as long as `msgs`,
    /// or empty.
    pub(crate) ids: VecDeque<LogId>,
    pub(crate) first: u64,
    pub(crate) bytes: usize,
    /// Receivers that have read everything, waiting for the next message.
    pub(crate) waiters: Vec<Waker>,
    /// Counts the times `waiters` was emptied: a receiver that registered in the current
    /// round knows where its waker is.
    pub(crate) round: u64,
    /// Messages lost between instances so far (a [`Backend`](super::Backend) reported them):
    /// each receiver counts those it has not seen yet.
    pub(crate) lost_elsewhere: u64,
}

impl Room {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock()
    }

    /// Adds `message` (of `size` bytes) to the ring, drops the oldest beyond the bounds, and
    /// wakes the receivers that wait.
    /// With `id`, its place in the backend's log (kept while every message in the ring has
    /// one).
    pub(crate) fn push(&self, message: Outbound, size: usize, id: Option<LogId>, config: &HubConfig) {
        let waiters = {
            let mut ring = self.lock();
            match id {
                Some(id) if ring.ids.len() == ring.msgs.len() => ring.ids.push_back(id),
                _ => ring.ids.clear(),
            }
            ring.bytes += size;
            ring.msgs.push_back(message);
            while ring.msgs.len() > config.capacity || ring.bytes > config.max_bytes {
                let Some(old) = ring.msgs.pop_front() else { break };
                ring.ids.pop_front();
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

impl Ring {
    /// The log id of the message before number `next` (the last one a receiver at `next`
    /// took), while the ring holds it and its messages have ids.
    pub(crate) fn id_before(&self, next: u64) -> Option<LogId> {
        next.checked_sub(self.first + 1).and_then(|i| self.ids.get(i as usize).copied())
    }
}

impl Room {
    /// Counts `count` messages lost between instances, and wakes the receivers that wait so
    /// that they count them.
    pub(crate) fn lose(&self, count: u64) {
        let waiters = {
            let mut ring = self.lock();
            ring.lost_elsewhere += count;
            ring.round += 1;
            std::mem::take(&mut ring.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// An empty room, in its life `life`.
    pub(crate) fn new(life: u64) -> Room {
        Room {
            life,
            ring: Mutex::new(Ring {
                msgs: VecDeque::new(),
                ids: VecDeque::new(),
                first: 0,
                bytes: 0,
                waiters: Vec::new(),
                round: 0,
                lost_elsewhere: 0,
            }),
            subscribers: AtomicUsize::new(0),
        }
    }
}
