//! The one seam for protocol dispatch: what differs between an HTTP route, a WebSocket and an
//! SSE stream, from the request to the session, is here, by route kind: check the request
//! before middleware runs, make the Context's channel, answer once the middleware let it
//! through, and open the session the answer started. (The Context's side of the seam, sending
//! and receiving through the channel, is `context::io`.) A new protocol is a new kind here, a
//! channel in the Context's `Io`, and a folder of its own.

use std::sync::Arc;

#[cfg(any(feature = "ws", feature = "sse"))]
use http::StatusCode;
use http::{header, HeaderValue};
use hyper::upgrade::OnUpgrade;

use crate::context::{Context, Io, PackedHeaders};
use crate::error::Result;
use crate::http::channel::{HttpIo, RequestBody};
use crate::response::Response;
use crate::routing::{Handler, RouteDef, RouteKind};
use crate::runtime::conn::Conn;
#[cfg(feature = "sse")]
use crate::sse::channel::SseIo;
#[cfg(feature = "ws")]
use crate::ws::channel::WsIo;

/// What a socket's handshake hands over to its session once the 101 is out.
pub(crate) struct Upgrade {
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    on_upgrade: Option<OnUpgrade>,
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    accept_key: HeaderValue,
}

impl RouteKind {
    /// Checks a request before middleware runs, so that middleware sees only real upgrades:
    /// what the session will need of it, or the answer that refuses it.
    #[allow(clippy::result_large_err)] // the refusal is the response itself, built once per bad request
    pub(crate) fn check(
        self,
        head: &mut http::request::Parts,
        conn: &Conn,
        route: &str,
    ) -> std::result::Result<Option<Box<Upgrade>>, Response> {
        match self {
            #[cfg(feature = "ws")]
            RouteKind::Ws => {
                let accept_key = crate::ws::handshake::check(head, &conn.app.ws_config(route))?;
                Ok(Some(Box::new(Upgrade { on_upgrade: head.extensions.remove::<OnUpgrade>(), accept_key })))
            }
            _ => {
                let _ = (head, conn, route);
                Ok(None)
            }
        }
    }

    /// What a session keeps of the request head: its own copy of the headers (see [`detach`]);
    /// an HTTP request keeps hyper's, for its short life.
    pub(crate) fn detach(self, head: &mut http::request::Parts, budget: usize) -> Option<PackedHeaders> {
        match self {
            RouteKind::Http | RouteKind::Mount => None,
            RouteKind::Ws => Some(detach(head, true, budget)),
            RouteKind::Sse => Some(detach(head, false, budget)),
        }
    }

    /// The channel of a Context for a request of this kind.
    pub(crate) fn channel(self, conn: &Arc<Conn>, route: &str, body: RequestBody) -> Io {
        let app = &conn.app;
        match self {
            #[cfg(feature = "ws")]
            RouteKind::Ws => Io::Ws(WsIo::new(app.ws_config(route))),
            #[cfg(feature = "sse")]
            RouteKind::Sse => {
                Io::Sse(SseIo::new(&app.config.sse, app.config.write_timeout, app.sessions.period(), conn))
            }
            // (A route of a protocol left out of the build cannot be declared: the macros
            // refuse it. Its requests would be plain HTTP.)
            _ => {
                let _ = (app, route);
                Io::Http(HttpIo::new(Some(body)))
            }
        }
    }

    /// `io`, the channel of a Context made again for a request of this kind (see
    /// `Context::renew`): an HTTP channel emptied by the last request is given `body` in
    /// place; any other is made as [`channel`](Self::channel) makes it.
    pub(crate) fn renew_channel(self, io: &mut Io, conn: &Arc<Conn>, route: &str, body: RequestBody) {
        match (self, io) {
            (RouteKind::Http | RouteKind::Mount, Io::Http(http)) => http.renew(body),
            (kind, io) => *io = kind.channel(conn, route, body),
        }
    }

