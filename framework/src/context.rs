//! [`Context`]: the one argument of every handler and middleware.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use futures_util::future::Either;
use futures_util::FutureExt;
use http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::app::Shared;
use crate::message::{Message, Out, Outbound};
use crate::response::{Body, Response};
use crate::routing::{Endpoint, EndpointId, RouteKind};
use crate::server::Conn;
use crate::{Error, Result};

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
    pub(crate) head: http::request::Parts,
    /// A socket's or stream's headers (its `head.headers` is then empty).
    packed: Option<PackedHeaders>,
    params: Vec<(&'static str, Box<str>)>,
    /// The connection: the app and the peer, shared by its requests.
    pub(crate) conn: Arc<Conn>,
    /// The route, in the app's router.
    endpoint: Option<EndpointId>,
    attrs: Mutex<Vec<(Key, Box<dyn Any + Send + Sync>)>>,
    /// Created when something is set: most requests set nothing, and a socket keeps its
    /// Context for hours.
    pub(crate) response: Mutex<Option<Box<ResponseParts>>>,
    /// Whether `response` was created: a request that set nothing is answered without
    /// taking its lock.
    response_set: AtomicBool,
    pub(crate) io: Io,
}

#[derive(PartialEq, Eq)]
enum Key {
    Type(TypeId),
    Named(Cow<'static, str>),
}

/// What the handler (or, after it, an after-middleware) has said about the response.
#[derive(Default)]
pub(crate) struct ResponseParts {
    pub(crate) status: Option<StatusCode>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Body>,
}

/// A long-lived session's request headers in one allocation: for each header, the lengths of
/// its name and value (4 bytes each) and then their bytes. A `HeaderMap` is built only if the
/// handler asks for all headers at once.
pub(crate) struct PackedHeaders {
    bytes: Box<[u8]>,
    map: std::sync::OnceLock<Box<HeaderMap>>,
}

impl PackedHeaders {
    pub(crate) fn pack<'a>(headers: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>) -> Self {
        let mut bytes = Vec::new();
        for (name, value) in headers {
            let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value);
        }
        PackedHeaders { bytes: bytes.into_boxed_slice(), map: std::sync::OnceLock::new() }
    }

    /// Each header's name, and where its value is in `bytes`.
    fn entries(&self) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> {
        let b = &*self.bytes;
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = |i: usize| -> Option<usize> {
                Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
            };
            let (n, v) = (len(at)?, len(at + 4)?);
            let name = &b[at + 8..at + 8 + n];
            let value = at + 8 + n..at + 8 + n + v;
            at = value.end;
            Some((name, value))
        })
    }

    /// Every value of a header, as text (those that are visible ASCII).
    fn get_all(&self, name: &HeaderName) -> Vec<&str> {
        self.entries()
            .filter(|(n, _)| *n == name.as_str().as_bytes())
            .filter_map(|(_, value)| visible(&self.bytes[value]))
            .collect()
    }

    /// A header as text. The names are matched by a small map made for the call (the name
    /// type is `http`'s and can only be compared by a `HeaderMap`), which is dropped after.
    fn get(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        let mut index = http::HeaderMap::<std::ops::Range<usize>>::with_capacity(8);
        for (n, value) in self.entries() {
            index.append(HeaderName::from_bytes(n).ok()?, value);
        }
        visible(&self.bytes[index.get(name)?.clone()])
    }

    fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (n, value) in self.entries() {
                if let (Ok(n), Ok(v)) =
                    (HeaderName::from_bytes(n), HeaderValue::from_bytes(&self.bytes[value]))
                {
                    map.append(n, v);
                }
            }
            Box::new(map)
        })
    }
}

/// A header value as text, if it is visible ASCII (as `HeaderValue::to_str`).
fn visible(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&c| c == b'\t' || (32..127).contains(&c)) {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The response parts behind their lock, created by [`Context::response`].
struct PartsMut<'a>(MutexGuard<'a, Option<Box<ResponseParts>>>);

impl std::ops::Deref for PartsMut<'_> {
    type Target = ResponseParts;
    fn deref(&self) -> &ResponseParts {
        self.0.as_deref().expect("created by `Context::response`")
    }
}

impl std::ops::DerefMut for PartsMut<'_> {
    fn deref_mut(&mut self) -> &mut ResponseParts {
        self.0.as_deref_mut().expect("created by `Context::response`")
    }
}

