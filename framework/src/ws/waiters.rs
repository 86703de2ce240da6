//! Who waits on a socket's channel: [`Waiters`], the tasks to wake once something changes,
//! and [`Running`], the socket's task as it polls, which a wake-up from inside it spares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

/// Wakers of the tasks waiting for a change; one is kept without allocating.
///
/// Two fields rather than an enum of none, one and many: taking, waking and dropping them is
/// a check of each field where it happens, not a call to the enum's drop, on every message.
#[derive(Default)]
pub(crate) struct Waiters {
    /// The first task to wait (most often the only one: the socket's handler).
    first: Option<Waker>,
    /// Any others (several tasks waiting on one socket), rare. (Boxed: one pointer, as two of
    /// these are in every socket's state.)
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Waker>>>,
}

impl Waiters {
    /// Adds `waker` unless a waker that wakes the same task is already there.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                let more = self.more.get_or_insert_with(Box::default);
                if !more.iter().any(|w| w.will_wake(waker)) {
                    more.push(waker.clone());
                }
            }
        }
    }

    /// Whether no task waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_none()
    }

    /// Wakes them all. From inside the socket's task (`running`), the task itself is not
    /// woken (it looks again by itself) and its handler is marked due without a wake-up.
    pub(crate) fn wake(self, running: Option<Running<'_>>) {
        let wake = |w: Waker| match running {
            Some(r) if w.will_wake(r.handler) => r.handler_woken.store(true, Ordering::SeqCst),
            Some(r) if w.will_wake(r.task) => {}
            _ => w.wake(),
        };
        if let Some(w) = self.first {
            wake(w);
        }
        if let Some(more) = self.more {
            more.into_iter().for_each(wake);
        }
    }
}

/// The socket's task, as it polls: the wakers of the task and of its handler.
///
/// Waking the handler's waker marks the handler due and takes the socket's lock to wake the
/// task. The task, handing something to its own handler (a message in, room to send), only
/// needs the mark: it polls the handler on its next round.
#[derive(Clone, Copy)]
pub(crate) struct Running<'a> {
    task: &'a Waker,
    handler: &'a Waker,
    handler_woken: &'a AtomicBool,
}

impl<'a> Running<'a> {
    /// The task's waker, its handler's, and the handler's "due" mark.
    pub(crate) fn new(task: &'a Waker, handler: &'a Waker, handler_woken: &'a AtomicBool) -> Self {
        Running { task, handler, handler_woken }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use crate::ws::waiters::{Running, Waiters};

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn waiters_take_three_words_of_a_sockets_state() {
        assert_eq!(std::mem::size_of::<Waiters>(), 3 * std::mem::size_of::<usize>());
    }

    #[test]
    fn waiters_keep_each_task_once_and_wake_each_once() {
        let ((a, wa), (b, wb)) = (counter(), counter());
        let mut waiters = Waiters::default();
        waiters.register(&wa);
        waiters.register(&wa);
        waiters.register(&wb);
        waiters.register(&wb.clone());
        waiters.wake(None);
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 1));

        // From inside the socket's task: the task is not woken, its handler is marked due.
        let ((task, wt), (handler, wh)) = (counter(), counter());
        let due = std::sync::atomic::AtomicBool::new(false);
        let mut waiters = Waiters::default();
        waiters.register(&wt);
        waiters.register(&wh);
        waiters.register(&wa);
        waiters.wake(Some(Running { task: &wt, handler: &wh, handler_woken: &due }));
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        assert_eq!(handler.0.load(Ordering::SeqCst), 0);
        assert!(due.load(Ordering::SeqCst));
        assert_eq!(a.0.load(Ordering::SeqCst), 2);
    }
}
