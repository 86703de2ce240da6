//! [`SessionRegistry`]: the open WebSocket sessions and SSE streams, which graceful shutdown
//! ends and waits for, and which one clock ticks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// An open session as the registry knows it.
pub(crate) trait OpenSession: Send + Sync {
    /// Asks the session to end (it hears it through its own state): a socket closes with
    /// 1001, a stream ends with a retry hint.
    fn stop(&self);

    /// The registry's clock ticked: a socket looks at its deadlines (pings, the idle timeout,
    /// a message or a write that takes too long), a stream at a client that may have stopped
    /// reading.
    fn tick(&self);
}

/// Counts open sessions so that shutdown can wait for them, knows them so that shutdown can
/// end each one, and ticks them all from one task.
///
/// One clock for every session, rather than a timer in each one's task: a tokio timer is a
/// large part of what an idle socket would otherwise cost, and every socket of an app ticks
/// at the same pace anyway.
pub(crate) struct SessionRegistry {
    open: AtomicUsize,
    idle: Notify,
    table: Mutex<Table>,
    stopping: AtomicBool,
    /// How often the clock ticks; `None`: no session needs it.
    period: Option<Duration>,
}

/// The sessions, in slots that are reused (a session's place is its slot's index), and the
/// clock's task.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    /// The first free slot, which names the next one (a list through the free slots).
    free: Option<u32>,
    clock: Option<JoinHandle<()>>,
}

enum Slot {
    Open(Weak<dyn OpenSession>),
    Free { next: Option<u32> },
}

/// How many sessions the clock ticks under one hold of the table's lock: sessions that enter
/// or leave meanwhile wait at most that long.
const TICK_BATCH: usize = 256;

/// One session's place in the registry, left when dropped.
#[cfg_attr(not(feature = "sse"), allow(dead_code))]
pub(crate) struct SessionGuard(Arc<SessionRegistry>, u32);

impl SessionRegistry {
    /// A registry whose clock ticks every `period` while sessions are open (none: no clock).
    pub(crate) fn new(period: Option<Duration>) -> SessionRegistry {
        SessionRegistry {
            open: AtomicUsize::new(0),
            idle: Notify::new(),
            table: Mutex::new(Table::default()),
            stopping: AtomicBool::new(false),
            period,
        }
    }

    /// How often the clock ticks (`None`: never).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn period(&self) -> Option<Duration> {
        self.period
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock()
    }

    /// Enters `session`, which [`shutdown`](Self::shutdown) will end (at once if the server is
    /// already shutting down) and the clock will tick (started if it is not running): its
    /// slot, which it must [`leave`](Self::leave).
    #[cfg_attr(not(any(feature = "ws", feature = "sse")), allow(dead_code))]
    pub(crate) fn enter(self: &Arc<Self>, session: Weak<dyn OpenSession>) -> u32 {
        self.open.fetch_add(1, Ordering::SeqCst);
        let slot = {
            let mut table = self.table();
            self.start_clock(&mut table);
            table.insert(session.clone())
        };
        // After it is in: a shutdown that began before either stopped it already, or is seen
        // here (stopping a session twice is harmless).
        if self.stopping.load(Ordering::SeqCst) {
            if let Some(s) = session.upgrade() {
                s.stop();
            }
        }
        slot
    }

    /// [`enter`](Self::enter), left when the guard is dropped.
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn enter_guarded(self: &Arc<Self>, session: Weak<dyn OpenSession>) -> SessionGuard {
        SessionGuard(self.clone(), self.enter(session))
    }

    /// The session in `slot` (from [`enter`](Self::enter)) is over.
    #[cfg_attr(not(any(feature = "ws", feature = "sse")), allow(dead_code))]
    pub(crate) fn leave(&self, slot: u32) {
        self.table().remove(slot);
        if self.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Starts the clock on the current runtime unless it runs already (it ends with its
    /// runtime, and an app may be served again on another).
    fn start_clock(self: &Arc<Self>, table: &mut Table) {
        let Some(period) = self.period else { return };
        if table.clock.as_ref().is_some_and(|c| !c.is_finished()) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            table.clock = Some(runtime.spawn(clock(Arc::downgrade(self), period)));
        }
    }

    /// Tells every open session to end. Each hears it through its own state: nothing per
    /// message touches a shared lock.
    pub(crate) fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let open: Vec<_> = self.table().open().filter_map(Weak::upgrade).collect();
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

    /// Ticks the sessions in the slots from `start` on, at most a batch of them: where the
    /// next batch starts, `None` once every slot was seen.
    fn tick_batch(&self, start: usize) -> Option<usize> {
        let table = self.table();
        let end = (start + TICK_BATCH).min(table.slots.len());
        for slot in &table.slots[start.min(end)..end] {
            if let Slot::Open(session) = slot {
                if let Some(session) = session.upgrade() {
                    session.tick();
                }
            }
        }
        (end < table.slots.len()).then_some(end)
    }
}