/// The protocol-specific half of a Context.
pub(crate) enum Io {
    Http(HttpIo),
    Ws(crate::ws::WsIo),
    Sse(crate::sse::SseIo),
}

pub(crate) struct HttpIo {
    body: tokio::sync::Mutex<Option<Incoming>>,
    stream: tokio::sync::Mutex<Stream>,
    head: Mutex<HeadSlot>,
    /// What happened to `head`, readable without its lock ([`HANDED`], [`ABANDONED`],
    /// [`WAITING`]): a request that streams nothing is answered and dropped without taking it.
    head_state: AtomicU8,
}

/// A streamed head was put in the slot.
const HANDED: u8 = 1;
/// Nobody waits for a head any more.
const ABANDONED: u8 = 2;
/// The dispatcher left its waker in the slot.
const WAITING: u8 = 4;

enum Stream {
    /// Nothing sent yet (`true`: the response may still be streamed), or the response is over.
    Idle(bool),
    Open(mpsc::Sender<Result<Bytes, Error>>),
}

/// A streamed response's head, on its way from the first `send` to the dispatcher (which
/// polls the handler and looks here when the handler waits).
#[derive(Default)]
struct HeadSlot {
    // Boxed: most requests never stream, and this sits in every Context.
    head: Option<Box<Response>>,
    dispatcher: Option<std::task::Waker>,
}

/// How many chunks a streamed response may have in flight before `send` waits for the client.
const STREAM_QUEUE: usize = 4;

/// The error `send` returns once the peer has gone. 499 is nginx's "client closed request".
pub(crate) fn peer_gone() -> Error {
    Error::new(StatusCode::from_u16(499).expect("499 is a valid status"), "the client closed the connection")
}

impl Context {
    pub(crate) fn new(
        head: http::request::Parts,
        packed: Option<PackedHeaders>,
        body: Option<Incoming>,
        params: Vec<(&'static str, Box<str>)>,
        conn: Arc<Conn>,
        endpoint: Option<EndpointId>,
    ) -> Self {
        let app = &conn.app;
        let def = endpoint.map(|id| app.router.endpoint(id).def);
        let io = match def.map(|d| d.kind) {
            Some(RouteKind::Ws) => Io::Ws(crate::ws::WsIo::new(app.ws_config(def.map_or("", |d| d.path)))),
            Some(RouteKind::Sse) => {
                Io::Sse(crate::sse::SseIo::new(&app.config.sse, app.config.write_timeout, &conn))
            }
            _ => Io::Http(HttpIo {
                body: tokio::sync::Mutex::new(body),
                stream: tokio::sync::Mutex::new(Stream::Idle(true)),
                head: Mutex::new(HeadSlot::default()),
                head_state: AtomicU8::new(0),
            }),
        };
        Context {
            inner: Arc::new(Inner {
                head,
                packed,
                params,
                conn,
                endpoint,
                attrs: Mutex::new(Vec::new()),
                response: Mutex::new(None),
                response_set: AtomicBool::new(false),
                io,
            }),
        }
    }

    // ----------------------------------------------------------------- request

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
        match &self.inner.packed {
            None => self.inner.head.headers.get(name)?.to_str().ok(),
            Some(packed) => packed.get(name),
        }
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        match &self.inner.packed {
            None => &self.inner.head.headers,
            Some(packed) => packed.map(),
        }
    }

