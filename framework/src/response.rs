//! Responses: the [`Body`] type, and [`IntoResponse`] for what a handler may return.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::{Error, Json};

/// The error type of a streamed [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An HTTP response with fratello's [`Body`].
pub type Response = http::Response<Body>;

/// What an HTTP handler's future gives once erased: its response, as the `Result` hyper
/// takes, so that it reaches hyper without being wrapped again on the way (each wrapping is a
/// copy of the response). Nothing makes it an `Err`.
#[doc(hidden)]
pub type Answered = std::result::Result<Response, std::convert::Infallible>;

/// A request or response body: empty, one buffer, a channel fed by `ctx.send`, or any
/// [`http_body::Body`].
pub struct Body(Kind);

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Result<Bytes, Error>>),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>),
    /// A body produced as it is sent that keeps its request in progress itself (see
    /// [`Body::busy_itself`]).
    BusyItself(Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>),
    Chunks(Box<dyn Iterator<Item = Bytes> + Send + 'static>),
    /// A body still produced after its request's future completed, with what it keeps busy
    /// until it ends (see [`Body::keep_busy`]).
    Busy {
        body: Box<Body>,
        _busy: KeepAlive,
    },
}

/// Something a response body holds while it is produced, to say that its request is still in
/// progress (its connection's `Arc`: the connection's watch does not close it as idle then).
pub(crate) type KeepAlive = Arc<dyn std::any::Any + Send + Sync>;

/// What the handler (or, after it, an after-middleware) has said about the response head.
#[derive(Default)]
pub(crate) struct ResponseParts {
    pub(crate) status: Option<StatusCode>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Body>,
}

impl ResponseParts {
    /// Moves what was said (status, headers) onto `res`: the status where the response's is
    /// the default 200 (or to report a failure), every header.
    pub(crate) fn apply(&mut self, res: &mut Response) {
        if let Some(status) = self.status.take() {
            if res.status() == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR {
                *res.status_mut() = status;
            }
        }
        // Each header replaces the response's, but `Set-Cookie` (every cookie set is sent), and
        // every value of a header is kept.
        let mut current: Option<http::HeaderName> = None;
        for (name, value) in self.headers.drain() {
            let first = name.is_some();
            if let Some(name) = name {
                current = Some(name);
            }
            let Some(name) = &current else { continue };
            if first && name != header::SET_COOKIE {
                res.headers_mut().insert(name.clone(), value);
            } else {
                res.headers_mut().append(name.clone(), value);
            }
        }
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body(Kind::Empty)
    }

