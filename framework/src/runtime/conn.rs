//! [`Conn`]: one client connection as its requests, sockets and streams share it, and its
//! place under the connection limits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::shared::Shared;

/// One connection, shared by its requests' Contexts: the app, the peer, and how many requests
/// it started (which the connection's watch reads).
///
/// Per connection rather than per request: a Context that held the app's own `Arc` would
/// count it up and down on every request, from every core, on one shared cache line.
///
/// Whether a request is still in progress is read off this `Arc`'s count: every Context of
/// the connection holds it, and so does a response body that is still being produced when
/// its request's future completes (see `Body::keep_busy`). A counter of its own cost four
/// more atomic read-modify-writes per request.
///
/// The connection's slot under [`Config::max_connections`](crate::config::Config) is held here
/// too, so that it is given back when the last of the connection's requests, sockets and
/// streams ends: a WebSocket outlives its connection's task (hyper hands the socket over),
/// and must still count.
pub(crate) struct Conn {
    pub(crate) app: Arc<Shared>,
    pub(crate) peer: SocketAddr,
    /// Requests started, and [`ABORTED`] once [`abort`](Self::abort) was called.
    pub(crate) started: AtomicUsize,
    _slot: Option<Slot>,
}

/// The bit of [`Conn::started`] that says the connection is to be closed.
pub(crate) const ABORTED: usize = 1 << (usize::BITS - 1);

/// A connection's place under the connection limits, given back when dropped.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    // (Boxed: a socket's Context keeps its connection for hours, and this is rarely set.)
    _peer: Option<Box<PeerSlot>>,
}

impl Slot {
    /// The place of a connection holding `permit` (and, under a per-peer limit, `peer`).
    pub(crate) fn new(permit: tokio::sync::OwnedSemaphorePermit, peer: Option<Box<PeerSlot>>) -> Self {
        Slot { _permit: permit, _peer: peer }
    }
}

impl Conn {
    /// A connection from `peer` to `app` outside the server's limits (benchmarks).
    #[cfg(feature = "__bench")]
    pub(crate) fn new(app: Arc<Shared>, peer: SocketAddr) -> Arc<Conn> {
        Self::with_slot(app, peer, None)
    }

    /// A connection from `peer` to `app` holding its `slot`, with no request started yet.
    pub(crate) fn with_slot(app: Arc<Shared>, peer: SocketAddr, slot: Option<Slot>) -> Arc<Conn> {
        Arc::new(Conn { app, peer, started: AtomicUsize::new(0), _slot: slot })
    }

    /// Closes the connection, whatever it is doing (a client that stopped reading a stream:
    /// nothing can be written to it any more), the next time its watch looks: within one
    /// header read timeout. On HTTP/2 that ends all its streams. (The watch is not woken for
    /// it: a waker kept here would keep the connection's task in memory for as long as a
    /// socket keeps its Context.)
    pub(crate) fn abort(&self) {
        self.started.fetch_or(ABORTED, Ordering::Relaxed);
    }
}

/// Open connections per peer, for [`Config::max_connections_per_ip`](crate::config::Config). An
/// IPv6 peer counts by its /64 network, which one client can fill with addresses.
pub(crate) struct PeerCounts {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection's place in [`PeerCounts`], given back when dropped.
pub(crate) struct PeerSlot {
    counts: Arc<PeerCounts>,
    key: std::net::IpAddr,
}

impl PeerCounts {
    pub(crate) fn new(max: usize) -> Self {
        PeerCounts { max, open: Default::default() }
    }

    fn key(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => std::net::Ipv6Addr::from(u128::from(v6) & !0u128 >> 64).into(),
            },
            v4 => v4,
        }
    }

    /// A place for a connection from `ip`, unless its peer has `max` open.
    pub(crate) fn enter(counts: &Arc<Self>, ip: std::net::IpAddr) -> Option<PeerSlot> {
        let key = Self::key(ip);
        let mut open = counts.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= counts.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot { counts: counts.clone(), key })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
