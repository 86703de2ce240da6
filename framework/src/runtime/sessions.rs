//! [`SessionRegistry`]: the open WebSocket sessions and SSE streams, which graceful shutdown
//! ends and waits for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// A session that shutdown can end: a socket closes with 1001, a stream ends with a retry hint.
pub(crate) trait Stop: Send + Sync {
    /// Asks the session to end (it hears it through its own state).
    fn stop(&self);
}

/// Counts open sessions so that shutdown can wait for them, and knows them so that shutdown
/// can end each one.
#[derive(Default)]
pub(crate) struct SessionRegistry {
    open: AtomicUsize,
    idle: Notify,
    sessions: Mutex<HashMap<u64, Weak<dyn Stop>>>,
    #[cfg_attr(not(any(feature = "ws", feature = "sse")), allow(dead_code))]
    next_id: AtomicU64,
    stopping: AtomicBool,
}

/// One session's place in the registry, left when dropped.
#[cfg_attr(not(any(feature = "ws", feature = "sse")), allow(dead_code))]
pub(crate) struct SessionGuard(Arc<SessionRegistry>, u64);

impl SessionRegistry {
    /// Enters `session`, which [`shutdown`](Self::shutdown) will end (at once if the server is
    /// already shutting down).
    #[cfg_attr(not(any(feature = "ws", feature = "sse")), allow(dead_code))]
    pub(crate) fn enter(self: &Arc<Self>, session: Weak<dyn Stop>) -> SessionGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(id, session.clone());
        // After it is in: a shutdown that began before either stopped it already, or is seen
        // here (stopping a session twice is harmless).
        if self.stopping.load(Ordering::SeqCst) {
            if let Some(s) = session.upgrade() {
                s.stop();
            }
        }
        SessionGuard(self.clone(), id)
    }

    /// Tells every open session to end. Each hears it through its own state: nothing per
    /// message touches a shared lock.
    pub(crate) fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let open: Vec<_> = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for session in open {
            session.stop();
        }
    }

    /// Completes once no session is open.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let registry = &self.0;
        registry.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.1);
        if registry.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            registry.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::sessions::*;

    struct Session(AtomicBool);

    impl Stop for Session {
        fn stop(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn shutdown_stops_every_session_and_waits_for_them() {
        let registry = Arc::new(SessionRegistry::default());
        let (a, b) = (Arc::new(Session(AtomicBool::new(false))), Arc::new(Session(AtomicBool::new(false))));
        let ga = registry.enter(Arc::downgrade(&a) as Weak<dyn Stop>);
        let gb = registry.enter(Arc::downgrade(&b) as Weak<dyn Stop>);
        registry.shutdown();
        assert!(a.0.load(Ordering::SeqCst) && b.0.load(Ordering::SeqCst));
        // One entering after shutdown began is stopped at once.
        let late = Arc::new(Session(AtomicBool::new(false)));
        let gl = registry.enter(Arc::downgrade(&late) as Weak<dyn Stop>);
        assert!(late.0.load(Ordering::SeqCst));
        let waiting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_idle().await }
        });
        drop((ga, gb));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(gl);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }
}