    /// A path parameter (`{name}` or `{*name}` in the route), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.inner.params.iter().find(|(k, _)| *k == name).map(|(_, v)| &**v)
    }

    /// A path parameter parsed into `T`: a 400 when it does not parse.
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
        Ok(serde_urlencoded::from_str(self.inner.head.uri.query().unwrap_or(""))?)
    }

    /// The address of the client (the TCP peer).
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.conn.peer
    }

    /// The route pattern that matched (`/users/{id}`), if any.
    pub fn route(&self) -> Option<&'static str> {
        self.endpoint().map(|e| e.def.path)
    }

    /// The app this request came to.
    pub(crate) fn app(&self) -> &Arc<Shared> {
        &self.inner.conn.app
    }

    /// The route that matched, with its middleware.
    pub(crate) fn endpoint(&self) -> Option<&Endpoint> {
        self.inner.endpoint.map(|id| self.app().router.endpoint(id))
    }

    // ----------------------------------------------------------------- attributes

    fn attrs(&self) -> MutexGuard<'_, Vec<(Key, Box<dyn Any + Send + Sync>)>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every write is
        // a single push or replace), so poisoning is ignored.
        self.inner.attrs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: Key, value: Box<dyn Any + Send + Sync>) {
        let mut attrs = self.attrs();
        match attrs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => attrs.push((key, value)),
        }
    }

    /// Stores a typed, request-scoped attribute (one per type; a second `set` replaces it).
    /// Middleware uses it to hand values (the authenticated user, ...) to the handler.
    pub fn set<T: Send + Sync + 'static>(&self, value: T) {
        self.put(Key::Type(TypeId::of::<T>()), Box::new(value));
    }

    /// A clone of the attribute of type `T`, if one was set.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        let key = Key::Type(TypeId::of::<T>());
        self.attrs().iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.downcast_ref::<T>()).cloned()
    }

    /// Stores an attribute under a string key (when one type is stored several times).
    pub fn set_named<T: Send + Sync + 'static>(&self, key: impl Into<Cow<'static, str>>, value: T) {
        self.put(Key::Named(key.into()), Box::new(value));
    }

    /// A clone of the attribute stored under `key`, if it exists and is a `T`.
    pub fn get_named<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.attrs()
            .iter()
            .find(|(k, _)| matches!(k, Key::Named(n) if n == key))
            .and_then(|(_, v)| v.downcast_ref::<T>())
            .cloned()
    }

    // ----------------------------------------------------------------- state

    /// The app-wide value of type `T` given to [`App::state`](crate::App::state); a 500 naming
    /// the type when there is none.
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&T> {
        self.app().state::<T>().ok_or_else(|| {
            Error::internal(format!(
                "no app state of type `{}`: add it with App::new().state(value)",
                std::any::type_name::<T>()
            ))
        })
    }

    // ----------------------------------------------------------------- response head

    fn response_parts(&self) -> MutexGuard<'_, Option<Box<ResponseParts>>> {
        self.inner.response.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The response parts, created if nothing was set yet.
    fn response(&self) -> PartsMut<'_> {
        let mut parts = self.response_parts();
        if parts.is_none() {
            *parts = Some(Default::default());
            self.inner.response_set.store(true, Ordering::Release);
        }
        PartsMut(parts)
    }

    /// Sets the response status. It applies when the handler's return value leaves the status
    /// at 200 (a plain body), and to a streamed response; an after-middleware may set it on any
    /// response.
    pub fn set_status(&self, status: StatusCode) {
        self.response().status = Some(status);
    }

    /// Sets (replaces) a response header. An invalid name or value is a 500 when the response
    /// is sent, with a message naming it, rather than a panic here.
    pub fn set_header(&self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                self.response().headers.insert(n, v);
            }
            _ => {
                tracing::error!(header = name, "invalid response header name or value");
                self.response().status = Some(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }

    /// The response status: in an after-middleware, the status of the response being sent;
    /// before that, what [`set_status`](Self::set_status) set (200 if nothing did).
    pub fn response_status(&self) -> StatusCode {
        self.response_parts().as_ref().and_then(|p| p.status).unwrap_or(StatusCode::OK)
    }

    /// A response header: in an after-middleware, of the response being sent.
    pub fn response_header(&self, name: impl http::header::AsHeaderName) -> Option<String> {
        let parts = self.response_parts();
        parts.as_ref()?.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Replaces the response body (in an after-middleware; ignored once streaming began).
    pub fn set_body(&self, body: impl Into<Body>) {
        self.response().body = Some(body.into());
    }

    // ----------------------------------------------------------------- send / recv

    /// Sends to the peer: for HTTP a chunk of a streamed response body (the first call commits
    /// the status and headers, and the handler's return value is then ignored); for a WebSocket
    /// one message; for SSE one event. Fails once the peer has gone.
    pub fn send(&self, item: impl Into<Outbound>) -> impl Future<Output = Result<()>> + Send + '_ {
        let item = item.into();
        match &self.inner.io {
            // A socket's send is a small future that holds only the message: it is part of
            // every socket handler's future, which lives as long as the socket. The others
            // are boxed so that they do not enlarge it.
            Io::Ws(io) => Either::Left(io.send(item)),
            Io::Http(io) => Either::Right(Either::Right(io.send(self, item).boxed())),
            // Queued at once while the stream's queue has room: nothing to box then.
            Io::Sse(io) => Either::Right(match io.send(item) {
                Ok(done) => Either::Left(std::future::ready(done)),
                Err(wait) => Either::Right(wait),
            }),
        }
    }

    /// Receives from the peer: for HTTP the next chunk of the request body (read with
    /// backpressure: nothing more is read from the socket until you ask), for a WebSocket the
    /// next text or binary message. `None` at the end.
    pub fn recv(&self) -> impl Future<Output = Result<Option<Message>>> + Send + '_ {
        match &self.inner.io {
            Io::Ws(io) => Either::Left(io.recv()),
            Io::Http(io) => Either::Right(io.recv(self.app().config.body_read_timeout).boxed()),
            Io::Sse(_) => Either::Right(std::future::ready(Ok(None)).boxed()),
        }
    }

    /// The whole request body, at most the app's body limit (413 over it), read within the
    /// app's [`body_timeout`](crate::app::Config::body_timeout) (408 past it).
    pub async fn body(&self) -> Result<Bytes> {
        let config = &self.app().config;
        let limit = config.max_body;
        let too_large =
            || Error::payload_too_large(format!("the request body is larger than the {limit}-byte limit"));
        let declared = self.header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let within = config.body_timeout;
        tokio::time::timeout(within, self.read_body(limit, too_large)).await.unwrap_or_else(|_| {
            Err(Error::request_timeout(format!(
                "the request body did not arrive within {} s",
                within.as_secs_f64()
            )))
        })
    }

    /// The body, read whole (at most `limit` bytes).
    async fn read_body(&self, limit: usize, too_large: impl Fn() -> Error) -> Result<Bytes> {
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.recv().await? {
            let chunk = chunk.into_bytes();
            let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + chunk.len();
            if len > limit {
                return Err(too_large());
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                prev => {
                    if let Some(prev) = prev {
                        buf.extend_from_slice(&prev);
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    }

    /// The whole request body as UTF-8 text (400 when it is not).
    pub async fn text(&self) -> Result<String> {
        let body = self.body().await?;
        String::from_utf8(body.into()).map_err(|_| Error::bad_request("the request body is not valid UTF-8"))
    }

    /// The request body parsed as JSON: 415 unless the content type is JSON, 413 over the
    /// body limit, 400 with serde's line and column when malformed.
    pub async fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let ct = self.header(CONTENT_TYPE).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !(media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")) {
            return Err(Error::unsupported_media_type(if ct.is_empty() {
                "expected a JSON body: set `content-type: application/json`"
            } else {
                "expected a JSON body: the content type is not `application/json`"
            }));
        }
        let body = self.body().await?;
        Ok(serde_json::from_slice(&body)?)
    }

    // ----------------------------------------------------------------- internals

    /// Moves what the handler said about the response (status, headers) onto `res`.
    pub(crate) fn apply_response_parts(&self, res: &mut Response) {
        if !self.inner.response_set.load(Ordering::Acquire) {
            return;
        }
        let mut parts = self.response_parts();
        let Some(parts) = parts.as_mut() else { return };
        if let Some(status) = parts.status.take() {
            if res.status() == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR {
                *res.status_mut() = status;
            }
        }
        for (name, value) in parts.headers.drain() {
            if let Some(name) = name {
                res.headers_mut().insert(name, value);
            }
        }
    }

    /// Runs the after-middleware on `res`: its head is exposed through the response methods.
    pub(crate) async fn run_after(&self, mut res: Response) -> Response {
        let Some(endpoint) = self.endpoint() else { return res };
        if endpoint.after.is_empty() {
            return res;
        }
        let path = crate::routing::RequestPath::new(self.path());
        if !endpoint.after.iter().any(|s| s.applies(&path)) {
            return res;
        }
        {
            let mut parts = self.response();
            parts.status = Some(res.status());
            parts.headers = std::mem::take(res.headers_mut());
        }
        for step in endpoint.after.iter() {
            if !step.applies(&path) {
                continue;
            }
            let mw = step.mw;
            let r = crate::panic::catch((mw.run)(self.clone()), || format!("after-middleware `{}`", mw.name))
                .await;
            if let Err(e) = r {
                // The response is replaced by the error's, but keeps the headers set so far.
                let headers = std::mem::take(&mut self.response().headers);
                let mut err = crate::IntoResponse::into_response(e);
                err.headers_mut().extend(headers);
                return err;
            }
        }
        let mut parts = self.response();
        *res.status_mut() = parts.status.take().unwrap_or(res.status());
        *res.headers_mut() = std::mem::take(&mut parts.headers);
        if let Some(body) = parts.body.take() {
            *res.body_mut() = body;
        }
        res
    }

    /// Whether the handler streamed its response with `send`.
    pub(crate) async fn streamed(&self) -> Option<mpsc::Sender<Result<Bytes, Error>>> {
        match &self.inner.io {
            Io::Http(io) => match &mut *io.stream.lock().await {
                Stream::Open(tx) => Some(tx.clone()),
                Stream::Idle(_) => None,
            },
            Io::Ws(_) | Io::Sse(_) => None,
        }
    }

    /// Closes a streamed response: drops the sender so the body ends.
    pub(crate) async fn finish_stream(&self) {
        if let Io::Http(io) = &self.inner.io {
            let mut s = io.stream.lock().await;
            if let Stream::Open(_) = &*s {
                *s = Stream::Idle(false);
            }
        }
    }

    fn http_io(&self) -> Option<&HttpIo> {
        match &self.inner.io {
            Io::Http(io) => Some(io),
            _ => None,
        }
    }

    /// A streamed response's head, once the handler's first `send` made it.
    pub(crate) fn poll_head(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Response> {
        let Some(io) = self.http_io() else { return std::task::Poll::Pending };
        let mut slot = io.slot();
        match slot.head.take() {
            Some(head) => std::task::Poll::Ready(*head),
            None => {
                if !slot.dispatcher.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    slot.dispatcher = Some(cx.waker().clone());
                    io.head_state.fetch_or(WAITING, Ordering::AcqRel);
                }
                std::task::Poll::Pending
            }
        }
    }

    /// The head, if a `send` made one.
    pub(crate) fn take_head(&self) -> Option<Response> {
        let io = self.http_io()?;
        if io.head_state.load(Ordering::Acquire) & HANDED == 0 {
            return None;
        }
        io.slot().head.take().map(|h| *h)
    }

    /// Nobody waits for a head any more: a later `send` fails.
    pub(crate) fn abandon_head(&self) {
        let Some(io) = self.http_io() else { return };
        if io.head_state.fetch_or(ABANDONED, Ordering::AcqRel) & (HANDED | WAITING) != 0 {
            let mut slot = io.slot();
            slot.head = None;
            slot.dispatcher = None;
        }
    }

    /// Hands a streamed response's head to the dispatcher.
    fn hand_head(&self, head: Response) -> Result<()> {
        let Some(io) = self.http_io() else { return Err(peer_gone()) };
        let mut slot = io.slot();
        slot.head = Some(Box::new(head));
        // After the head is in: `abandon_head` either comes later (and sees HANDED, and waits
        // for this lock to drop the head), or came before (and this sees ABANDONED).
        if io.head_state.fetch_or(HANDED, Ordering::AcqRel) & ABANDONED != 0 {
            slot.head = None;
            return Err(peer_gone());
        }
        let dispatcher = slot.dispatcher.take();
        drop(slot);
        if let Some(w) = dispatcher {
            w.wake();
        }
        Ok(())
    }

    /// Whether the route has before-middleware.
    pub(crate) fn has_before(&self) -> bool {
        self.endpoint().is_some_and(|e| !e.before.is_empty())
    }

    /// Whether the route has after-middleware.
    pub(crate) fn has_after(&self) -> bool {
        self.endpoint().is_some_and(|e| !e.after.is_empty())
    }

    pub(crate) fn ws_io(&self) -> Option<&crate::ws::WsIo> {
        match &self.inner.io {
            Io::Ws(io) => Some(io),
            _ => None,
        }
    }

    pub(crate) fn sse_io(&self) -> Option<&crate::sse::SseIo> {
        match &self.inner.io {
            Io::Sse(io) => Some(io),
            _ => None,
        }
    }

    /// Completes once the peer has gone: the socket closed, the SSE client left, the streamed
    /// HTTP response's client disconnected. (A plain HTTP handler that has not streamed cannot
    /// tell, and this never completes for it.) Use it to stop work nobody will receive:
    ///
    /// ```ignore
    /// tokio::select! {
    ///     () = ctx.closed() => return Ok(()),
    ///     tick = feed.recv() => ctx.send(tick?).await?,
    /// }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        match &self.inner.io {
            Io::Ws(io) => Either::Left(io.closed()),
            Io::Http(io) => Either::Right(
                async move {
                    let tx = match &*io.stream.lock().await {
                        Stream::Open(tx) => Some(tx.clone()),
                        Stream::Idle(_) => None,
                    };
                    match tx {
                        Some(tx) => tx.closed().await,
                        None => std::future::pending().await,
                    }
                }
                .boxed(),
            ),
            Io::Sse(io) => Either::Right(io.closed().boxed()),
        }
    }

    /// The app's broadcast hub: rooms that any handler can publish to and subscribe to.
    pub fn hub(&self) -> &crate::broadcast::Hub {
        &self.app().hub
    }

    /// The `Last-Event-ID` an SSE client sent when reconnecting, to resume from there.
    pub fn last_event_id(&self) -> Option<&str> {
        self.header("last-event-id")
    }

    // ----------------------------------------------------------------- WebSocket

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    pub fn protocols(&self) -> Vec<&str> {
        let name = http::header::SEC_WEBSOCKET_PROTOCOL;
        let values: Vec<&str> = match &self.inner.packed {
            None => self.inner.head.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect(),
            Some(packed) => packed.get_all(&name),
        };
        values.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|p| !p.is_empty()).collect()
    }

    /// Chooses the WebSocket subprotocol, from a before-middleware of a `#[ws]` route: it must
    /// be one the client offered (a 400 otherwise). Without a choice, the first of
    /// [`WsConfig::protocols`](crate::ws::WsConfig::protocols) that the client offers is used.
    pub fn set_protocol(&self, protocol: &str) -> Result<()> {
        let Some(io) = self.ws_io() else {
            return Err(Error::internal("set_protocol is for #[ws] routes"));
        };
        if !self.protocols().contains(&protocol) {
            return Err(Error::bad_request(format!("the client did not offer the subprotocol `{protocol}`")));
        }
        io.lock().protocol = Some(protocol.into());
        Ok(())
    }

    /// The WebSocket subprotocol in use, if one was chosen.
    pub fn protocol(&self) -> Option<String> {
        self.ws_io().and_then(|io| io.lock().protocol.as_deref().map(str::to_owned))
    }
}