/// The clock's task: ticks every open session each `period`, a batch at a time, until the
/// registry is gone.
async fn clock(registry: Weak<SessionRegistry>, period: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let mut next = Some(0);
        while let Some(start) = next {
            let Some(registry) = registry.upgrade() else { return };
            next = registry.tick_batch(start);
            drop(registry);
            if next.is_some() {
                tokio::task::yield_now().await;
            }
        }
    }
}

impl Table {
    fn insert(&mut self, session: Weak<dyn OpenSession>) -> u32 {
        match self.free {
            Some(index) => {
                let slot = std::mem::replace(&mut self.slots[index as usize], Slot::Open(session));
                let Slot::Free { next } = slot else { unreachable!("the free list holds free slots") };
                self.free = next;
                index
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 open sessions");
                self.slots.push(Slot::Open(session));
                index
            }
        }
    }

    fn remove(&mut self, index: u32) {
        self.slots[index as usize] = Slot::Free { next: self.free };
        self.free = Some(index);
    }

    fn open(&self) -> impl Iterator<Item = &Weak<dyn OpenSession>> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Open(session) => Some(session),
            Slot::Free { .. } => None,
        })
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use crate::runtime::sessions::*;

    #[derive(Default)]
    struct Session {
        stopped: AtomicBool,
        ticks: AtomicU32,
    }

    impl OpenSession for Session {
        fn stop(&self) {
            self.stopped.store(true, Ordering::SeqCst);
        }

        fn tick(&self) {
            self.ticks.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(registry: &Arc<SessionRegistry>, session: &Arc<Session>) -> SessionGuard {
        registry.enter_guarded(Arc::downgrade(session) as Weak<dyn OpenSession>)
    }

    #[tokio::test]
    async fn shutdown_stops_every_session_and_waits_for_them() {
        let registry = Arc::new(SessionRegistry::new(None));
        let (a, b) = (Arc::new(Session::default()), Arc::new(Session::default()));
        let (ga, gb) = (enter(&registry, &a), enter(&registry, &b));
        registry.shutdown();
        assert!(a.stopped.load(Ordering::SeqCst) && b.stopped.load(Ordering::SeqCst));
        // One entering after shutdown began is stopped at once.
        let late = Arc::new(Session::default());
        let gl = enter(&registry, &late);
        assert!(late.stopped.load(Ordering::SeqCst));
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

    #[tokio::test(start_paused = true)]
    async fn the_clock_ticks_every_open_session_and_only_those() {
        let registry = Arc::new(SessionRegistry::new(Some(Duration::from_secs(1))));
        // More than a batch, so that the clock ticks them in several.
        let sessions: Vec<_> = (0..TICK_BATCH * 2 + 10).map(|_| Arc::new(Session::default())).collect();
        let mut guards: Vec<_> = sessions.iter().map(|s| Some(enter(&registry, s))).collect();
        // The one that leaves frees its slot, which the next one to enter takes.
        guards[5] = None;
        let late = Arc::new(Session::default());
        let _late = enter(&registry, &late);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        for (i, s) in sessions.iter().enumerate() {
            let expected = if i == 5 { 0 } else { 2 };
            assert_eq!(s.ticks.load(Ordering::SeqCst), expected, "session {i}");
        }
        assert_eq!(late.ticks.load(Ordering::SeqCst), 2);
        assert_eq!(registry.table().slots.len(), sessions.len(), "the freed slot was reused");
        // The clock ends with the registry.
        let clock = registry.table().clock.take().unwrap();
        drop((guards, _late, registry));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(clock.is_finished());
    }
}
