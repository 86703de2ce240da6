//! Hooks for the cargo-fuzz targets in `fuzz/`: the route table, the query and form decoding
//! of a Context, the packed headers of sockets and streams, and one HTTP/1.1 connection over
//! any byte stream. Compiled only with `--cfg fuzzing` (which cargo-fuzz sets). Not public
//! API: each item here calls into the framework and adds nothing of its own.

use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::context::{Context, Io, PackedHeaders};
use crate::error::Result;
use crate::http::channel::{HttpIo, RequestBody};
use crate::http::service::ConnService;
use crate::matcher::{Clash, Matcher};
use crate::response::Body;
use crate::routing::RouteKind;
use crate::runtime::conn::Conn;
use crate::runtime::shared::Shared;
use crate::{App, StartupError};

/// The peer address of the harness's connections.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9);

/// An app's route table (the one `App` builds when it starts), fed patterns that need not
/// live for the whole program: they are freed with the table.
pub struct Router {
    /// Dropped by hand before `patterns`, which it borrows.
    matcher: ManuallyDrop<Matcher>,
    /// Every pattern given to `insert`, allocated there.
    patterns: Vec<*mut str>,
}

/// What a lookup in a [`Router`] found, with copies of the names and values.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Route `route` (the number `insert` gave it) answers, with these parameters in order.
    Found {
        /// The route's number.
        route: u32,
        /// Each parameter's name and percent-decoded value.
        params: Vec<(String, String)>,
    },
    /// The path matches a route, but this parameter is not percent-decoded UTF-8.
    BadParam(String),
    /// The path matches, the method does not: the `Allow` header.
    MethodNotAllowed(String),
    /// Only the other form (with or without a trailing slash) is routed: this path.
    Redirect(String),
    /// No route.
    NotFound,
}

impl Router {
    /// An empty table.
    pub fn new() -> Router {
        Router { matcher: ManuallyDrop::new(Matcher::default()), patterns: Vec::new() }
    }

    /// Adds route number `route` with `pattern`, answering `methods`, or says why it cannot.
    pub fn insert(&mut self, pattern: &str, methods: &[&str], route: u32) -> std::result::Result<(), String> {
        let raw = Box::into_raw(Box::<str>::from(pattern));
        self.patterns.push(raw);
        // SAFETY: `raw` stays allocated until `drop`, which drops the matcher first; nothing
        // else keeps a reference to it (lookups hand out copies).
        let pattern: &'static str = unsafe { &*raw };
        self.matcher.insert(pattern, methods, route).map_err(|clash| match clash {
            Clash::Pattern { with, detail } => {
                format!("pattern `{pattern}` refused (with {with:?}): {detail}")
            }
            Clash::Method { method, with } => format!("route {with} answers {method} at `{pattern}` already"),
            Clash::InvalidMethod(m) => format!("invalid method `{m}`"),
        })
    }

    /// Completes the table once every route is in.
    pub fn finish(&mut self) {
        self.matcher.finish();
    }

    /// The route that answers `method` on `path`, or why none does.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        match self.matcher.lookup(method, path) {
            crate::matcher::Lookup::Found { id, params } => Lookup::Found {
                route: id,
                params: params.into_iter().map(|(n, v)| (n.to_owned(), String::from(v))).collect(),
            },
            crate::matcher::Lookup::BadParam(name) => Lookup::BadParam(name.to_owned()),
            crate::matcher::Lookup::MethodNotAllowed(allow) => {
                Lookup::MethodNotAllowed(String::from_utf8_lossy(allow.as_bytes()).into_owned())
            }
            crate::matcher::Lookup::Redirect(to) => Lookup::Redirect(to),
            crate::matcher::Lookup::NotFound => Lookup::NotFound,
        }
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.matcher) };
        for raw in self.patterns.drain(..) {
            // SAFETY: made by `Box::into_raw` in `insert`; the matcher that borrowed it is gone.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

/// A socket's or stream's request headers as its Context keeps them.
pub struct Packed(PackedHeaders);

impl Packed {
    /// Every header of `headers`, packed.
    pub fn pack(headers: &HeaderMap) -> Packed {
        Packed(PackedHeaders::pack(headers.iter()))
    }

    /// What a route of `kind` keeps of a request head with `uri` and `headers`, at most
    /// `budget` bytes of headers (`None`: it keeps hyper's, as a plain HTTP route does), and
    /// the head's URI and headers afterwards.
    pub fn detach(
        kind: RouteKind,
        uri: Uri,
        headers: HeaderMap,
        budget: usize,
    ) -> (Option<Packed>, Uri, HeaderMap) {
        let (mut head, ()) = http::Request::new(()).into_parts();
        head.uri = uri;
        head.headers = headers;
        let packed = kind.detach(&mut head, budget).map(Packed);
        (packed, head.uri, head.headers)
    }

    /// A header as text (what `Context::header` gives a socket's handler).
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0.get(name)
    }

    /// Every value of a header, as text.
    pub fn get_all(&self, name: &HeaderName) -> Vec<&str> {
        self.0.get_all(name)
    }

    /// All the headers (what `Context::headers` gives a socket's handler).
    pub fn map(&self) -> &HeaderMap {
        self.0.map()
    }
}

/// An app as it serves (built as `serve` builds it), to make Contexts and serve connections.
pub struct Harness(Arc<Shared>);

impl Harness {
    /// Builds `app`, or says why it cannot start.
    pub fn new(app: App) -> std::result::Result<Harness, StartupError> {
        app.into_shared().map(Harness)
    }

    /// A Context for a request with `head` and `body`, on a connection of its own.
    fn context(&self, head: http::request::Parts, body: Option<RequestBody>) -> Context {
        let conn = Conn::new(self.0.clone(), PEER);
        Context::new(head, None, Vec::new(), conn, None, Io::Http(HttpIo::new(body)))
    }

    /// What `Context::query` reads from `GET /?{query}` (`None` when that is not a request
    /// target).
    pub fn query<T: serde::de::DeserializeOwned>(&self, query: &str) -> Option<Result<T>> {
        let (head, ()) = http::Request::get(format!("/?{query}")).body(()).ok()?.into_parts();
        Some(self.context(head, None).query())
    }

    /// What `Context::form` reads from a form request with `body`.
    pub async fn form<T: serde::de::DeserializeOwned>(&self, body: Bytes) -> Result<T> {
        let (mut head, ()) = http::Request::post("/").body(()).expect("a valid request").into_parts();
        head.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let ctx = self.context(head, Some(RequestBody::Other(Body::from(body))));
        ctx.form().await
    }

    /// Serves one HTTP/1.1 connection over `io`, with the server's HTTP/1.1 settings (those
    /// `server::run` gives hyper) and the app's routes, until it ends.
    pub async fn serve_http1<I>(
        &self,
        io: I,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.0.config;
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1.keep_alive(true);
        http1.max_buf_size(config.max_header_bytes.max(8 * 1024));
        http1.max_headers(config.max_headers);
        let conn = Conn::new(self.0.clone(), PEER);
        let service = ConnService::new(&conn);
        http1.serve_connection(TokioIo::new(io), service).with_upgrades().await?;
        Ok(())
    }
}
