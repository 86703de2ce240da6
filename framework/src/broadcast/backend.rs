//! [`Backend`]: what carries a hub's messages to the app's other instances.

use super::cursor::LogId;
use super::inbox::Inbox;
use super::member::Member;
use crate::message::Outbound;

/// Carries a hub's messages between instances of the app (for example Redis pub/sub, in the
/// `fratello-redis` crate).
///
/// The hub calls it so:
/// - [`start`](Backend::start) once, when the hub is made, with the [`Inbox`] into which the
///   backend delivers what other instances publish;
/// - [`open`](Backend::open) when a room gets its first local subscriber and
///   [`close`](Backend::close) when its last one leaves, so that an instance listens only to
///   the rooms it has subscribers for. The two are called in order for each room, under the
///   hub's lock on its rooms: they must not wait (hand the work to a task) and must not call
///   the hub back;
/// - [`publish`](Backend::publish) for every local publish, after the message passed the
///   hub's size check. It must not wait either: a backend that cannot send now queues the
///   message in a bounded buffer, or drops it and says so with an error, which the hub counts
///   ([`Hub::backend_errors`](super::Hub::backend_errors)) and logs; the local publish
///   succeeds all the same.
///
/// Messages lost between instances are reported with [`Inbox::lost`] and reach each affected
/// receiver as lag ([`Subscription::lagged`](super::Subscription::lagged)).
///
/// Presence ([`Hub::join`](super::Hub::join)): the hub calls [`watch`](Backend::watch) when
/// this instance starts to follow a room's members (a first local member or listener) and
/// [`unwatch`](Backend::unwatch) when it stops; [`join`](Backend::join) when a member's first
/// local connection enters a room and [`leave`](Backend::leave) when its last one leaves. The
/// same rules hold: in order, without waiting, without calling the hub back. The backend tells
/// the hub of the other instances' members through [`Inbox::present`], [`Inbox::absent`] and
/// [`Inbox::members_are`]. Every presence method does nothing by default: one instance only.
pub trait Backend: Send + Sync + 'static {
    /// Where messages from other instances go; called once, when the hub is made.
    fn start(&self, inbox: Inbox);

    /// `room` got its first local subscriber: listen to it.
    fn open(&self, room: &str);

    /// `room`'s last local subscriber left: stop listening to it.
    fn close(&self, room: &str);

    /// Sends a locally published message to the other instances, without waiting.
    fn publish(&self, room: &str, message: &Outbound) -> Result<(), BackendError>;

    /// What the backend's log of `room` holds after `after`, for a receiver resuming from a
    /// [`Cursor`](super::Cursor) its ring no longer covers (or that came from another
    /// instance). The backend must be listening to the room before it reads the log, so that
    /// nothing published meanwhile falls between the two (the hub skips what arrives both
    /// ways). Default: [`History::Gone`], for a backend that keeps no log.
    fn history(&self, room: &str, after: LogId) -> HistoryFuture {
        let _ = (room, after);
        Box::pin(async { History::Gone })
    }

    /// `true` when the backend delivers the instance's own publishes back to it through the
    /// [`Inbox`] (every instance then sees one order per room, the backend's), so that the hub
    /// must not deliver them locally as well. Default `false`: a local publish reaches local
    /// subscribers at once, and the backend carries it to the others only.
    fn delivers_own(&self) -> bool {
        false
    }

    /// This instance follows `room`'s members from now on: tell it the other instances'
    /// ([`Inbox::members_are`]) and their changes ([`Inbox::present`], [`Inbox::absent`]).
    fn watch(&self, room: &str) {
        let _ = room;
    }

    /// This instance no longer follows `room`'s members.
    fn unwatch(&self, room: &str) {
        let _ = room;
    }

    /// The member `key` is in `room` on this instance now (from its first connection here).
    fn join(&self, room: &str, key: &str, meta: &str) {
        let _ = (room, key, meta);
    }

    /// The member `key` is no longer in `room` on this instance (its last connection here left).
    fn leave(&self, room: &str, key: &str) {
        let _ = (room, key);
    }

    /// The other instances' members of `room` now, for a room this instance does not follow
    /// (or not yet). Default: none.
    fn members(&self, room: &str) -> MembersFuture {
        let _ = room;
        Box::pin(async { Vec::new() })
    }
}

/// What [`Backend::members`] returns: the other instances' members of a room, when Redis (or
/// whatever the backend uses) answers; a member present on several of them may be listed once
/// for each.
pub type MembersFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Member>> + Send + 'static>>;

/// What [`Backend::history`] returns: the log's answer, when it comes.
pub type HistoryFuture = std::pin::Pin<Box<dyn std::future::Future<Output = History> + Send + 'static>>;

/// What a backend's log holds of a room after a place in it ([`Backend::history`]).
#[derive(Debug)]
pub enum History {
    /// Every message after it, oldest first, with its id in the log.
    Since(Vec<(LogId, Outbound)>),
    /// Not all of it: the log was trimmed or expired past that place, holds more than a room's
    /// ring would, or there is no log.
    Gone,
}

/// Why a backend did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// Its buffer of messages waiting to be sent is full (the other side is slow or away).
    Full,
    /// It is not connected, and does not queue while it is not.
    Disconnected,
    /// The message cannot be carried (for example it cannot be encoded).
    Rejected(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Full => f.write_str("the backend's send buffer is full"),
            BackendError::Disconnected => f.write_str("the backend is not connected"),
            BackendError::Rejected(why) => write!(f, "the backend refused the message: {why}"),
        }
    }
}

impl std::error::Error for BackendError {}