    /// Wraps any [`http_body::Body`] whose chunks are [`Bytes`], e.g. a generated stream.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt;
        Body(Kind::Boxed(Box::pin(body.map_err(Into::into))))
    }

    /// A body produced as it is sent that holds what keeps its request in progress itself (an
    /// SSE stream's holds its connection), so [`keep_busy`](Self::keep_busy) leaves it as it
    /// is: hyper polls it for every chunk, through one layer less.
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn busy_itself<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static,
    {
        Body(Kind::BusyItself(Box::pin(body)))
    }

    /// A body produced lazily, chunk by chunk, from an iterator (sent chunked): large bodies
    /// are generated as they are sent, never held in memory.
    pub fn chunks<I>(chunks: I) -> Self
    where
        I: IntoIterator<Item = Bytes>,
        I::IntoIter: Send + 'static,
    {
        Body(Kind::Chunks(Box::new(chunks.into_iter())))
    }

    pub(crate) fn channel(rx: mpsc::Receiver<Result<Bytes, Error>>) -> Self {
        Body(Kind::Channel(rx))
    }

    /// Holds what `busy` gives until this body has ended, if it is one that is produced as it
    /// is sent. A body in one buffer is taken by hyper at once and needs nothing: most
    /// responses are answered without this wrapper (and without calling `busy`).
    pub(crate) fn keep_busy(&mut self, busy: impl FnOnce() -> KeepAlive) {
        if let Kind::Channel(_) | Kind::Boxed(_) | Kind::Chunks(_) = self.0 {
            let body = std::mem::take(self);
            self.0 = Kind::Busy { body: Box::new(body), _busy: busy() };
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => write!(f, "Body::Full({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            Kind::Channel(_) => f.write_str("Body::Stream"),
            Kind::Boxed(_) | Kind::BusyItself(_) => f.write_str("Body::Boxed"),
            Kind::Chunks(_) => f.write_str("Body::Chunks"),
            Kind::Busy { body, .. } => body.fmt(f),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    // An empty or whole body is answered here, where hyper's write path can inline it, and an
    // SSE stream's goes straight to its own poll (it is polled for every event); the others
    // (which may hold a body of this type) out of line.
    #[inline]
    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::BusyItself(b) => b.as_mut().poll_frame(cx),
            produced => produced.poll_produced(cx),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::BusyItself(b) => b.is_end_stream(),
            produced => produced.produced_ended(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            produced => produced.produced_size(),
        }
    }
}

/// The next chunk of a channel body. (Out of line, as the next: a body polled through a trait
/// object goes through [`Kind::poll_produced`] for each of its chunks, which then needs to
/// save few registers.)
#[inline(never)]
fn poll_channel(
    rx: &mut mpsc::Receiver<Result<Bytes, Error>>,
    cx: &mut TaskCx<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    match rx.poll_recv(cx) {
        Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
        Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
        Poll::Ready(None) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    }
}

/// The next chunk of a chunks body that is not empty.
#[inline(never)]
fn next_chunk(chunks: &mut Box<dyn Iterator<Item = Bytes> + Send + 'static>) -> Option<Bytes> {
    chunks.find(|b| !b.is_empty())
}

impl Kind {
    /// [`Body::poll_frame`] of a body produced as it is sent.
    #[inline(never)]
    fn poll_produced(&mut self, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self {
            Kind::Empty | Kind::Full(_) | Kind::BusyItself(_) => unreachable!("answered by Body::poll_frame"),
            Kind::Boxed(b) => b.as_mut().poll_frame(cx),
            Kind::Channel(rx) => poll_channel(rx, cx),
            Kind::Chunks(it) => Poll::Ready(next_chunk(it).map(|b| Ok(Frame::data(b)))),
            Kind::Busy { body, .. } => http_body::Body::poll_frame(Pin::new(&mut **body), cx),
        }
    }

    /// [`Body::is_end_stream`] of a body produced as it is sent.
    #[inline(never)]
    fn produced_ended(&self) -> bool {
        match self {
            Kind::Empty | Kind::Full(_) | Kind::BusyItself(_) => {
                unreachable!("answered by Body::is_end_stream")
            }
            Kind::Channel(_) | Kind::Chunks(_) => false,
            Kind::Boxed(b) => b.is_end_stream(),
            Kind::Busy { body, .. } => http_body::Body::is_end_stream(&**body),
        }
    }

    /// [`Body::size_hint`] of a body produced as it is sent.
    #[inline(never)]
    fn produced_size(&self) -> SizeHint {
        match self {
            Kind::Empty | Kind::Full(_) => unreachable!("answered by Body::size_hint"),
            Kind::Channel(_) | Kind::Chunks(_) => SizeHint::default(),
            Kind::Boxed(b) | Kind::BusyItself(b) => b.size_hint(),
            Kind::Busy { body, .. } => http_body::Body::size_hint(&**body),
        }
    }
}

macro_rules! body_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {$(
        impl From<$t> for Body {
            fn from($v: $t) -> Self {
                let b: Bytes = $e;
                if b.is_empty() { Body::empty() } else { Body(Kind::Full(Some(b))) }
            }
        }
    )*};
}
body_from! {
    Bytes => |b| b;
    Vec<u8> => |v| Bytes::from(v);
    String => |s| Bytes::from(s);
    &'static str => |s| Bytes::from_static(s.as_bytes());
    &'static [u8] => |s| Bytes::from_static(s);
    Cow<'static, str> => |s| match s { Cow::Borrowed(s) => Bytes::from_static(s.as_bytes()), Cow::Owned(s) => Bytes::from(s) };
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

/// Anything a handler may return.
///
/// Implemented for text (`&'static str`, `String`), bytes (`Bytes`, `Vec<u8>`), `()`
/// (an empty 200), [`StatusCode`], `(StatusCode, T)`, [`Json<T>`], [`Error`],
/// `Result<T, E>` where `E: Into<Error>`, `Option<T>` (`None` is a 404), a [`Body`] (a 200
/// without a content type: a streamed download, say) and a ready-made [`http::Response`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a fratello HTTP handler",
    label = "this type does not implement `fratello::IntoResponse`",
    note = "return a String, &'static str, Bytes, Vec<u8>, (), StatusCode, (StatusCode, T), Json<T>, \
            Result<T, E: Into<fratello::Error>>, a fratello::Body or an http::Response; or implement IntoResponse for your type"
)]
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

impl<B: Into<Body>> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        self.map(Into::into)
    }
}

fn with_type(body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut res = http::Response::new(body.into());
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";
const JSON: &str = "application/json";

macro_rules! into_response_typed {
    ($($t:ty => $ct:expr;)*) => {$(
        impl IntoResponse for $t {
            fn into_response(self) -> Response {
                with_type(self, $ct)
            }
        }
    )*};
}
into_response_typed! {
    &'static str => TEXT;
    String => TEXT;
    Cow<'static, str> => TEXT;
    Bytes => OCTETS;
    Vec<u8> => OCTETS;
    &'static [u8] => OCTETS;
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        http::Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        http::Response::new(Body::empty())
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = http::Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(v) => with_type(v, JSON),
            Err(e) => {
                Error::internal("the response could not be serialized as JSON").with_source(e).into_response()
            }
        }
    }
}

impl<T: IntoResponse, E: Into<Error>> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into().into_response(),
        }
    }
}

impl<T: IntoResponse> IntoResponse for Option<T> {
    fn into_response(self) -> Response {
        match self {
            Some(v) => v.into_response(),
            None => Error::not_found("not found").into_response(),
        }
    }
}

/// Marks a response built from an [`Error`], so the server can log it and render it as JSON
/// when the client prefers that.
#[derive(Clone)]
pub(crate) struct ErrorMark(pub(crate) Arc<Error>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut res = with_type(self.public_message().into_owned(), TEXT);
        *res.status_mut() = self.status();
        res.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        res.extensions_mut().insert(ErrorMark(Arc::new(self)));
        res
    }
}

/// True when an `Accept` header prefers JSON over plain text or HTML.
pub(crate) fn prefers_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut best: Option<(bool, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let json = media == JSON || media.ends_with("+json");
        let text = media.starts_with("text/");
        if (json || text) && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((json, q));
        }
    }
    best.is_some_and(|(json, q)| json && q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert!(prefers_json(Some("application/json")));
        assert!(prefers_json(Some("application/problem+json, text/plain;q=0.5")));
        assert!(!prefers_json(Some("text/html, application/json;q=0.9")));
        assert!(!prefers_json(Some("*/*")));
        assert!(!prefers_json(None));
    }
}
