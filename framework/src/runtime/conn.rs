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
/// The connection's place under [`Config::max_connections`] is held here too, so that it is
/// given back when the last of the connection's requests, sockets and streams ends: a
/// WebSocket outlives its connection's task (hyper hands the socket over), and must still
/// count.
///
/// [`Config::max_connections`]: crate::config::Config::max_connections
pub(crate) struct Conn {
    pub(crate) app: Arc<Shared>,
    pub(crate) peer: SocketAddr,
    /// Requests started, [`ABORTED`] once [`abort`](Self::abort) was called, and [`COUNTED`]
    /// while the connection holds a place under [`Config::max_connections`] (a permit of the
    /// app's `connections`, given back when the `Conn` is dropped: a permit of its own would
    /// cost every socket 16 bytes more).
    pub(crate) started: AtomicUsize,
    /// Its place under a per-peer limit (boxed: a socket's Context keeps its connection for
    /// hours, and this is rarely set).
    _peer_slot: Option<Box<PeerSlot>>,
}

/// The bit of [`Conn::started`] that says the connection is to be closed.
pub(crate) const ABORTED: usize = 1 << (usize::BITS - 1);

/// The bit of [`Conn::started`] that says the connection holds a place under the app's
/// connection limit.
pub(crate) const COUNTED: usize = 1 << (usize::BITS - 2);

impl Conn {
    /// A connection from `peer` to `app` outside the server's limits (benchmarks, fuzzing).
    #[cfg(any(feature = "__bench", fuzzing))]
    pub(crate) fn new(app: Arc<Shared>, peer: SocketAddr) -> Arc<Conn> {
        Arc::new(Conn { app, peer, started: AtomicUsize::new(0), _peer_slot: None })
    }

    /// A connection from `peer` to `app` that took a place under the app's connection limit
    /// (a permit of `app.connections`, forgotten: the `Conn` gives it back) and, under a
    /// per-peer limit, `peer_slot`; no request started yet.
    pub(crate) fn counted(app: Arc<Shared>, peer: SocketAddr, peer_slot: Option<Box<PeerSlot>>) -> Arc<Conn> {
        Arc::new(Conn { app, peer, started: AtomicUsize::new(COUNTED), _peer_slot: peer_slot })
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

/// Gives the connection's place under the limit back, once its last request, socket or
/// stream is over.
impl Drop for Conn {
    fn drop(&mut self) {
        if *self.started.get_mut() & COUNTED != 0 {
            self.app.connections.add_permits(1);
        }
    }
}

/// Open connections per peer, for [`Config::max_connections_per_ip`](crate::config::Config). An
/// IPv6 peer counts by its /64 network, which one client can fill with addresses.
pub(crate) struct PeerCounts {
    max: usize,
    open: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
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
        let mut open = counts.open.lock();
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
        let mut open = self.counts.open.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