impl HttpIo {
    fn slot(&self) -> MutexGuard<'_, HeadSlot> {
        self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(&self, ctx: &Context, item: Outbound) -> Result<()> {
        let content_type = match &item.0 {
            Out::Text(_) | Out::Shared(_) => "text/plain; charset=utf-8",
            Out::Event { .. } => "text/event-stream",
            Out::Binary(_) | Out::Invalid(_) => "application/octet-stream",
        };
        let chunk = item.into_chunk()?;
        let mut stream = self.stream.lock().await;
        if let Stream::Idle(open) = &mut *stream {
            if !*open {
                return Err(Error::internal(
                    "the response was already sent: `send` must be called before the handler returns",
                ));
            };
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            let mut res = http::Response::new(Body::channel(rx));
            ctx.apply_response_parts(&mut res);
            res.headers_mut().entry(CONTENT_TYPE).or_insert(HeaderValue::from_static(content_type));
            let res = ctx.run_after(res).await;
            ctx.hand_head(res)?;
            *stream = Stream::Open(tx);
        }
        let Stream::Open(tx) = &*stream else { unreachable!("opened above") };
        if chunk.is_empty() {
            return Ok(()); // an empty chunk would read as the end of a chunked body
        }
        // A client that takes nothing for the write timeout has stopped reading: its connection
        // is closed, and the handler hears that the peer is gone.
        let within = ctx.app().config.write_timeout;
        match tokio::time::timeout(within, tx.send(Ok(chunk))).await {
            Ok(sent) => sent.map_err(|_| peer_gone()),
            Err(_) => {
                tracing::debug!(timeout = ?within, "closing the connection of a client that stopped reading");
                ctx.inner.conn.abort();
                Err(peer_gone())
            }
        }
    }

    /// The next chunk of the body, waiting at most `timeout` for it (408 past it: the body is
    /// dropped, and hyper closes the connection after the response).
    async fn recv(&self, timeout: std::time::Duration) -> Result<Option<Message>> {
        let mut body = self.body.lock().await;
        let Some(incoming) = body.as_mut() else { return Ok(None) };
        loop {
            let Ok(frame) = tokio::time::timeout(timeout, incoming.frame()).await else {
                *body = None;
                return Err(Error::request_timeout(format!(
                    "the request body stalled: nothing arrived for {} s",
                    timeout.as_secs_f64()
                )));
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(Message::binary(data)));
                        }
                    }
                }
                Some(Err(e)) => {
                    *body = None;
                    return Err(Error::bad_request("the request body could not be read").with_source(e));
                }
                None => {
                    *body = None;
                    return Ok(None);
                }
            }
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
