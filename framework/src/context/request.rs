//! The request, as a [`Context`] reads it: method, path, headers, parameters, query, peer.

use std::net::SocketAddr;
use std::str::FromStr;

use http::{HeaderMap, Method, Uri, Version};

use super::Context;
use crate::error::{Error, Result};

impl Context {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.inner.head.method
    }

    /// The request path, without the query string (still percent-encoded).
    pub fn path(&self) -> &str {
        self.inner.head.uri.path()
    }

    /// The request URI as received.
    pub fn uri(&self) -> &Uri {
        &self.inner.head.uri
    }

    /// The HTTP version (HTTP/1.1 or HTTP/2).
    pub fn version(&self) -> Version {
        self.inner.head.version
    }

    /// A request header as text; `None` when it is absent or not valid visible ASCII.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.inner.head.headers.get(name)
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.head.headers.map()
    }

    /// A path parameter (`{name}`, `{name: Type}` or `{*name}` in the route), percent-decoded.
    ///
    /// In a route handler, a literal name that is not in the route's path is a compile error
    /// (see the route macros).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.inner.params.iter().find(|(k, _)| *k == name).map(|(_, v)| &**v)
    }

    /// A path parameter parsed into `T`: a 400 when it does not parse. (A parameter typed in
    /// the pattern, `{id: u64}`, was parsed before the route matched, so reading it as that
    /// type cannot fail.)
    ///
    /// ```ignore
    /// #[get("/notes/{id}")]
    /// async fn note(ctx: Context) -> Result<String> {
    ///     let id: u64 = ctx.param_as("id")?; // GET /notes/abc -> 400
    ///     Ok(format!("note {id}"))
    /// }
    /// ```
    pub fn param_as<T>(&self, name: &str) -> Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = self
            .param(name)
            .ok_or_else(|| Error::internal(format!("the route has no path parameter `{name}`")))?;
        raw.parse().map_err(|e| Error::bad_request(format!("invalid path parameter `{name}`: {e}")))
    }

    /// The query string deserialized into `T` (a 400 when it does not fit).
    pub fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_html_form::from_str(self.inner.head.uri.query().unwrap_or("")).map_err(|e| {
            Error::bad_request(format!("invalid query string: {}", crate::error::excerpt(&e.to_string())))
                .with_source(e)
        })
    }

    /// The address of the client (the TCP peer).
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.conn.peer
    }

    /// The route pattern that matched (`/users/{id}`), if any.
    pub fn route(&self) -> Option<&'static str> {
        self.inner.route.copied()
    }

    /// The `Last-Event-ID` an SSE client sent when reconnecting, to resume from there.
    pub fn last_event_id(&self) -> Option<&str> {
        self.header("last-event-id")
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    pub fn protocols(&self) -> Vec<&str> {
        let name = http::header::SEC_WEBSOCKET_PROTOCOL;
        let values = self.inner.head.headers.get_all(&name);
        values.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|p| !p.is_empty()).collect()
    }
}
