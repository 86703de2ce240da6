//! A Context made again for the next request of its connection, in place: no allocation, and
//! nothing of it is made again that the last request left as it found it. Only a Context that
//! nobody else holds any more is made again (see `http::spare`): a handler's task that kept a
//! clone keeps the Context it knew.

use std::sync::Arc;

use super::io::Io;
use super::{Context, PackedHeaders};
use crate::http::channel::RequestBody;
use crate::routing::RouteKind;

impl Context {
    /// This Context, which a request of its connection had and which has been emptied since
    /// ([`retire`](Self::retire)), made the Context of the next request: as [`Context::new`]
    /// makes one, with the channel `kind` needs for `body`. A new one if, unexpectedly, it is
    /// held elsewhere.
    pub(crate) fn renew(
        mut self,
        head: &mut http::request::Parts,
        packed: Option<PackedHeaders>,
        params: Vec<(&'static str, Box<str>)>,
        route: &'static &'static str,
        kind: RouteKind,
        body: RequestBody,
    ) -> Context {
        let Some(inner) = Arc::get_mut(&mut self.inner) else {
            let conn = self.inner.conn.clone();
            let io = kind.channel(&conn, route, body);
            // (Rare: the head is taken out whole, leaving an empty one.)
            let head = std::mem::replace(head, http::Request::new(()).into_parts().0);
            return Context::new(head, packed, params, conn, Some(route), io);
        };
        inner.head.swap(head, packed);
        inner.params = params.into_boxed_slice();
        inner.route = Some(route);
        kind.renew_channel(&mut inner.io, &inner.conn, route, body);
        self
    }

    /// Empties this Context once its request is over, for [`renew`](Self::renew): the
    /// attributes (values of the app's, whose drop may matter) and the response head, the
    /// request body (hyper waits for it to be dropped). The request's head and parameters, its
    /// own bytes and nothing else, stay until the next request's replace them: replacing them
    /// once costs less than emptying them and replacing the empty ones, and nobody can see
    /// them meanwhile. Only an HTTP request's Context that nobody else holds is emptied
    /// (`true`): a socket's or a stream's lives on as its session, and one a handler's task
    /// kept a clone of is dropped by that task.
    pub(crate) fn retire(&mut self) -> bool {
        let Some(inner) = Arc::get_mut(&mut self.inner) else { return false };
        let io = match &mut inner.io {
            Io::Http(io) => io,
            #[allow(unreachable_patterns)] // (with WebSocket and SSE left out of the build)
            _ => return false,
        };
        io.clear();
        inner.route = None;
        let settings = inner.settings.get_mut();
        // (Most requests set nothing: then there is nothing to drop.)
        if !settings.attrs.is_empty() {
            settings.attrs.clear();
        }
        if std::mem::take(inner.response_set.get_mut()) {
            settings.response = None;
        }
        true
    }
}