    /// The answer once before-middleware let the request through, for a route whose handler
    /// does not answer itself: a socket's 101, a stream's head.
    pub(crate) fn answer(self, ctx: &Context, upgrade: Option<&Upgrade>) -> Result<Response> {
        match (self, upgrade) {
            #[cfg(feature = "ws")]
            (RouteKind::Ws, Some(upgrade)) => {
                let config = ctx.ws_io().map(|io| io.config.clone()).unwrap_or_default();
                Ok(crate::ws::handshake::accept(ctx, &config, upgrade.accept_key.clone()))
            }
            #[cfg(feature = "sse")]
            (RouteKind::Sse, _) => crate::sse::stream::response(ctx),
            _ => {
                let _ = (ctx, upgrade);
                Err(crate::error::Error::internal("this route answers with its handler"))
            }
        }
    }

    /// Starts the socket or stream that `res` opened (a 101, a 200 stream head).
    pub(crate) fn open(
        self,
        ctx: &Context,
        def: &'static RouteDef,
        upgrade: Option<Box<Upgrade>>,
        res: &Response,
    ) {
        let Handler::Stream(handler) = def.handler else { return };
        match (self, upgrade.and_then(|u| u.on_upgrade)) {
            #[cfg(feature = "ws")]
            (RouteKind::Ws, Some(on_upgrade)) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
                tokio::spawn(crate::ws::session::session(ctx.clone(), on_upgrade, handler));
            }
            #[cfg(feature = "sse")]
            (RouteKind::Sse, _) if res.status() == StatusCode::OK => {
                crate::sse::stream::spawn(ctx.clone(), handler, def.name);
            }
            _ => {
                let _ = (ctx, handler, res);
            }
        }
    }
}

/// Headers that only the handshake reads; a socket's Context does not keep them.
const HANDSHAKE_HEADERS: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// Copies the request head out of hyper's read buffer, for a socket or stream.
///
/// hyper hands out the URI and header values as slices of the connection's read buffer
/// (8 KiB or more), and a slice keeps the whole buffer alive. A socket or stream lives for
/// hours with its Context, so its head gets its own allocations instead. The headers are
/// packed into one allocation (a `HeaderMap` allocates several blocks per header), and a socket
/// drops the headers only its handshake reads (`Connection`, `Upgrade`,
/// `Sec-WebSocket-Key`/`-Version`/`-Extensions`): what is kept is kept for hours, so at most
/// `budget` bytes of it (in the order received, each header that fits).
fn detach(head: &mut http::request::Parts, websocket: bool, budget: usize) -> PackedHeaders {
    let keep = |name: &http::HeaderName| !(websocket && HANDSHAKE_HEADERS.contains(name));
    let (mut left, mut dropped) = (budget, 0usize);
    let fits = |(name, value): &(&http::HeaderName, &HeaderValue)| {
        let size = name.as_str().len() + value.len();
        // (The packed form holds a name or value of at most 64 KiB.)
        let fits = size <= left && value.len() <= usize::from(u16::MAX);
        if fits {
            left -= size;
        } else {
            dropped += 1;
        }
        fits
    };
    let packed = PackedHeaders::pack(head.headers.iter().filter(|(n, _)| keep(n)).filter(fits));
    if dropped > 0 {
        tracing::debug!(
            dropped,
            budget,
            "a session's request headers are over its budget: some were dropped"
        );
    }
    head.headers = http::HeaderMap::new();
    // Nothing in hyper's extensions is for the handler (the upgrade was taken out before).
    head.extensions = http::Extensions::new();
    // One block of the URI's exact length (a `String` with room to spare would make `Bytes`
    // allocate a second block to share it).
    let copy = bytes::Bytes::from(head.uri.to_string().into_bytes().into_boxed_slice());
    if let Ok(uri) = http::Uri::from_maybe_shared(copy) {
        head.uri = uri;
    }
    packed
}
