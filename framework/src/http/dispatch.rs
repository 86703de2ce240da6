//! An HTTP request from hyper's call of the service to its response head: routing, answers
//! made without a handler (no route, a redirect, a bad handshake), and what every response
//! gets on its way out (an error rendered as the client prefers, HEAD, the log line).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use super::channel::RequestBody;
use http::{header, HeaderValue, Method, StatusCode};

use super::pipeline::Pipeline;
use super::request_id::{request_id, X_REQUEST_ID};
use super::spare::{Kept, Spare};
use crate::context::Context;
use crate::error::Error;
use crate::matcher::Lookup;
use crate::response::{prefers_json, Body, ErrorMark, IntoResponse, KeepAlive, Response};
use crate::routing::catalog;
use crate::runtime::conn::Conn;

/// One request, from the call of the service until its response head is ready: the route's
/// middleware and handler (or an answer made without them), then error rendering, HEAD and the
/// log line.
///
/// Routing is done before (in [`dispatch`]), and this holds only what the rest needs: hyper
/// stores it, and moves it, once per request. One future, rather than the handler's wrapped in
/// adapters, because each adapter moves the response once more on its way out.
pub(crate) struct Answer {
    route: Route,
    is_head: bool,
    /// The request's span and start, when something records spans.
    trace: Option<Box<Trace>>,
}

enum Route {
    Handling(Pipeline),
    /// Answered without a handler (no route, a bad handshake), and already rendered.
    Early(Option<Box<Response>>),
    /// The app behind its tower layers: their answer, which routed the request inside them
    /// (each request's own [`Answer`], rendered there).
    Layered(LayeredAnswer),
}

/// A layered request's answer.
pub(crate) type LayeredAnswer = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

struct Trace {
    span: tracing::Span,
    start: Instant,
    /// The request's id, echoed on the response.
    id: HeaderValue,
}

/// Starts one request, `head` and `body`: routes it and makes its Context (the one the
/// connection keeps in `spare`, if it has one). (The request split by the caller: each move of
/// a request or its head is a copy of a few hundred bytes.)
pub(crate) fn dispatch(
    conn: &Arc<Conn>,
    spare: Option<&Arc<Spare>>,
    mut head: http::request::Parts,
    body: RequestBody,
) -> Answer {
    conn.started.fetch_add(1, Ordering::Relaxed);
    // Without a subscriber no span is made: with `tracing`'s `log` feature (which other crates
    // turn on) a span would otherwise format its fields for `log` on every request.
    let mut trace = tracing::dispatcher::has_been_set()
        .then(|| {
            let span = tracing::info_span!(
                "request",
                method = %head.method,
                path = %head.uri.path(),
                route = tracing::field::Empty,
                request_id = tracing::field::Empty,
                status = tracing::field::Empty,
                latency_us = tracing::field::Empty,
            );
            (!span.is_disabled())
                .then(|| Box::new(Trace { span, start: Instant::now(), id: HeaderValue::from_static("") }))
        })
        .flatten();
    if let Some(t) = &mut trace {
        t.id = request_id(&mut head.headers);
        t.span.record("request_id", t.id.to_str().unwrap_or_default());
    }
    let is_head = head.method == Method::HEAD;
    let start = trace.as_ref().map(|t| t.start);
    // (One call, the head moved once: not a second one inside the span's closure.)
    let entered = trace.as_ref().map(|t| t.span.enter());
    let routed = route(conn, spare, head, body, is_head, start);
    drop(entered);
    let route = match routed {
        Ok(handling) => Route::Handling(handling),
        Err(res) => Route::Early(Some(res)),
    };
    Answer { route, is_head, trace }
}

impl Answer {
    /// The answer of a request to the app behind its tower layers.
    pub(crate) fn layered(answer: LayeredAnswer) -> Answer {
        Answer { route: Route::Layered(answer), is_head: false, trace: None }
    }
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // Each branch finishes its answer where it was made and returns it from there: a
        // response moved out and back in is two copies of it.
        match &mut this.route {
            Route::Early(res) => {
                let mut res = *res.take().expect("a request's future was polled after it completed");
                echo_id(&mut res, this.trace.as_deref());
                Poll::Ready(Ok(res))
            }
            Route::Layered(answer) => answer.as_mut().poll(cx),
            Route::Handling(handling) => {
                let (is_head, trace) = (this.is_head, this.trace.as_deref());
                let _entered = trace.map(|t| t.span.enter());
                handling.poll_finished(cx, |res, ctx| {
                    let json = || prefers_json(ctx.header(header::ACCEPT));
                    render(res, json, is_head, trace.map(|t| t.start));
                    res.body_mut().keep_busy(|| ctx.inner.conn.clone() as KeepAlive);
                    echo_id(res, trace);
                })
            }
        }
    }
}

/// Echoes the request's id (when spans are recorded) on its response.
fn echo_id(res: &mut Response, trace: Option<&Trace>) {
    if let Some(t) = trace {
        res.headers_mut().entry(X_REQUEST_ID).or_insert_with(|| t.id.clone());
    }
}

