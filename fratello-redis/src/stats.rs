//! [`RedisStats`]: what the backend has carried, dropped and lost.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts kept by a running backend; [`RedisBackend::stats`](crate::RedisBackend::stats) reads them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) own_skipped: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) -> u64 {
        counter.fetch_add(n, Ordering::Relaxed) + n
    }

    pub(crate) fn snapshot(&self) -> RedisStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisStats {
            published: get(&self.published),
            dropped: get(&self.dropped),
            failed: get(&self.failed),
            received: get(&self.received),
            own_skipped: get(&self.own_skipped),
            undecodable: get(&self.undecodable),
            lost: get(&self.lost),
            reconnects: get(&self.reconnects),
        }
    }
}

/// What a backend has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedisStats {
    /// Local publishes that Redis took.
    pub published: u64,
    /// Local publishes dropped because the publish buffer was full (Redis slow or away).
    pub dropped: u64,
    /// Local publishes that Redis did not take (an error or a timeout).
    pub failed: u64,
    /// Messages received from Redis for rooms with local subscribers.
    pub received: u64,
    /// Of those, this instance's own publishes, not delivered twice
    /// ([`Delivery::Local`](crate::Delivery::Local)).
    pub own_skipped: u64,
    /// Messages received that are not of the hub's wire format (or of a newer version).
    pub undecodable: u64,
    /// Messages of other instances found missing (a gap in a publisher's numbering),
    /// reported to each affected receiver as lag.
    pub lost: u64,
    /// Times a connection to Redis was made again after it was lost.
    pub reconnects: u64,
}
