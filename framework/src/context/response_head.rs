//! The response head as the handler and after-middleware set it: status, headers, body.

use std::sync::atomic::Ordering;

use http::header::HeaderName;
use http::{HeaderValue, StatusCode};
use parking_lot::MutexGuard;

use super::{Context, Settings};
use crate::response::{Body, Response, ResponseParts};

/// The response parts behind their lock, created by `Context::response`.
pub(super) struct PartsMut<'a>(MutexGuard<'a, Settings>);

impl std::ops::Deref for PartsMut<'_> {
    type Target = ResponseParts;
    fn deref(&self) -> &ResponseParts {
        self.0.response.as_deref().expect("created by `Context::response`")
    }
}

impl std::ops::DerefMut for PartsMut<'_> {
    fn deref_mut(&mut self) -> &mut ResponseParts {
        self.0.response.as_deref_mut().expect("created by `Context::response`")
    }
}

impl Context {
    /// The response parts, created if nothing was set yet.
    pub(super) fn response(&self) -> PartsMut<'_> {
        let mut parts = self.settings();
        if parts.response.is_none() {
            parts.response = Some(Default::default());
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
        self.settings().response.as_ref().and_then(|p| p.status).unwrap_or(StatusCode::OK)
    }

    /// A response header: in an after-middleware, of the response being sent.
    pub fn response_header(&self, name: impl http::header::AsHeaderName) -> Option<String> {
        let parts = self.settings();
        parts.response.as_ref()?.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Replaces the response body (in an after-middleware; ignored once streaming began).
    pub fn set_body(&self, body: impl Into<Body>) {
        self.response().body = Some(body.into());
    }

    /// What the handler said about the response (status, headers), moved onto `res`.
    pub(crate) fn apply_response_parts(&self, res: &mut Response) {
        if !self.inner.response_set.load(Ordering::Acquire) {
            return;
        }
        if let Some(parts) = self.settings().response.as_mut() {
            parts.apply(res);
        }
    }

    /// The response parts as a streamed response's head takes them (all of them).
    pub(crate) fn take_response_parts(&self) -> Option<Box<ResponseParts>> {
        if !self.inner.response_set.load(Ordering::Acquire) {
            return None;
        }
        self.settings().response.take()
    }

    /// Exposes `res`'s status and headers to after-middleware, through the response methods.
    pub(crate) fn expose_response(&self, res: &mut Response) {
        let mut parts = self.response();
        parts.status = Some(res.status());
        parts.headers = std::mem::take(res.headers_mut());
    }

    /// Puts what after-middleware made of the exposed head (and body, if set) back on `res`.
    pub(crate) fn restore_response(&self, res: &mut Response) {
        let mut parts = self.response();
        *res.status_mut() = parts.status.take().unwrap_or(res.status());
        *res.headers_mut() = std::mem::take(&mut parts.headers);
        if let Some(body) = parts.body.take() {
            *res.body_mut() = body;
        }
    }

    /// The headers set so far (an after-middleware's error response keeps them).
    pub(crate) fn take_response_headers(&self) -> http::HeaderMap {
        std::mem::take(&mut self.response().headers)
    }
}