/// Renders an error as the client prefers (`json`: whether its `Accept` prefers JSON, asked
/// only for an error), applies HEAD, and logs the response. (In place: a response moved in and
/// out is two copies of it.)
fn render(res: &mut Response, json: impl FnOnce() -> bool, is_head: bool, start: Option<Instant>) {
    // (Most responses have no extensions: asking whether there are any costs less than looking
    // for the mark.)
    let mark = if res.extensions().is_empty() { None } else { res.extensions_mut().remove::<ErrorMark>() };
    if let Some(ErrorMark(e)) = mark {
        if e.status().is_server_error() {
            tracing::error!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        if res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
            && json()
        {
            *res.body_mut() = Body::from(e.to_json());
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    if is_head {
        // Keep the length the GET would have had, then drop the body.
        if let Some(len) = http_body::Body::size_hint(res.body()).exact() {
            res.headers_mut().entry(header::CONTENT_LENGTH).or_insert(HeaderValue::from(len));
        }
        *res.body_mut() = Body::empty();
    }
    if let Some(start) = start {
        let span = tracing::Span::current();
        let (status, latency_us) = (res.status().as_u16(), start.elapsed().as_micros() as u64);
        span.record("status", status);
        span.record("latency_us", latency_us);
        // The request log: one line per request at `info` (filter it with the target); the
        // span it is in carries method, path, route, id, status and latency.
        tracing::info!(target: "fratello::request", "answered");
    }
}

/// Finds the route and makes the Context (or makes the connection's `spare` that of this
/// request): the future that runs middleware and handler, or (rendered by [`render`]) the
/// answer when there is none to run: no route, a bad handshake.
fn route(
    conn: &Arc<Conn>,
    spare: Option<&Arc<Spare>>,
    mut head: http::request::Parts,
    body: RequestBody,
    is_head: bool,
    start: Option<Instant>,
) -> Result<Pipeline, Box<Response>> {
    let app = &conn.app;
    let catalog = catalog();
    let (endpoint, params) = match app.matcher.lookup(&head.method, head.uri.path()) {
        Lookup::Found { id, params } => match (id as usize).checked_sub(catalog.len()) {
            None => (catalog.endpoint(id), params),
            // (A mounted service: its endpoint forwards to it.)
            Some(mount) => (catalog.mount(app.mounts[mount].endpoint), params),
        },
        missed => return Err(unrouted(missed, &head, is_head, start)),
    };
    let def = endpoint.def;
    if !def.param_types.is_empty() {
        // A typed parameter that does not parse: the route does not match (404, as for a path
        // no route has: the path names nothing this route serves).
        if let Some(ty) = def.unparsed_param(&params) {
            let msg = format!("no route matches this path (`{}` is not a valid `{}`)", ty.name, ty.type_name);
            return Err(refuse(Error::not_found(msg).into_response(), &head, is_head, start));
        }
    }
    if start.is_some() {
        tracing::Span::current().record("route", def.path);
    }
    let upgrade = match def.kind.check(&mut head, conn, def.path) {
        Ok(upgrade) => upgrade,
        Err(res) => return Err(refuse(res, &head, is_head, start)),
    };
    let packed = def.kind.detach(&mut head, app.config.max_session_header_bytes);
    let (ctx, handler) = match spare.and_then(|s| s.take()) {
        Some(Kept { ctx, handler }) => {
            (ctx.renew(&mut head, packed, params, &def.path, def.kind, body), handler)
        }
        None => {
            let io = def.kind.channel(conn, def.path, body);
            (Context::new(head, packed, params, conn.clone(), Some(&def.path), io), None)
        }
    };
    Ok(Pipeline::new(ctx, endpoint, upgrade, spare.cloned(), handler))
}

/// The answer to a request no route takes (`missed`: what the lookup found instead), rendered.
/// (Out of [`route`]'s way: every request goes through that, few come here.)
#[cold]
#[inline(never)]
fn unrouted(
    missed: Lookup<'_>,
    head: &http::request::Parts,
    is_head: bool,
    start: Option<Instant>,
) -> Box<Response> {
    let res = match missed {
        Lookup::Found { .. } => unreachable!("a found route is routed"),
        Lookup::NotFound => Error::not_found("no route matches this path").into_response(),
        Lookup::MethodNotAllowed(allow) => {
            let mut res = Error::method_not_allowed(format!(
                "{} is not allowed here; allowed: {}",
                head.method,
                allow.to_str().unwrap_or("")
            ))
            .into_response();
            res.headers_mut().insert(header::ALLOW, allow.clone());
            res
        }
        Lookup::BadParam(name) => {
            let msg = format!("path parameter `{name}` is not valid percent-encoded UTF-8");
            Error::bad_request(msg).into_response()
        }
        Lookup::Redirect(to) => {
            let location = match head.uri.query() {
                Some(q) => format!("{to}?{q}"),
                None => to,
            };
            let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
    };
    refuse(res, head, is_head, start)
}

/// `res`, an answer made without a handler to the request of `head`, rendered as the client
/// prefers.
#[cold]
#[inline(never)]
fn refuse(
    res: Response,
    head: &http::request::Parts,
    is_head: bool,
    start: Option<Instant>,
) -> Box<Response> {
    let json = || prefers_json(head.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let mut res = Box::new(res);
    render(&mut res, json, is_head, start);
    res
}
