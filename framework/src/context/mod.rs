//! [`Context`]: the one argument of every handler and middleware.
//!
//! The request ([`request`](self)), the attributes middleware hands on, the response head,
//! whole bodies, and the one seam to the protocol: the channel of an HTTP request, a socket or
//! a stream, through which `send`, `recv` and `closed` go.

mod attributes;
mod body;
mod cookies;
mod exchange;
mod headers;
mod io;
mod request;
mod response_head;
mod reuse;

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use self::headers::Headers;
pub(crate) use self::headers::PackedHeaders;
pub(crate) use self::io::Io;
use crate::response::ResponseParts;
use crate::runtime::conn::Conn;
use crate::runtime::sessions::OpenSession;
#[cfg(feature = "sse")]
use crate::runtime::sessions::SessionGuard;
use crate::runtime::shared::Shared;

/// The request, its attributes, the app's state and the way to answer, whatever the protocol.
///
/// A `Context` is a cheap handle (an `Arc` inside): clone it to move it into a spawned task,
/// for example one that sends while the handler keeps receiving.
///
/// - Request: [`method`](Self::method), [`path`](Self::path), [`uri`](Self::uri),
///   [`header`](Self::header), [`param`](Self::param), [`query`](Self::query), ...
/// - Attributes (set by middleware, read by handlers): [`set`](Self::set), [`get`](Self::get).
/// - App state (given to [`App::state`](crate::App::state)): [`state`](Self::state).
/// - Answering: [`send`](Self::send) and [`recv`](Self::recv), the same pair for HTTP,
///   WebSocket and SSE; for HTTP also [`set_status`](Self::set_status) and
///   [`set_header`](Self::set_header).
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) head: Head,
    params: Box<[(&'static str, Box<str>)]>,
    /// The connection: the app and the peer, shared by its requests.
    pub(crate) conn: Arc<Conn>,
    /// The pattern of the route that matched (a reference to the route's own: one pointer).
    route: Option<&'static &'static str>,
    /// What handlers and middleware set: attributes and the response head (one lock: one
    /// handler sets them, one at a time).
    settings: Mutex<Settings>,
    /// Whether the response head was created: a request that set nothing is answered without
    /// taking the lock.
    response_set: AtomicBool,
    pub(crate) io: Io,
}

/// What handlers and middleware set on a request.
#[derive(Default)]
pub(crate) struct Settings {
    attrs: Vec<(Key, Box<dyn Any + Send + Sync>)>,
    /// Created when something is set: most requests set nothing, and a socket keeps its
    /// Context for hours.
    response: Option<Box<ResponseParts>>,
}

/// What a Context keeps of the request head: hyper's parts but their extensions (nothing in
/// them is for the handler), with a socket's or stream's headers packed.
pub(crate) struct Head {
    pub(crate) method: http::Method,
    pub(crate) uri: http::Uri,
    pub(crate) version: http::Version,
    pub(crate) headers: Headers,
}

impl Head {
    /// What a Context keeps of hyper's request `head`, with a socket's or stream's headers
    /// `packed` apart.
    fn new(head: http::request::Parts, packed: Option<PackedHeaders>) -> Self {
        let http::request::Parts { method, uri, version, headers, .. } = head;
        let headers = match packed {
            Some(packed) => Headers::Packed(packed),
            None => Headers::Map(headers),
        };
        Head { method, uri, version, headers }
    }

    /// This head made `head`'s, with a socket's or stream's headers `packed` apart. What it
    /// held goes into `head`, to be dropped with it: swapped, not copied in over it.
    pub(crate) fn swap(&mut self, head: &mut http::request::Parts, packed: Option<PackedHeaders>) {
        std::mem::swap(&mut self.method, &mut head.method);
        std::mem::swap(&mut self.uri, &mut head.uri);
        self.version = head.version;
        match (packed, &mut self.headers) {
            (Some(packed), headers) => *headers = Headers::Packed(packed),
            (None, Headers::Map(map)) => std::mem::swap(map, &mut head.headers),
            (None, headers) => *headers = Headers::Map(std::mem::take(&mut head.headers)),
        }
    }
}

impl Context {
    /// A request's Context: its head (with a socket's or stream's headers `packed` apart), its
    /// path parameters, its connection, the pattern of the route that matched, its channel.
    pub(crate) fn new(
        head: http::request::Parts,
        packed: Option<PackedHeaders>,
        params: Vec<(&'static str, Box<str>)>,
        conn: Arc<Conn>,
        route: Option<&'static &'static str>,
        io: Io,
    ) -> Self {
        Context {
            inner: Arc::new(Inner {
                head: Head::new(head, packed),
                params: params.into_boxed_slice(),
                conn,
                route,
                settings: Mutex::new(Settings::default()),
                response_set: AtomicBool::new(false),
                io,
            }),
        }
    }

    /// The app this request came to.
    pub(crate) fn app(&self) -> &Arc<Shared> {
        &self.inner.conn.app
    }

    #[cfg(feature = "ws")]
    /// The waker a socket's handler is polled with (see the `ArcWake` impl below), lent
    /// rather than kept: the socket's task asks for it at every round, and storing it would
    /// make every socket's task larger.
    pub(crate) fn handler_waker(&self) -> futures_util::task::WakerRef<'_> {
        futures_util::task::waker_ref(&self.inner)
    }

    /// This socket or stream as the app's sessions know it.
    #[cfg(any(feature = "ws", feature = "sse"))]
    fn as_session(&self) -> std::sync::Weak<dyn OpenSession> {
        Arc::downgrade(&self.inner) as _
    }

    #[cfg(feature = "sse")]
    /// Enters this stream in the app's sessions, which shutdown ends and waits for; left when
    /// the guard is dropped.
    pub(crate) fn enter_session(&self) -> SessionGuard {
        self.app().sessions.enter_guarded(self.as_session())
    }

    #[cfg(feature = "ws")]
    /// Enters this socket in the app's sessions, which shutdown ends and waits for, and whose
    /// clock ticks it: its slot, for [`leave_session`](Self::leave_session).
    pub(crate) fn enter_session_slot(&self) -> u32 {
        self.app().sessions.enter(self.as_session())
    }

    #[cfg(feature = "ws")]
    /// This socket, in `slot` of the app's sessions, is over.
    pub(crate) fn leave_session(&self, slot: u32) {
        self.app().sessions.leave(slot);
    }
}

/// An attribute's key: its type, or a name.
#[derive(PartialEq, Eq)]
pub(crate) enum Key {
    Type(TypeId),
    Named(Cow<'static, str>),
}

/// The waker a socket's handler is polled with: it marks the handler as due and wakes the
/// socket's task if that is parked. So the task knows, when it runs, whether the handler can
/// have anything to do, and a wake-up for the socket alone (bytes to read, room to write)
/// does not poll the handler for nothing. Made from the Context's own `Arc`: no allocation.
#[cfg(feature = "ws")]
impl futures_util::task::ArcWake for Inner {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if let Io::Ws(io) = &arc_self.io {
            io.wake_handler();
        }
    }
}

/// A socket or stream as the app's sessions know it (an HTTP request never enters them: the
/// server finishes it at shutdown, and it keeps no deadlines of its own).
impl OpenSession for Inner {
    fn stop(&self) {
        match &self.io {
            #[cfg(feature = "ws")]
            Io::Ws(io) => io.stop(),
            #[cfg(feature = "sse")]
            Io::Sse(io) => io.stop(),
            Io::Http(_) => {}
        }
    }

    fn tick(&self) {
        match &self.io {
            #[cfg(feature = "ws")]
            Io::Ws(io) => io.tick(),
            #[cfg(feature = "sse")]
            Io::Sse(io) => io.tick(),
            Io::Http(_) => {}
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("peer", &self.inner.conn.peer)
            .field("route", &self.route())
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<Context>();
}
